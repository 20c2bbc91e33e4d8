"""The dispatcher hands a mixed-type batch handler (the timeline's) one run for consecutive
events of all its types, and keeps runs of one type for every other handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from services.customers.handlers import SUBSCRIPTIONS, on_timeline_events
from shared.events import consumer
from shared.events.consumer import EventDispatcher, batch_handler, mixed_batch_handler
from shared.events.envelope import CloudEvent


class FakeUnitOfWork:
    committed = False

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def commit(self) -> None:
        self.committed = True


def ev(type: str, n: int) -> CloudEvent:
    return CloudEvent(
        id=f"{type}-{n}", type=type, source="test", time="2026-11-01T00:00:00Z", data={}
    )


@pytest.fixture(autouse=True)
def every_event_new(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "record_in_inbox", lambda _uow, events: {e.id for e in events})


def test_consecutive_events_of_a_mixed_handlers_types_form_one_run() -> None:
    runs: list[tuple[str, list[str]]] = []

    @mixed_batch_handler
    def timeline(events: Sequence[CloudEvent], _uow: Any) -> None:
        runs.append(("mixed", [e.id for e in events]))

    @batch_handler
    def plain(events: Sequence[CloudEvent], _uow: Any) -> None:
        runs.append(("plain", [e.id for e in events]))

    handlers = {
        "a": [timeline],
        "b": [timeline],
        "c": [plain],
        "d": [plain],
        "e": [timeline, plain],
    }
    dispatcher = EventDispatcher("test", handlers, FakeUnitOfWork)  # type: ignore[arg-type]

    batch = [ev("a", 1), ev("b", 1), ev("a", 2), ev("c", 1), ev("d", 1), ev("e", 1), ev("b", 2)]
    assert dispatcher.dispatch_batch(batch) == [True] * len(batch)

    assert runs == [
        ("mixed", ["a-1", "b-1", "a-2"]),
        ("plain", ["c-1"]),  # one type a run, as before
        ("plain", ["d-1"]),
        ("mixed", ["e-1"]),  # a type with another handler too: its own run
        ("plain", ["e-1"]),
        ("mixed", ["b-2"]),
    ]


def test_the_timeline_takes_its_external_types_in_one_run() -> None:
    types = ["billing.purchase.completed", "billing.invoice.issued", "support.request.created"]
    assert all(SUBSCRIPTIONS[t] == [on_timeline_events] for t in types)
    assert on_timeline_events.mixed_types
