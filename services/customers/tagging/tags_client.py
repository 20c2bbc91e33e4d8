"""The tags service as customers calls it: get-or-create tags by name (`POST /tags/ensure`)."""

from __future__ import annotations

from typing import Any, Protocol

import marshmallow as ma

from services.customers.tagging.errors import TagNameRefused
from shared.service_client import ServiceClient, ServiceRejected, ServiceUnavailable
from shared.settings import Settings

SCOPES = ["tags:write", "customers:read"]


class TagsCatalogue(Protocol):
    """Where tags are created on the fly; the real one is the tags service."""

    def ensure(self, names: list[str]) -> list[dict[str, Any]]:
        """The tags of these names (created when missing), in the order asked."""
        ...


class EnsuredTagSchema(ma.Schema):
    """What customers reads of a tag the tags service answers (the rest is ignored)."""

    class Meta:
        unknown = ma.EXCLUDE

    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    color = ma.fields.String(required=True)
    order = ma.fields.Integer(required=True, allow_none=True)
    is_fixed = ma.fields.Boolean(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class EnsureAnswerSchema(ma.Schema):
    """The answer of `POST /tags/ensure`."""

    class Meta:
        unknown = ma.EXCLUDE

    items = ma.fields.List(ma.fields.Nested(EnsuredTagSchema), required=True)


class RemoteTagsCatalogue:
    """The tags service over HTTP, with a timeout, retries and a service token."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient(settings, "tags", SCOPES)

    def ensure(self, names: list[str]) -> list[dict[str, Any]]:
        """The tags of these names; ServiceUnavailable (503) or TagNameRefused (422)."""
        try:
            answer = self.client.post("/tags/ensure", {"names": names})
        except ServiceRejected as exc:
            raise TagNameRefused(_refusal_message(exc.body)) from exc
        try:
            items: list[dict[str, Any]] = EnsureAnswerSchema().load(answer)["items"]
        except ma.ValidationError as exc:
            raise ServiceUnavailable("the tags service answered an unexpected body") from exc
        if len(items) != len(names):
            raise ServiceUnavailable("the tags service did not answer every name asked")
        return items


def _refusal_message(body: Any) -> str:
    """The tags service's own words on a refused name, as precise as it gave them."""
    if isinstance(body, dict):
        errors = body.get("errors", {}).get("json", {})
        if isinstance(errors, dict) and errors.get("names"):
            return f"the tags service refused the name: {errors['names']}"
        if body.get("message"):
            return f"the tags service refused the name: {body['message']}"
    return "the tags service refused the name"
