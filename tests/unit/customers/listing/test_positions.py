"""Keyset positions: what a cursor carries, and the ones refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.customers.listing.queries import InvalidCursor, decode_position, encode_position


def test_a_creation_position_survives_the_cursor_with_its_microseconds() -> None:
    position = (datetime(2024, 5, 1, 12, 30, 1, 123456, tzinfo=UTC), uuid.uuid4())

    values = encode_position("-created_at", position)

    assert decode_position("-created_at", values) == position


def test_a_name_position_survives_the_cursor() -> None:
    position = ("dupont jean", uuid.uuid4())

    assert decode_position("name", encode_position("name", position)) == position


@pytest.mark.parametrize(
    "values",
    [
        ["name", "dupont", str(uuid.uuid4())],
        ["-created_at", "yesterday", str(uuid.uuid4())],
        ["-created_at", "2024-01-01T00:00:00", str(uuid.uuid4())],
        ["-created_at", "2024-01-01T00:00:00+00:00", "id"],
        ["-created_at", None, str(uuid.uuid4())],
        ["-created_at", "2024-01-01T00:00:00+00:00"],
    ],
)
def test_a_cursor_for_another_sort_or_with_bad_values_is_refused(values: list[object]) -> None:
    with pytest.raises(InvalidCursor):
        decode_position("-created_at", values)
