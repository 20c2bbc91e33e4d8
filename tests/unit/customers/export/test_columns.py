"""The export's cells: formula-like cells neutralised (OWASP CSV injection)."""

from __future__ import annotations

import pytest

from services.customers.export.columns import HEADER, header, neutralised
from services.customers.imports.columns import unneutralised


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_a_spreadsheet_would_run_gets_a_quote(start: str) -> None:
    cell = f"{start}cmd|' /C calc'!A0"
    assert neutralised(cell) == "'" + cell
    assert unneutralised(neutralised(cell)) == cell


@pytest.mark.parametrize("cell", ["", "Dupont", "'quoted", " =not first", "1+1"])
def test_other_cells_are_left_as_they_are(cell: str) -> None:
    assert neutralised(cell) == cell


def test_custom_fields_follow_the_contract_fields_by_key() -> None:
    assert header(["loyalty", "visits"]) == [*HEADER, "loyalty", "visits"]
    assert len(set(HEADER)) == len(HEADER)
