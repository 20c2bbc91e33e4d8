"""Read your writes for sign-ups: a profile read before registration's `registration.submitted`
has arrived is created from that very event, asked of registration.

A client that signs up (`POST /registration/signups`) and reads `GET /customers/{id}` at once
must not get 404 while the event is in flight. On an id it does not know, customers asks
registration for the sign-up's event as it was published
(`GET /registration/signups/{id}/submitted`, `customers:read`) and hands it to the same
dispatcher the consumer uses: the same handlers (the profile, its first timeline entry), the
same inbox. When RabbitMQ brings the event later, the inbox knows it and nothing happens twice;
a customer deleted since is not brought back (the inbox holds the event's id longer than
registration keeps the event).
"""

from __future__ import annotations

import logging
import uuid

from flask import current_app

from services.customers.handlers import SUBSCRIPTIONS
from shared.app import service_context
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent, InvalidEvent
from shared.events.registry import parse_event
from shared.service_client import ServiceClient, ServiceUnavailable
from shared.settings import Settings

log = logging.getLogger(__name__)

SUBMITTED = "registration.submitted"


class RemoteSignups:
    """registration's sign-ups over HTTP (`customers:read`, customers' own service token)."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient(settings, "registration", ["customers:read"])

    def submitted(self, customer_id: uuid.UUID) -> CloudEvent | None:
        """The sign-up's `registration.submitted`, checked as the consumer checks an event; None
        when registration knows no such sign-up. ServiceUnavailable otherwise."""
        body = self.client.read(f"/registration/signups/{customer_id}/submitted")
        if body is None:
            return None
        try:
            event = parse_event(body)
        except InvalidEvent as exc:
            raise ServiceUnavailable(f"the registration service answered {exc}") from exc
        loaded = event.loaded or {}
        if event.type != SUBMITTED or loaded.get("customer_id") != customer_id:
            raise ServiceUnavailable("the registration service answered another sign-up")
        return event


def signups() -> RemoteSignups:
    """This app's client of registration (made once)."""
    client: RemoteSignups | None = current_app.extensions.get("crm.customers.signups")
    if client is None:
        client = RemoteSignups(service_context().settings)
        current_app.extensions["crm.customers.signups"] = client
    return client


def adopt_signup(customer_id: uuid.UUID) -> bool:
    """Handle the sign-up of an id customers does not know, as the consumer would; whether
    registration had one. Registration unreachable: False (logged), so that reading an unknown
    customer never depends on registration being up."""
    try:
        event = signups().submitted(customer_id)
    except ServiceUnavailable as exc:
        log.warning(
            "registration could not say whether an unknown customer signed up",
            extra={"customer_id": str(customer_id), "error": str(exc)},
        )
        return False
    if event is None:
        return False
    dispatcher = EventDispatcher(
        "customers", {SUBMITTED: SUBSCRIPTIONS[SUBMITTED]}, service_context().uow
    )
    dispatcher.dispatch(event)
    return True
