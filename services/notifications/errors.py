"""The refusals of the notifications use cases; the API turns each into its HTTP answer."""

from __future__ import annotations

from shared.api import Refusal


class NotificationsError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class UnknownKey(NotificationsError):
    """The key is none of the contract's (nor `tag.applied.<tag id>`, `status.changed.<key>`)."""

    status, location, field = 404, "path", "key"


class InvalidLanguage(NotificationsError):
    """The language is not a locale code."""

    location, field = "path", "language"


class TemplateNotFound(NotificationsError):
    """Neither staff nor the shipped templates have this key in this language."""

    status = 404


class InvalidTemplate(NotificationsError):
    """A part of the template does not compile, uses an unknown variable, or breaks a limit."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("the template is invalid")
        self.errors = errors

    def field_errors(self) -> dict[str, dict[str, list[str]]]:
        return {"json": self.errors}
