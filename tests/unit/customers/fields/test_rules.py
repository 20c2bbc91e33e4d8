"""Custom field values by type: JSON checked, text read (cells, filters), text written (exports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from services.customers.fields.rules import (
    check_value,
    fits,
    options_error,
    value_from_text,
    value_to_text,
)
from services.customers.fields.values import custom_fields_from_cells, merged_values


@dataclass
class Field:
    """A definition as the rules read it (the model has the same attributes)."""

    key: str
    type: str
    options: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=lambda: ["individual", "company"])
    required: bool = False
    label: str = "A field"


LEVEL = Field("level", "choice", ["Silver", "Gold"])


@pytest.mark.parametrize(
    ("definition", "value", "stored"),
    [
        (Field("t", "text"), "  Café  ", "Café"),
        (Field("n", "number"), 12, 12),
        (Field("n", "number"), 12.0, 12),
        (Field("n", "number"), 0.1, 0.1),
        (Field("n", "number"), Decimal("-3.50"), -3.5),
        (Field("d", "date"), "2024-02-29", "2024-02-29"),
        (Field("b", "boolean"), False, False),
        (LEVEL, "gold", "Gold"),
    ],
)
def test_a_value_of_its_type_is_stored_normalised(
    definition: Field, value: Any, stored: Any
) -> None:
    assert check_value(definition, value) == stored


@pytest.mark.parametrize(
    ("definition", "value"),
    [
        (Field("t", "text"), 3),
        (Field("t", "text"), "   "),
        (Field("t", "text"), "x" * 1001),
        (Field("n", "number"), "12"),
        (Field("n", "number"), True),
        (Field("n", "number"), float("inf")),
        (Field("n", "number"), 10**15),
        (Field("d", "date"), "2023-02-29"),
        (Field("d", "date"), 20240101),
        (Field("b", "boolean"), "true"),
        (Field("b", "boolean"), 1),
        (LEVEL, "Bronze"),
        (LEVEL, 1),
    ],
)
def test_a_value_not_of_its_type_is_refused(definition: Field, value: Any) -> None:
    with pytest.raises(ValueError):
        check_value(definition, value)


@pytest.mark.parametrize(
    ("definition", "text", "value"),
    [
        (Field("n", "number"), "12,5", Decimal("12.5")),
        (Field("n", "number"), " 1 200 ", Decimal("1200")),
        (Field("n", "number"), "douze", "douze"),
        (Field("b", "boolean"), "Oui", True),
        (Field("b", "boolean"), "false", False),
        (Field("b", "boolean"), "peut-être", "peut-être"),
        (Field("d", "date"), "31/12/2024", "2024-12-31"),
        (Field("d", "date"), "31/02/2024", "31/02/2024"),
        (Field("t", "text"), " as typed ", "as typed"),
    ],
)
def test_text_is_read_by_type_and_left_as_written_when_it_is_none(
    definition: Field, text: str, value: Any
) -> None:
    assert value_from_text(definition, text) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (False, "false"), (12, "12"), (0.1, "0.1"),
     (1e20, "100000000000000000000"), ("2024-05-31", "2024-05-31"), ("x", "x")],
)  # fmt: skip
def test_a_stored_value_is_written_as_a_cell_the_import_reads_back(value: Any, text: str) -> None:
    assert value_to_text(value) == text


def test_every_type_round_trips_through_text() -> None:
    for definition, value in [
        (Field("n", "number"), -12.25),
        (Field("n", "number"), 7),
        (Field("b", "boolean"), True),
        (Field("d", "date"), "2024-05-31"),
        (LEVEL, "Gold"),
    ]:
        assert check_value(definition, value_from_text(definition, value_to_text(value))) == value


def test_a_stored_value_fits_a_definition_only_of_its_type_and_kind() -> None:
    assert fits(LEVEL, "company", "Gold")
    assert not fits(Field("level", "choice", ["Gold"], kinds=["individual"]), "company", "Gold")
    assert not fits(Field("level", "choice", ["gold"]), "company", "Gold")
    assert not fits(Field("level", "number"), "company", "Gold")


@pytest.mark.parametrize(
    ("type", "options", "problem"),
    [("choice", [], True), ("choice", ["a", "A"], True), ("text", ["a"], True),
     ("choice", ["a", "b"], False), ("text", [], False)],
)  # fmt: skip
def test_options_suit_a_choice_only(type: str, options: list[str], problem: bool) -> None:
    assert (options_error(type, options) is not None) is problem


def test_merged_values_name_every_problem_by_key() -> None:
    definitions = {
        "level": LEVEL,
        "siret": Field("siret", "text", kinds=["company"], required=True),
        "visits": Field("visits", "number", required=True),
    }
    values, errors = merged_values(
        definitions, "individual", {}, {"level": "Bronze", "siret": "1", "nope": 1}, creating=True
    )
    assert set(errors) == {"level", "siret", "nope", "visits"}
    values, errors = merged_values(
        definitions, "individual", {"visits": 1, "level": "Gold"}, {"level": None}, creating=False
    )
    assert (values, errors) == ({"visits": 1}, {})


def test_cells_become_the_values_of_a_body() -> None:
    definitions = {"level": LEVEL, "visits": Field("visits", "number")}
    cells = {"level": "gold", "visits": "3,5", "other": "x", "empty": " "}
    assert custom_fields_from_cells(definitions, cells) == {"level": "gold", "visits": 3.5}
