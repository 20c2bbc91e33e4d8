"""Validation and normalisation of the tags API's input, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from services.tags.models import FIXED_TAGS, Tag, name_key
from services.tags.schemas import (
    TagCreateSchema,
    TagEnsureSchema,
    TagMergeSchema,
    TagQueryArgsSchema,
    TagSchema,
    TagUpdateSchema,
    normalize_color,
)
from services.tags.usecases import tag_state
from shared.events.registry import validate_data

VALID = {"name": "Client fidèle", "description": "Revient souvent.", "color": "#1E88E5"}


def errors_of(schema: Any, data: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    return dict(caught.value.messages)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("#abc", "#aabbcc"), ("#AABBCC", "#aabbcc"), ("#aabbcc", "#aabbcc"), (" #0f0 ", "#00ff00")],
)
def test_colours_are_stored_as_lower_case_six_digits(given: str, stored: str) -> None:
    assert TagCreateSchema().load({**VALID, "color": given})["color"] == stored


@pytest.mark.parametrize(
    "given", ["abc", "#abcd", "#12345", "#1234567", "#ggg", "red", "", None, 5]
)
def test_anything_but_a_hex_colour_is_refused(given: Any) -> None:
    assert "color" in errors_of(TagCreateSchema(), {**VALID, "color": given})


def test_normalize_color_refuses_a_colour_without_its_hash() -> None:
    with pytest.raises(ValueError):
        normalize_color("aabbcc")


def test_names_are_trimmed_and_composed() -> None:
    decomposed = "A\u0300 recontacter"

    loaded = TagCreateSchema().load({**VALID, "name": f"  {decomposed} "})

    assert loaded["name"] == "À recontacter"


@pytest.mark.parametrize("name", ["name\t", "\nname", "name\x1f", "name\x85"])
def test_control_characters_are_refused_even_where_trimming_would_remove_them(name: str) -> None:
    assert "name" in errors_of(TagCreateSchema(), {**VALID, "name": name})


def test_a_description_may_hold_line_breaks_and_tabs_but_no_other_control_character() -> None:
    text = "Line one\r\n\tLine two"

    assert TagCreateSchema().load({**VALID, "description": text})["description"] == text
    assert "description" in errors_of(TagCreateSchema(), {**VALID, "description": "a\x00b"})


def test_a_name_of_64_characters_is_accepted_and_65_refused() -> None:
    assert TagCreateSchema().load({**VALID, "name": "x" * 64 + "  "})["name"] == "x" * 64
    assert "name" in errors_of(TagCreateSchema(), {**VALID, "name": "x" * 65})


@pytest.mark.parametrize("given", ["", "   ", "a\nb", "tab\x00", None, 12])
def test_blank_multiline_or_non_text_names_are_refused(given: Any) -> None:
    assert "name" in errors_of(TagCreateSchema(), {**VALID, "name": given})


@pytest.mark.parametrize("missing", ["name", "description", "color"])
def test_name_description_and_colour_are_required(missing: str) -> None:
    body = {key: value for key, value in VALID.items() if key != missing}

    assert errors_of(TagCreateSchema(), body) == {missing: ["Missing data for required field."]}


def test_a_description_is_trimmed_and_limited_to_1000_characters() -> None:
    assert TagCreateSchema().load({**VALID, "description": " ok "})["description"] == "ok"
    assert TagCreateSchema().load({**VALID, "description": "d" * 1000})
    assert "description" in errors_of(TagCreateSchema(), {**VALID, "description": "d" * 1001})
    assert "description" in errors_of(TagCreateSchema(), {**VALID, "description": "  "})


@pytest.mark.parametrize("given", ["1", 1.5, True, 2**31])
def test_order_must_be_a_32_bit_integer(given: Any) -> None:
    assert "order" in errors_of(TagCreateSchema(), {**VALID, "order": given})


def test_order_is_optional_and_may_be_null() -> None:
    assert TagCreateSchema().load(VALID)["order"] is None
    assert TagCreateSchema().load({**VALID, "order": -3})["order"] == -3
    assert TagUpdateSchema().load({"order": None}) == {"order": None}


def test_unknown_fields_are_refused_not_ignored() -> None:
    assert errors_of(TagCreateSchema(), {**VALID, "colour": "#000000"}) == {
        "colour": ["Unknown field."]
    }
    assert "tags" in errors_of(TagUpdateSchema(), {"tags": []})


@pytest.mark.parametrize("field", ["id", "is_fixed", "customers_count", "created_at"])
def test_read_only_fields_are_refused_and_said_to_be_read_only(field: str) -> None:
    for schema, body in ((TagCreateSchema(), VALID), (TagUpdateSchema(), {})):
        assert "read-only" in errors_of(schema, {**body, field: None})[field][0]


def test_an_update_carries_only_the_fields_sent() -> None:
    assert TagUpdateSchema().load({"color": "#FFF"}) == {"color": "#ffffff"}
    assert TagUpdateSchema().load({}) == {}


@pytest.mark.parametrize("field", ["name", "description", "color"])
def test_an_update_cannot_clear_a_required_field(field: str) -> None:
    assert field in errors_of(TagUpdateSchema(), {field: None})


def test_ensure_deduplicates_names_whatever_their_case_keeping_the_first() -> None:
    loaded = TagEnsureSchema().load({"names": [" Vip ", "VIP", "autre", "vip", "Autre "]})

    assert loaded == {"names": ["Vip", "autre"]}


@pytest.mark.parametrize("body", [{"names": []}, {"names": [""]}, {"names": "a"}, {}])
def test_ensure_needs_at_least_one_valid_name(body: dict[str, Any]) -> None:
    assert "names" in errors_of(TagEnsureSchema(), body)


def test_ensure_takes_at_most_500_names() -> None:
    assert "names" in errors_of(TagEnsureSchema(), {"names": [f"n{i}" for i in range(501)]})


def test_merge_needs_the_id_of_the_tag_to_merge_into() -> None:
    target = uuid.uuid4()

    assert TagMergeSchema().load({"into": str(target)}) == {"into": target}
    assert "into" in errors_of(TagMergeSchema(), {"into": "not-an-id"})
    assert "into" in errors_of(TagMergeSchema(), {})


def test_list_arguments_default_and_limit() -> None:
    assert TagQueryArgsSchema().load({}) == {"limit": 50, "cursor": None, "q": None}
    assert "limit" in errors_of(TagQueryArgsSchema(), {"limit": "0"})
    assert "q" in errors_of(TagQueryArgsSchema(), {"q": "x" * 65})


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("VIP", "vip"),
        ("À recontacter", "à RECONTACTER"),
        ("A\u0300 x", "À X"),
        ("Straße", "STRASSE"),
    ],
)
def test_names_that_differ_only_by_case_or_composition_share_a_key(one: str, other: str) -> None:
    assert name_key(one) == name_key(other)


def test_a_tag_is_answered_with_every_field_and_its_state_satisfies_the_event_catalogue() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fixed = FIXED_TAGS[0]
    tag = Tag(
        id=fixed.id,
        name=fixed.name,
        name_key=name_key(fixed.name),
        description=fixed.description,
        color=fixed.color,
        order=fixed.order,
        is_fixed=True,
        customers_count=4,
        version=2,
        created_at=now,
        updated_at=now,
    )

    answered = TagSchema().dump(tag)
    state = tag_state(tag)
    validate_data("tag.created", state)

    assert set(answered) == {
        "id",
        "name",
        "description",
        "color",
        "order",
        "is_fixed",
        "customers_count",
        "created_at",
        "updated_at",
    }
    assert answered["created_at"] == "2026-01-02T03:04:05+00:00" == state["created_at"]
    assert state["id"] == str(fixed.id)


def test_the_fixed_tags_are_valid_tags() -> None:
    for fixed in FIXED_TAGS:
        body = {"name": fixed.name, "description": fixed.description, "color": fixed.color}
        assert TagCreateSchema().load({**body, "order": fixed.order}) == {
            **body,
            "order": fixed.order,
        }
