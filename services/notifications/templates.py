"""Templates per key and language: staff's saved ones over the shipped ones, the fallback, the
checks a template passes before it is saved, and rendering an email's parts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from services.notifications import defaults, languages
from services.notifications.errors import (
    InvalidLanguage,
    InvalidTemplate,
    TemplateNotFound,
    UnknownKey,
)
from services.notifications.models import Template
from services.notifications.rendering import (
    RenderError,
    RenderLimits,
    TemplateCache,
    compile_template,
    render,
    unknown_variables,
)
from shared.db import UnitOfWork, utcnow

PARTS = ("subject", "body_text", "body_html")
_STATUS_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class TemplateView:
    """A template as the API answers it: saved by staff, or shipped (`is_predefined`)."""

    key: str
    language: str
    subject: str
    body_text: str
    body_html: str
    is_predefined: bool
    version: int
    updated_at: Any = None


def check_key(key: str) -> str:
    """The key if the contract has it; UnknownKey otherwise."""
    if key in defaults.FIXED_KEYS:
        return key
    family = defaults.family_of(key)
    rest = key[len(family) + 1 :]
    if family == defaults.TAG_FAMILY:
        try:
            if str(uuid.UUID(rest)) == rest.lower():
                return f"{family}.{rest.lower()}"
        except ValueError:
            pass
    if family == defaults.STATUS_FAMILY and _STATUS_KEY.match(rest):
        return key
    raise UnknownKey(
        f"no template key {key!r}: one of {', '.join(defaults.FIXED_KEYS)}, "
        "tag.applied.<tag id> or status.changed.<status>"
    )


def check_language(language: str) -> str:
    """The language in its normalized form; InvalidLanguage when it is no locale code."""
    code = languages.normalize(language)
    if code is None:
        raise InvalidLanguage(f"{language!r} is not a language code such as fr, fr_BE or en")
    return code


def _view(row: Template) -> TemplateView:
    return TemplateView(
        row.key,
        row.language,
        row.subject,
        row.body_text,
        row.body_html,
        False,
        row.version,
        row.updated_at,
    )


def _shipped_view(key: str, language: str) -> TemplateView | None:
    shipped = defaults.shipped(key, language)
    if shipped is None:
        return None
    return TemplateView(
        key, language, shipped.subject, shipped.body_text, shipped.body_html, True, 0
    )


# --- reads --------------------------------------------------------------------------------------
def get_template(sessions: sessionmaker[Session], key: str, language: str) -> TemplateView:
    """The template of a key in exactly this language: staff's, else the shipped one."""
    key, language = check_key(key), check_language(language)
    with sessions() as session:
        row = session.get(Template, (key, language))
    if row is not None:
        return _view(row)
    view = _shipped_view(key, language)
    if view is None:
        raise TemplateNotFound(f"no template {key} in {language}")
    return view


def list_templates(sessions: sessionmaker[Session], key: str | None) -> list[TemplateView]:
    """Every template in effect (saved ones over shipped ones), by key and language."""
    statement = select(Template)
    if key is not None:
        statement = statement.where(Template.key == key)
    with sessions() as session:
        saved = {(row.key, row.language): _view(row) for row in session.scalars(statement)}
    views = dict(saved)
    for fixed in defaults.FIXED_KEYS:
        if key is not None and fixed != key:
            continue
        for language in defaults.shipped_languages(fixed):
            view = _shipped_view(fixed, language)
            if view is not None:
                views.setdefault((fixed, language), view)
    return [views[position] for position in sorted(views)]


# --- writes -------------------------------------------------------------------------------------
Precondition = Callable[[TemplateView], None]


def save_template(
    uow: UnitOfWork,
    key: str,
    language: str,
    parts: Mapping[str, str],
    limits: RenderLimits,
    precondition: Precondition,
) -> TemplateView:
    """Save staff's template of a key and language, once every part passes `check_template`."""
    key, language = check_key(key), check_language(language)
    check_template(key, parts, limits)
    with uow:
        row = uow.session.get(Template, (key, language), with_for_update=True)
        current = _view(row) if row is not None else _shipped_view(key, language)
        if current is not None:
            precondition(current)
        if row is None:
            row = Template(key=key, language=language, version=0)
            uow.session.add(row)
        row.subject, row.body_text, row.body_html = (parts[part] for part in PARTS)
        row.version = (current.version if current is not None else 0) + 1
        row.updated_at = utcnow()
        uow.commit()
        return _view(row)


