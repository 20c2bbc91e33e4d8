"""The templates shipped with the service, in French, English and Italian, and what each key
is given to render.

A template staff saved replaces the shipped text of its key and language; deleting it brings the
shipped text back. `tag.applied.<tag id>` and `status.changed.<status>` start from the shipped
text of their family (`tag.applied`, `status.changed`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

SHIPPED_LANGUAGES = ("fr", "en", "it")
DEFAULT_LANGUAGE = "en"

TAG_FAMILY, STATUS_FAMILY = "tag.applied", "status.changed"
FAMILIES = (TAG_FAMILY, STATUS_FAMILY)

ADMIN_KEYS = frozenset({"registration.pending_approval"})
"""Keys whose email goes to the settings' `admin_emails`, not to the customer."""
CONSENT_FAMILIES = frozenset(FAMILIES)
"""Families whose emails go only to customers with `email_consent` (the others are
transactional: asked for, or about the customer's own account)."""

_COMMON = frozenset({"customer", "event_time"})
VARIABLES: dict[str, frozenset[str]] = {
    "registration.received": _COMMON,
    "registration.email_confirmation": _COMMON | {"link"},
    "registration.approved": _COMMON,
    "registration.rejected": _COMMON | {"reason"},
    "registration.pending_approval": _COMMON,
    "account.activated": _COMMON,
    "account.credentials": _COMMON | {"login", "password"},
    "device.confirmation": _COMMON | {"link", "device_id"},
    TAG_FAMILY: _COMMON | {"tag"},
    STATUS_FAMILY: _COMMON | {"status"},
}
"""What each key (or family) is given; a template using anything else is refused when saved."""

FIXED_KEYS = tuple(key for key in VARIABLES if key not in FAMILIES)


def family_of(key: str) -> str:
    """The key itself, or its family for `tag.applied.<id>` and `status.changed.<status>`."""
    for family in FAMILIES:
        if key.startswith(family + "."):
            return family
    return key


SAMPLE_CUSTOMER = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company_name": "Analytical Engines",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
}
SAMPLES: dict[str, object] = {
    "customer": SAMPLE_CUSTOMER,
    "event_time": "2026-01-15T10:30:00+00:00",
    "link": "https://example.com/confirm?token=sample",
    "reason": "incomplete information",
    "login": "ada@example.com",
    "password": "sample-password",
    "device_id": "device-1",
    "tag": {"id": "00000000-0000-0000-0000-000000000000", "name": "VIP"},
    "status": {"from": "prospect", "to": "active"},
}
"""Values every variable gets when a template is checked before it is saved."""


@dataclass(frozen=True)
class ShippedTemplate:
    subject: str
    body_text: str
    body_html: str


_LINK = re.compile(r"\{\{ link \}\}")


def _html_of(text: str) -> str:
    """The HTML body of a shipped text body: one paragraph per block, the link clickable."""
    paragraphs = []
    for block in text.strip().split("\n\n"):
        escaped = html.escape(block, quote=False).replace("\n", "<br>\n")
        paragraphs.append(
            "<p>" + _LINK.sub('<a href="{{ link }}">{{ link }}</a>', escaped) + "</p>"
        )
    return "<!doctype html>\n<html><body>\n" + "\n".join(paragraphs) + "\n</body></html>\n"


_HELLO = {
    "fr": "Bonjour {{ customer.name }},",
    "en": "Hello {{ customer.name }},",
    "it": "Gentile {{ customer.name }},",
}
_BYE = {"fr": "À bientôt.", "en": "Best regards.", "it": "A presto."}

