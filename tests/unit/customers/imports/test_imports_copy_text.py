"""A checked row's values as PostgreSQL's COPY text (the worker writes the line as it is)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.customers.imports.copy_text import copy_line, copy_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        ("Élodie", "Élodie"),
        ("a\\b\tc\nd\re", "a\\\\b\\tc\\nd\\re"),
        ("\\.", "\\\\."),
        ("\\N", "\\\\N"),
        (True, "t"),
        (False, "f"),
        (3, "3"),
        (Decimal("12.50"), "12.50"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2024, 2, 29, 8, 5, 3, 12, tzinfo=UTC), "2024-02-29T08:05:03.000012+00:00"),
        ([], "[]"),
        ({}, "{}"),
        (
            {"note": "tab\there", "at": date(2024, 1, 2)},
            '{"note": "tab\\\\there", "at": "2024-01-02"}',
        ),
    ],
)
def test_each_value_is_written_as_copy_reads_it(value: object, text: str) -> None:
    assert copy_value(value) == text
    assert copy_line([value]) == text  # the line's own paths for nulls and texts alike


def test_a_line_is_its_values_between_tabs() -> None:
    assert copy_line(["a", None, 1, "b\tc"]) == "a\t\\N\t1\tb\\tc"


def test_a_value_copy_would_misread_is_refused() -> None:
    with pytest.raises(TypeError):
        copy_value(object())
