"""The refusals of the automation use cases; the API turns each into its HTTP answer."""

from __future__ import annotations

from typing import Any

from shared.api import Refusal


class AutomationError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class RuleNotFound(AutomationError):
    """No rule has this id."""

    status = 404

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no rule has the id {rule_id!r}")


class BuiltinRuleProtected(AutomationError):
    """Built-in rules can be switched on and off, nothing else."""

    status = 409


class InvalidRule(AutomationError):
    """The rule does not follow the grammar, or names a status or tag that does not exist."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("the rule is not valid")
        self.errors = errors

    def field_errors(self) -> dict[str, Any]:
        return {self.location: self.errors}


class InvalidEvents(AutomationError):
    """Events posted to the HTTP door that are not valid external events (none is accepted)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid events; none was accepted")
        self.errors = errors

    def field_errors(self) -> dict[str, Any]:
        return {self.location: self.errors}