_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "registration.received": {
        "fr": ("Nous avons bien reçu votre inscription",
               "Nous avons bien reçu votre inscription. Nous revenons vers vous très vite."),
        "en": ("We received your sign-up",
               "We received your sign-up. We will get back to you shortly."),
        "it": ("Abbiamo ricevuto la tua iscrizione",
               "Abbiamo ricevuto la tua iscrizione. Ti ricontatteremo a breve."),
    },
    "registration.email_confirmation": {
        "fr": ("Confirmez votre adresse e-mail",
               "Pour confirmer votre adresse e-mail, ouvrez ce lien :\n{{ link }}"),
        "en": ("Confirm your email address",
               "To confirm your email address, open this link:\n{{ link }}"),
        "it": ("Conferma il tuo indirizzo e-mail",
               "Per confermare il tuo indirizzo e-mail, apri questo link:\n{{ link }}"),
    },
    "registration.approved": {
        "fr": ("Votre inscription est acceptée",
               "Bonne nouvelle : votre inscription a été acceptée. Vous pouvez vous connecter."),
        "en": ("Your sign-up is approved",
               "Good news: your sign-up has been approved. You can now log in."),
        "it": ("La tua iscrizione è stata approvata",
               "Buone notizie: la tua iscrizione è stata approvata. Ora puoi accedere."),
    },
    "registration.rejected": {
        "fr": ("Votre inscription n'a pas été acceptée",
               "Votre inscription n'a pas été acceptée{% if reason %} : {{ reason }}{% endif %}."),
        "en": ("Your sign-up was not approved",
               "Your sign-up was not approved{% if reason %}: {{ reason }}{% endif %}."),
        "it": ("La tua iscrizione non è stata approvata",
               "La tua iscrizione non è stata approvata{% if reason %}: {{ reason }}{% endif %}."),
    },
    "registration.pending_approval": {
        "fr": ("Nouvelle inscription à approuver : {{ customer.name }}",
               "{{ customer.name }} ({{ customer.email }}) s'est inscrit le "
               "{{ event_time|date }} et attend votre approbation."),
        "en": ("New sign-up awaiting approval: {{ customer.name }}",
               "{{ customer.name }} ({{ customer.email }}) signed up on "
               "{{ event_time|date }} and awaits your approval."),
        "it": ("Nuova iscrizione da approvare: {{ customer.name }}",
               "{{ customer.name }} ({{ customer.email }}) si è iscritto il "
               "{{ event_time|date }} e attende la tua approvazione."),
    },
    "account.activated": {
        "fr": ("Votre compte est activé", "Votre compte est activé. Bienvenue !"),
        "en": ("Your account is active", "Your account is now active. Welcome!"),
        "it": ("Il tuo account è attivo", "Il tuo account è ora attivo. Benvenuto!"),
    },
    "account.credentials": {
        "fr": ("Vos identifiants de connexion",
               "Identifiant : {{ login }}\nMot de passe : {{ password }}\n\n"
               "Vous devrez le changer à votre première connexion."),
        "en": ("Your login details",
               "Login: {{ login }}\nPassword: {{ password }}\n\n"
               "You will be asked to change it when you first log in."),
        "it": ("Le tue credenziali di accesso",
               "Utente: {{ login }}\nPassword: {{ password }}\n\n"
               "Ti verrà chiesto di cambiarla al primo accesso."),
    },
    "device.confirmation": {
        "fr": ("Confirmez votre nouvel appareil",
               "Une connexion depuis un nouvel appareil a été demandée. Pour la confirmer, "
               "ouvrez ce lien :\n{{ link }}\n\nSi ce n'était pas vous, ignorez ce message."),
        "en": ("Confirm your new device",
               "A login from a new device was requested. To confirm it, open this link:\n"
               "{{ link }}\n\nIf this was not you, ignore this message."),
        "it": ("Conferma il tuo nuovo dispositivo",
               "È stato richiesto un accesso da un nuovo dispositivo. Per confermarlo, "
               "apri questo link:\n{{ link }}\n\nSe non sei stato tu, ignora questo messaggio."),
    },
    TAG_FAMILY: {
        "fr": ("{{ tag.name }}", "Vous faites désormais partie de « {{ tag.name }} »."),
        "en": ("{{ tag.name }}", "You are now part of \u201c{{ tag.name }}\u201d."),
        "it": ("{{ tag.name }}", "Ora fai parte di \u00ab{{ tag.name }}\u00bb."),
    },
    STATUS_FAMILY: {
        "fr": ("Votre statut a changé", "Votre statut est désormais : {{ status.to }}."),
        "en": ("Your status has changed", "Your status is now: {{ status.to }}."),
        "it": ("Il tuo stato è cambiato", "Il tuo stato ora è: {{ status.to }}."),
    },
}  # fmt: skip


def _shipped(family: str, language: str) -> ShippedTemplate:
    subject, body = _TEXTS[family][language]
    if family in ADMIN_KEYS:
        text = f"{body}\n"
    else:
        text = f"{_HELLO[language]}\n\n{body}\n\n{_BYE[language]}\n"
    return ShippedTemplate(subject, text, _html_of(text))


SHIPPED: dict[tuple[str, str], ShippedTemplate] = {
    (family, language): _shipped(family, language)
    for family, texts in _TEXTS.items()
    for language in texts
}
"""(key or family, language) -> the shipped template."""


def shipped(key: str, language: str) -> ShippedTemplate | None:
    """The shipped template of a key (its family's) in a language, if there is one."""
    return SHIPPED.get((family_of(key), language))


def shipped_languages(key: str) -> set[str]:
    """The languages a key has a shipped template in."""
    family = family_of(key)
    return {language for (name, language) in SHIPPED if name == family}