def restore_template(uow: UnitOfWork, key: str, language: str, precondition: Precondition) -> None:
    """Drop staff's template of a key and language: the shipped one applies again."""
    key, language = check_key(key), check_language(language)
    with uow:
        row = uow.session.get(Template, (key, language), with_for_update=True)
        if row is not None:
            precondition(_view(row))
            uow.session.execute(
                delete(Template).where(Template.key == key, Template.language == language)
            )
        uow.commit()


def check_template(key: str, parts: Mapping[str, str], limits: RenderLimits) -> None:
    """InvalidTemplate naming each part that does not compile, uses a variable its key is not
    given, or cannot render the sample values within the limits (sandbox refusals included)."""
    allowed = set(defaults.VARIABLES[defaults.family_of(key)])
    samples = {name: defaults.SAMPLES[name] for name in allowed}
    errors: dict[str, list[str]] = {}
    for part in PARTS:
        try:
            compiled = compile_template(parts[part], html=part == "body_html")
            unknown = unknown_variables(parts[part], allowed)
            if unknown:
                errors[part] = [
                    f"line {line}: unknown variable {name!r} (this key is given "
                    f"{', '.join(sorted(allowed))})"
                    for name, line in unknown
                ]
                continue
            render(compiled, samples, "en", limits)
        except RenderError as exc:
            errors[part] = [str(exc)]
    if errors:
        raise InvalidTemplate(errors)


# --- rendering an email -------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """An email's parts in the language chosen, and how far the fallback went to it."""

    language: str
    fallback: str
    subject: str
    body_text: str
    body_html: str


class TemplateResolver:
    """Finds the template of a key for a customer's language and renders it, compiled once
    per template version."""

    def __init__(self, limits: RenderLimits, cache: TemplateCache | None = None) -> None:
        self.limits = limits
        self.cache = cache or TemplateCache()

    def available(self, session: Session, key: str) -> dict[str, tuple[int, Template | None]]:
        """Language -> (version, saved row or None for shipped) for a key.

        A `tag.applied.<id>` or `status.changed.<status>` key has templates only once staff
        saved one for it (in any language); its family's shipped texts then complete it.
        """
        return self.available_many(session, {key})[key]

    def available_many(
        self, session: Session, keys: set[str]
    ) -> dict[str, dict[str, tuple[int, Template | None]]]:
        """`available` of each of `keys`, read in one query."""
        saved: dict[str, dict[str, tuple[int, Template | None]]] = {key: {} for key in keys}
        for row in session.scalars(select(Template).where(Template.key.in_(sorted(keys)))):
            saved[row.key][row.language] = (row.version, row)
        for key, languages_saved in saved.items():
            if key in defaults.FIXED_KEYS or languages_saved:
                for language in defaults.shipped_languages(key):
                    languages_saved.setdefault(language, (0, None))
        return saved

    def render(
        self,
        session: Session | None,
        key: str,
        requested: str | None,
        default_language: str,
        variables: Mapping[str, Any],
        available: dict[str, tuple[int, Template | None]] | None = None,
    ) -> Rendered | None:
        """The email of `key` for a customer whose language is `requested`, or None when the
        key has no template in any language of the fallback. RenderError when it fails.
        `available` is the key's `available(session, key)` when the caller already has it."""
        if available is None:
            assert session is not None
            available = self.available(session, key)
        choice = languages.choose(requested, default_language, set(available))
        if choice is None:
            return None
        version, row = available[choice.language]
        if row is not None:
            sources = {part: getattr(row, part) for part in PARTS}
        else:
            shipped = defaults.shipped(key, choice.language)
            assert shipped is not None
            sources = {part: getattr(shipped, part) for part in PARTS}
        identity = (defaults.family_of(key) if row is None else key, choice.language, version)
        rendered = {
            part: self.cache.render(
                (*identity, part),
                sources[part],
                part == "body_html",
                variables,
                choice.language,
                self.limits,
            )
            for part in PARTS
        }
        return Rendered(choice.language, choice.fallback, **rendered)
