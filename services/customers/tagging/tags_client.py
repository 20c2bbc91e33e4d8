"""The tags service as customers calls it: get-or-create tags by name (`POST /tags/ensure`),
and read tags the projection does not know yet (`GET /tags/{id}`, `GET /tags?q=`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from typing import Any, Protocol

import marshmallow as ma
from flask import current_app

from services.customers.tagging.errors import TagNameRefused
from services.customers.tagging.projection import name_key
from shared.app import service_context
from shared.service_client import ServiceClient, ServiceRejected, ServiceUnavailable
from shared.settings import Settings

log = logging.getLogger(__name__)

CREATE_SCOPES = ["tags:write"]
"""`POST /tags/ensure`: all a token for it carries."""
READ_SCOPES = ["customers:read"]
"""`GET /tags/{id}`, `GET /tags`: the tags service reads under `customers:read`."""
NAME_LOOKUP_PAGES = 10
"""Pages of 500 tags whose name contains a name, read at most to find the tag of that name."""


class TagsCatalogue(Protocol):
    """The tag catalogue's owner as customers uses it; the real one is the tags service."""

    def ensure(self, names: list[str]) -> list[dict[str, Any]]:
        """The tags of these names (created when missing), in the order asked."""
        ...

    def fetch(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        """The tags of these ids the tags service knows, by id (loaded); the others absent."""
        ...

    def find_by_name(self, name: str) -> dict[str, Any] | None:
        """The tag of this name (whatever its case) the tags service knows, loaded; or None."""
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


class TagPageSchema(ma.Schema):
    """The answer of `GET /tags`."""

    class Meta:
        unknown = ma.EXCLUDE

    items = ma.fields.List(ma.fields.Nested(EnsuredTagSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)


# The client that reads (GET) is the shared one; the name stays for its callers.
ReadingClient = ServiceClient


class RemoteTagsCatalogue:
    """The tags service over HTTP, with a timeout, retries and a service token per use: one
    that may create tags, one that may only read them."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient(settings, "tags", CREATE_SCOPES)
        self.reader = ReadingClient(settings, "tags", READ_SCOPES)

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

    def fetch(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        """The tags of these ids the tags service knows (`GET /tags/{id}` each), loaded;
        ServiceUnavailable."""
        found: dict[uuid.UUID, dict[str, Any]] = {}
        for tag_id in dict.fromkeys(ids):
            try:
                answer = self.reader.get(f"/tags/{tag_id}")
            except ServiceRejected as exc:
                raise ServiceUnavailable(f"the tags service answered {exc.status}") from exc
            if answer is None:
                continue
            tag = _loaded(EnsuredTagSchema(), answer)
            if tag["id"] != tag_id:
                raise ServiceUnavailable("the tags service answered another tag than asked")
            found[tag_id] = tag
        return found

    def find_by_name(self, name: str) -> dict[str, Any] | None:
        """The tag of this name, from `GET /tags?q=<name>` (pages of 500); ServiceUnavailable."""
        key = name_key(name)
        params: dict[str, Any] = {"q": name, "limit": 500}
        for _ in range(NAME_LOOKUP_PAGES):
            try:
                page = _loaded(TagPageSchema(), self.reader.get("/tags", params))
            except ServiceRejected as exc:
                raise ServiceUnavailable(f"the tags service answered {exc.status}") from exc
            match = next((tag for tag in page["items"] if name_key(tag["name"]) == key), None)
            if match is not None or page["next_cursor"] is None:
                return match
            params = {**params, "cursor": page["next_cursor"]}
        raise ServiceUnavailable("the tags service has too many tags of a similar name")


def _loaded(schema: ma.Schema, answer: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(answer)
    except ma.ValidationError as exc:
        raise ServiceUnavailable("the tags service answered an unexpected body") from exc
    return loaded


def tags_catalogue() -> TagsCatalogue:
    """The tags service client of this app, built on first use and kept with the app."""
    extensions = current_app.extensions
    if "customers.tags_catalogue" not in extensions:
        extensions["customers.tags_catalogue"] = RemoteTagsCatalogue(service_context().settings)
    catalogue: TagsCatalogue = extensions["customers.tags_catalogue"]
    return catalogue


def _refusal_message(body: Any) -> str:
    """The tags service's own words on a refused name, as precise as it gave them."""
    if isinstance(body, dict):
        errors = body.get("errors", {}).get("json", {})
        if isinstance(errors, dict) and errors.get("names"):
            return f"the tags service refused the name: {errors['names']}"
        if body.get("message"):
            return f"the tags service refused the name: {body['message']}"
    return "the tags service refused the name"
