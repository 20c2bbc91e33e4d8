"""`set_based.emit_in_sql` (imports and bulk actions write their events with it): one event per
row in the outbox, the first one's data checked against the catalogue (read back by the id the
statement returns) and a refused one leaving nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Text, cast, func, literal, select

from services.customers.tagging.set_based import emit_in_sql
from shared.events.envelope import InvalidEvent


def _deletions(count: int, customer_id: Any) -> tuple[Any, Any]:
    changed = select(func.generate_series(1, count).label("n")).cte("changed")
    ids = cast(func.gen_random_uuid(), Text) if customer_id is None else literal(customer_id)
    events = select(
        func.json_build_object("customer_id", ids).label("data"),
        cast(changed.c.n, Text).label("subject"),
    ).select_from(changed)
    return events, changed


def test_every_row_makes_one_event_and_the_count_is_the_changed_rows(
    app: Flask, outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    events, changed = _deletions(3, None)
    with app.extensions["crm"].uow() as uow:
        assert emit_in_sql(uow, "customer.deleted", events, changed) == 3
        uow.commit()
    written = outbox("customer.deleted")
    assert sorted(event["subject"] for event in written) == ["1", "2", "3"]
    assert len({event["id"] for event in written}) == 3


def test_no_row_writes_no_event(app: Flask, outbox: Callable[..., list[dict[str, Any]]]) -> None:
    events, changed = _deletions(0, None)
    with app.extensions["crm"].uow() as uow:
        assert emit_in_sql(uow, "customer.deleted", events, changed) == 0
        uow.commit()
    assert outbox("customer.deleted") == []


def test_data_the_catalogue_refuses_is_refused_and_nothing_is_written(
    app: Flask, outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    events, changed = _deletions(2, "not a uuid")
    with pytest.raises(InvalidEvent), app.extensions["crm"].uow() as uow:
        emit_in_sql(uow, "customer.deleted", events, changed)
        uow.commit()
    assert outbox("customer.deleted") == []
