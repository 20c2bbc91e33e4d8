"""Locale codes and the language fallback: the customer's, its base language, the default.

Codes arrive as people and systems write them (`fr-BE`, `fr_be`, `FR`); they are compared in
one form (`fr_BE`). The fallback goes from a locale to its base language (`fr_BE` -> `fr`) and
then to the default language, never sideways to a sibling (`en` never gets `en_ZA`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

_CODE = re.compile(
    r"^(?P<language>[A-Za-z]{2,3})"
    r"(?:[-_](?P<script>[A-Za-z]{4}))?"
    r"(?:[-_](?P<region>[A-Za-z]{2}|[0-9]{3}))?$"
)

EXACT, BASE, DEFAULT, DEFAULT_BASE = "exact", "base", "default", "default_base"


def normalize(code: str | None) -> str | None:
    """A locale code in the suite's one form (`fr_BE`, `zh_Hant_TW`), or None if malformed."""
    if code is None:
        return None
    match = _CODE.match(code.strip())
    if match is None:
        return None
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "_".join(parts)


def base_of(code: str) -> str:
    """The base language of a normalized code (`fr_BE` -> `fr`)."""
    return code.split("_", 1)[0]


@dataclass(frozen=True)
class Choice:
    """The language a template was found in and how far the fallback went to find it."""

    language: str
    fallback: str


@functools.lru_cache(maxsize=1024)
def candidates(requested: str | None, default: str) -> tuple[tuple[str, str], ...]:
    """The languages to try, in order, each with the fallback step it stands for (worked out
    once per pair: every email asks, and customers share a few languages)."""
    steps: list[tuple[str, str]] = []
    wanted = normalize(requested)
    if wanted is not None:
        steps.append((wanted, EXACT))
        if base_of(wanted) != wanted:
            steps.append((base_of(wanted), BASE))
    default_code = normalize(default) or "en"
    steps.append((default_code, DEFAULT))
    if base_of(default_code) != default_code:
        steps.append((base_of(default_code), DEFAULT_BASE))
    unique: dict[str, str] = {}
    for code, step in steps:
        unique.setdefault(code, step)
    return tuple(unique.items())


def choose(requested: str | None, default: str, available: set[str]) -> Choice | None:
    """The first language of the fallback that has a template, or None when none has."""
    for code, step in candidates(requested, default):
        if code in available:
            return Choice(code, step)
    return None


@functools.lru_cache(maxsize=512)
def babel_locale(code: str, default: str = "en") -> Locale:
    """Babel's locale for a code (its base, then `default`, when Babel does not know it);
    parsed once per code (three renders an email each asked for it)."""
    for candidate in (code, base_of(code), default, "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")
