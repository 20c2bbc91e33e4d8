"""What automation asks the owners when its projections do not know an id yet (read your
writes): customers for a customer's state and a status key, tags for a tag id."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection
from typing import Any, Protocol
from urllib.parse import quote

import marshmallow as ma

from services.automation.rules.grammar import PROFILE_FIELDS

# `ReadingClient` is `ServiceClient` with a GET; its own docstring says it moves to shared/.
from services.customers.tagging.tags_client import ReadingClient
from shared.service_client import ServiceRejected, ServiceUnavailable
from shared.settings import Settings

READ_SCOPES = ["customers:read"]


class Directory(Protocol):
    """The owners of what automation projects, as it asks them."""

    def customer(self, customer_id: uuid.UUID) -> dict[str, Any] | None:
        """The customer's state (`status`, `kind`, `tag_ids`, `customer`), None when unknown;
        ServiceUnavailable."""
        ...

    def status_exists(self, key: str) -> bool:
        """Whether customers has this status; ServiceUnavailable."""
        ...

    def tags(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the tags of these ids the tags service knows; ServiceUnavailable."""
        ...


class _CustomerAnswer(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    tags = ma.fields.List(ma.fields.Dict(), load_default=list)


class _TagAnswer(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)


class RemoteDirectory:
    """Customers and tags over HTTP (service tokens for `customers:read`), built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, ReadingClient] = {}
        self._lock = threading.Lock()

    def _client(self, target: str) -> ReadingClient:
        with self._lock:
            if target not in self._clients:
                try:
                    self._clients[target] = ReadingClient(self.settings, target, READ_SCOPES)
                except ValueError as exc:  # the suite does not let automation call it
                    raise ServiceUnavailable(f"automation may not call {target}: {exc}") from exc
            return self._clients[target]

    def _get(self, target: str, path: str) -> Any:
        try:
            return self._client(target).get(path)
        except ServiceRejected as exc:
            raise ServiceUnavailable(f"the {target} service answered {exc.status}") from exc

    def customer(self, customer_id: uuid.UUID) -> dict[str, Any] | None:
        answer = self._get("customers", f"/customers/{customer_id}")
        if answer is None:
            return None
        try:
            loaded = _CustomerAnswer().load(answer)
        except ma.ValidationError as exc:
            raise ServiceUnavailable("the customers service answered an unexpected body") from exc
        tag_ids = [uuid.UUID(str(tag["id"])) for tag in loaded["tags"] if "id" in tag]
        profile = {name: answer.get(name) for name in PROFILE_FIELDS if name != "kind"}
        return {
            "status": loaded["status"],
            "kind": loaded["kind"],
            "tag_ids": tag_ids,
            "customer": profile,
        }

    def status_exists(self, key: str) -> bool:
        return self._get("customers", f"/customers/statuses/{quote(key, safe='')}") is not None

    def tags(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        found = {}
        for tag_id in dict.fromkeys(ids):
            answer = self._get("tags", f"/tags/{tag_id}")
            if answer is None:
                continue
            try:
                tag = _TagAnswer().load(answer)
            except ma.ValidationError as exc:
                raise ServiceUnavailable("the tags service answered an unexpected body") from exc
            found[tag["id"]] = tag["name"]
        return found
