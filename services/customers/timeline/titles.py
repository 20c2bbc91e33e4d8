"""The human title of a timeline entry, in the customer's language (French and English)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"

Render = Callable[[Mapping[str, Any]], str]

# Per type and language: a format string over the entry's details (missing keys read "").
TITLES: dict[str, dict[str, str]] = {
    "customer.created": {"en": "Customer created", "fr": "Client créé"},
    "customer.tagged": {"en": "Tag {tag_name} added", "fr": "Étiquette {tag_name} ajoutée"},
    "customer.untagged": {
        "en": "Tag {tag_name} removed",
        "fr": "Étiquette {tag_name} retirée",
    },
    "customer.status_changed": {
        "en": "Status changed from {from_} to {to} ({reason})",
        "fr": "Statut changé de {from_} à {to} ({reason})",
    },
    "customer.merged": {
        "en": "Duplicate profile {duplicate_id} merged in",
        "fr": "Profil en double {duplicate_id} fusionné",
    },
    "registration.submitted": {"en": "Signed up", "fr": "Inscription"},
    "registration.approved": {"en": "Registration approved", "fr": "Inscription approuvée"},
    "registration.rejected": {"en": "Registration rejected", "fr": "Inscription refusée"},
    "account.activated": {"en": "Account activated", "fr": "Compte activé"},
    "device.confirmed": {
        "en": "Logged in from a new device",
        "fr": "Connexion depuis un nouvel appareil",
    },
    "account.impersonated": {
        "en": "Logged in as the customer by {actor}: {reason}",
        "fr": "Connexion en tant que client par {actor} : {reason}",
    },
    "notification.sent": {"en": "Email sent: {subject}", "fr": "E-mail envoyé : {subject}"},
    "billing.purchase.completed": {
        "en": "Purchase {order_reference}: {amount} {currency}",
        "fr": "Achat {order_reference} : {amount} {currency}",
    },
    "billing.invoice.issued": {
        "en": "Invoice {invoice_number} issued: {amount} {currency}",
        "fr": "Facture {invoice_number} émise : {amount} {currency}",
    },
    "billing.payment.recorded": {
        "en": "Payment recorded: {amount} {currency}",
        "fr": "Paiement enregistré : {amount} {currency}",
    },
    "scheduling.appointment.completed": {
        "en": "Appointment completed",
        "fr": "Rendez-vous effectué",
    },
    "support.request.created": {
        "en": "Support request opened",
        "fr": "Demande d'assistance ouverte",
    },
    "marketing.email.opened": {
        "en": "Opened the email of campaign {campaign}",
        "fr": "A ouvert l'e-mail de la campagne {campaign}",
    },
    "marketing.email.clicked": {
        "en": "Clicked the email of campaign {campaign}",
        "fr": "A cliqué dans l'e-mail de la campagne {campaign}",
    },
}
# Where the event names one, its own title follows (`Appointment completed: Yoga`).
TITLED = ("scheduling.appointment.completed", "support.request.created")
GROUP_EVENT = {"en": "Group event attended", "fr": "Événement de groupe suivi"}
NONE = {"en": "none", "fr": "aucun"}


class _Details(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def language_of(customer_language: str | None) -> str:
    """The title language for a customer's language tag (`fr`, `fr-CA`, `en_GB`...)."""
    if not customer_language:
        return DEFAULT_LANGUAGE
    primary = customer_language.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def title_of(event_type: str, details: Mapping[str, Any], language: str) -> str:
    """An event entry's title in `language` (one of LANGUAGES)."""
    templates = TITLES.get(event_type)
    if templates is None:
        return event_type
    values = _Details({k: v for k, v in details.items() if v is not None})
    if event_type == "customer.status_changed" and details.get("from_") is None:
        values["from_"] = NONE[language]
    template = templates[language]
    if event_type == "scheduling.appointment.completed" and details.get("kind") == "group_event":
        template = GROUP_EVENT[language]
    title = template.format_map(values)
    if event_type in TITLED and details.get("title"):
        title = (
            f"{title} : {details['title']}" if language == "fr" else f"{title}: {details['title']}"
        )
    return title
