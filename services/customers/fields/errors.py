"""The refusals of custom fields; the API turns each into its HTTP answer."""

from __future__ import annotations

from shared.api import Refusal


class FieldNotFound(Refusal, LookupError):
    """No custom field has this key (404)."""

    status = 404

    def __init__(self, key: str) -> None:
        super().__init__(f"no custom field has the key {key!r}")


class FieldKeyTaken(Refusal, ValueError):
    """A custom field with this key exists already (409)."""

    status, field = 409, "key"

    def __init__(self, key: str) -> None:
        super().__init__(f"a custom field with the key {key!r} exists already")


class InvalidDefinition(Refusal, ValueError):
    """A definition whose parts do not fit together (options without a choice, say) (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ValuesInTheWay(Refusal, ValueError):
    """A change of type, options or kinds that values customers hold cannot take (409)."""

    status = 409

    def __init__(self, key: str, count: int) -> None:
        customers = "customer holds a value" if count == 1 else "customers hold values"
        super().__init__(
            f"{count} {customers} of {key!r} that the new definition cannot take; change or"
            " remove them first (the list finds them with cf." + key + "=<value>)"
        )
        self.count = count


class UnknownCustomFieldFilter(Refusal, ValueError):
    """A `cf.<key>` list parameter naming no custom field, or a value its type cannot take."""

    location = "query"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.field = f"cf.{key}"

    def in_body(self, prefix: str) -> UnknownCustomFieldFilter:
        """The same refusal about a filter in a request body (a segment's), under `prefix`."""
        refusal = UnknownCustomFieldFilter(self.key, str(self))
        refusal.location, refusal.field = "json", f"{prefix}.cf.{self.key}"
        return refusal
