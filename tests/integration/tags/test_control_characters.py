"""NUL and other control characters in any tag field or query parameter: a 422 naming it, never a
500, on PostgreSQL (which cannot store NUL) and on SQLite (which would store it silently)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared.text import MULTILINE_MESSAGE, SINGLE_LINE_MESSAGE
from tests.control_characters import BACKENDS, client_on, refused

VALID = {"name": "Newsletter", "description": "Reads every issue", "color": "#1e90ff"}


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlaskClient]:
    """The tags API on PostgreSQL, then on a migrated SQLite file."""
    yield from client_on(request, "tags", tmp_path)


def tag_names(client: FlaskClient, headers: dict[str, str]) -> list[str]:
    return [tag["name"] for tag in client.get("/tags?limit=500", headers=headers).json["items"]]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"name": "News\x00letter"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "\x00"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "News\x1fletter"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "Newsletter\n"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "News\ud800letter"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"description": "Reads\x00 every issue"}, {"description": [MULTILINE_MESSAGE]}),
        ({"description": "Reads\x85 every issue"}, {"description": [MULTILINE_MESSAGE]}),
        ({"description": "Reads\x7f every issue"}, {"description": [MULTILINE_MESSAGE]}),
        ({"description": "\udfff"}, {"description": [MULTILINE_MESSAGE]}),
        ({"color": "#1e90ff\x00"}, {"color": [SINGLE_LINE_MESSAGE]}),
    ],
)
def test_a_control_character_in_a_new_tag_is_a_422_naming_the_field(
    client: FlaskClient,
    writer: dict[str, str],
    changes: dict[str, str],
    errors: dict[str, list[str]],
) -> None:
    before = tag_names(client, writer)

    response = client.post("/tags", json={**VALID, **changes}, headers=writer)

    assert refused(response, "json") == errors
    assert tag_names(client, writer) == before


def test_a_description_keeps_its_line_breaks_and_tabs(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    description = "Reads every issue\r\n\tand forwards it"

    response = client.post("/tags", json={**VALID, "description": description}, headers=writer)

    assert response.status_code == 201, response.get_json()
    tag = client.get(f"/tags/{response.json['id']}", headers=writer).json
    assert tag["description"] == description


@pytest.mark.parametrize("changes", [{"name": "a\x00"}, {"description": "\x00"}])
def test_a_control_character_in_an_edit_is_a_422_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], changes: dict[str, str]
) -> None:
    tag = client.post("/tags", json=VALID, headers=writer).json

    response = client.patch(f"/tags/{tag['id']}", json=changes, headers=writer)

    assert list(refused(response, "json")) == list(changes)
    assert client.get(f"/tags/{tag['id']}", headers=writer).json == tag


def test_a_control_character_in_ensured_names_is_a_422_naming_the_name(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    before = tag_names(client, writer)

    response = client.post("/tags/ensure", json={"names": ["fine", "not\x00fine"]}, headers=writer)

    assert refused(response, "json") == {"names": {"1": [SINGLE_LINE_MESSAGE]}}
    assert tag_names(client, writer) == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=%00", "q"),
        ("q=news%00", "q"),
        ("q=%7F", "q"),
        ("q=a%C2%85", "q"),
        ("cursor=%00", "cursor"),
    ],
)
def test_a_control_character_in_a_query_parameter_is_a_422_naming_it(
    client: FlaskClient, writer: dict[str, str], query: str, field: str
) -> None:
    response = client.get(f"/tags?{query}", headers=writer)

    assert refused(response, "query") == {field: [SINGLE_LINE_MESSAGE]}


def test_a_search_without_control_characters_still_answers(
    client: FlaskClient, writer: dict[str, str], unique: Callable[[str], str]
) -> None:
    name = unique("Zoë")
    client.post("/tags", json={**VALID, "name": name}, headers=writer)

    response = client.get("/tags", query_string={"q": name.upper()}, headers=writer)

    assert [tag["name"] for tag in response.json["items"]] == [name]
