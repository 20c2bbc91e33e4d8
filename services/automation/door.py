"""The HTTP door (`POST /automation/events`): external events from systems that do not speak
AMQP (and everything in the embedded mode), validated like the consumers validate them and
written to automation's outbox as they came, to be published like any event.

The envelope is kept as posted (id, source, time, subject, data): consumers see the same event
they would have seen on RabbitMQ, published under `crm-automation`, which may publish the
external types (`shared.events.owners`). An id already in the outbox is not written twice; past
the outbox's retention, consumers' inboxes drop a repeat (keyed by the type's owner and id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

from services.automation.errors import InvalidEvents
from services.automation.facts import insert_for
from shared.db import OutboxMessage, UnitOfWork, utcnow
from shared.events import wakeup
from shared.events.catalogue import EXTERNAL_TYPES
from shared.events.envelope import CloudEvent, envelope_errors, parse_envelope, parse_time
from shared.events.registry import schema_for
from shared.text import SINGLE_LINE_MESSAGE, has_control_characters

MAX_BATCH = 500
CLOCK_SKEW = timedelta(minutes=2)


def check_events(bodies: Sequence[Any]) -> list[CloudEvent]:
    """The events, each a valid external event; InvalidEvents naming every bad one by its
    position (and field) otherwise."""
    if not bodies:
        raise InvalidEvents({"_schema": ["at least one event"]})
    if len(bodies) > MAX_BATCH:
        raise InvalidEvents({"_schema": [f"at most {MAX_BATCH} events per batch"]})
    errors: dict[str, Any] = {}
    events = []
    for index, body in enumerate(bodies):
        problems = event_errors(body)
        if problems:
            errors[str(index)] = problems
        else:
            events.append(parse_envelope(body))
    if errors:
        raise InvalidEvents(errors)
    return events


def event_errors(body: Any) -> dict[str, Any]:
    """What is wrong with one posted event (empty: nothing)."""
    if not isinstance(body, dict):
        return {"_schema": ["a CloudEvent (a JSON object)"]}
    problems: dict[str, Any] = dict(envelope_errors(body))
    controls = sorted(name for name in _strings(body) if name)
    for name in controls:
        problems.setdefault(name.split(".", 1)[0], [f"{name}: {SINGLE_LINE_MESSAGE}"])
    event_type = body.get("type")
    if "type" not in problems and event_type not in EXTERNAL_TYPES:
        problems["type"] = [f"one of {', '.join(sorted(EXTERNAL_TYPES))}"]
    checkable = isinstance(event_type, str) and not {"type", "data"} & set(problems)
    if checkable and (data_errors := schema_for(str(event_type)).validate(body["data"])):
        problems["data"] = data_errors
    moment = parse_time(body.get("time"))
    if "time" not in problems and moment is not None and moment > utcnow() + CLOCK_SKEW:
        problems["time"] = ["in the future"]
    return problems


def _strings(value: Any, path: str = "") -> list[str]:
    """The paths of the strings holding control characters."""
    if isinstance(value, str):
        return [path or "_schema"] if has_control_characters(value) else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += _strings(item, f"{path}.{key}" if path else str(key))
            if isinstance(key, str) and has_control_characters(key):
                found.append(path or "_schema")
        return found
    if isinstance(value, list):
        return [name for item in value for name in _strings(item, path)]
    return []


def outbox_id(event_id: str) -> uuid.UUID:
    """The outbox's id of an event (ids of other systems need not be UUIDs: a stable UUID of
    the text stands in, as the consumers' inbox does)."""
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, event_id)


def accept_events(uow: UnitOfWork, events: Sequence[CloudEvent]) -> int:
    """Write the events to the outbox in one transaction (ids already there skipped); how many
    were new. The relays are woken by the commit, as `UnitOfWork.emit` wakes them."""
    unique = {outbox_id(event.id): event for event in events}
    with uow:
        session = uow.session
        now = utcnow()
        rows = [
            {
                "event_id": key,
                "type": event.type,
                "subject": event.subject,
                "payload": json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False),
                "created_at": now,
                "attempts": 0,
            }
            for key, event in unique.items()
        ]
        # A concurrent post of the same id waits on the key, then writes nothing.
        written = list(
            session.scalars(
                insert_for(session, OutboxMessage)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(OutboxMessage.event_id)
            )
        )
        if not written:
            return 0
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            session.execute(text(wakeup.NOTIFY_SQL))
        uow.commit()
    engine = bind if isinstance(bind, Engine) else bind.engine
    wakeup.outbox_committed(wakeup.database_key(engine))
    return len(written)
