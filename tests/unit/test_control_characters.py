"""The one rule on control characters (`shared.text`) and its check in every `shared.api.Schema`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from shared.api import Schema
from shared.text import MULTILINE_MESSAGE, SINGLE_LINE_MESSAGE, String, has_control_characters

C0 = [chr(code) for code in range(0x20)]
C1 = [chr(code) for code in range(0x80, 0xA0)]
REFUSED_EVERYWHERE = [char for char in C0 + ["\x7f"] + C1 if char not in "\t\n\r"] + [
    "\ud800",  # lone surrogates: JSON lets "\ud800" through, PostgreSQL cannot encode it
    "\udfff",
]


@pytest.mark.parametrize("char", REFUSED_EVERYWHERE, ids=lambda char: f"U+{ord(char):04X}")
def test_nul_and_every_other_control_character_is_refused_on_one_line_or_several(
    char: str,
) -> None:
    assert has_control_characters(f"a{char}b")
    assert has_control_characters(f"a{char}b", multiline=True)


@pytest.mark.parametrize("char", ["\t", "\n", "\r"], ids=repr)
def test_tab_and_line_breaks_are_allowed_in_multiline_text_only(char: str) -> None:
    assert has_control_characters(f"a{char}b")
    assert not has_control_characters(f"a{char}b", multiline=True)


@pytest.mark.parametrize(
    "text",
    ["Zoë", "日本語", "👩‍👩‍👧 family", "\u00a0nbsp", "€ 10", "\u2028", "\ufeff", ""],
)
def test_printable_and_non_control_text_is_accepted(text: str) -> None:
    assert not has_control_characters(text)


# --- every schema ---------------------------------------------------------------------------------
class PlainNested(ma.Schema):
    """A nested part written with marshmallow's own Schema: checked by its parent."""

    street = ma.fields.String()


class SharedNested(Schema):
    city = ma.fields.String()
    memo = String(multiline=True)


class Body(Schema):
    name = ma.fields.String()
    trimmed = ma.fields.String(validate=ma.validate.Length(max=10))
    notes = String(multiline=True)
    ident = ma.fields.UUID()
    when = ma.fields.Date()
    words = ma.fields.List(ma.fields.String())
    lines = ma.fields.List(String(multiline=True))
    extra = ma.fields.Dict()
    labels = ma.fields.Dict(keys=ma.fields.String(), values=String(multiline=True))
    plain = ma.fields.Nested(PlainNested)
    shared = ma.fields.Nested(SharedNested)
    many = ma.fields.List(ma.fields.Nested(SharedNested))
    renamed = ma.fields.String(data_key="other-name")


def errors_of(body: Any, schema: ma.Schema | None = None) -> dict[Any, Any]:
    with pytest.raises(ma.ValidationError) as refused:
        (schema or Body()).load(body)
    return dict(refused.value.messages)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"name": "Jo\x00"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "a\nb"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"name": "trailing tab\t"}, {"name": [SINGLE_LINE_MESSAGE]}),
        ({"notes": "a\x00b"}, {"notes": [MULTILINE_MESSAGE]}),
        ({"ident": "\x00"}, {"ident": [SINGLE_LINE_MESSAGE]}),
        ({"when": "2024-01-01\x00"}, {"when": [SINGLE_LINE_MESSAGE]}),
        ({"words": ["ok", "b\x1b"]}, {"words": {1: [SINGLE_LINE_MESSAGE]}}),
        ({"lines": ["a\nb", "c\x00"]}, {"lines": {1: [MULTILINE_MESSAGE]}}),
        ({"extra": {"k\x00": 1}}, {"extra": {"k\x00": {"key": [SINGLE_LINE_MESSAGE]}}}),
        ({"extra": {"k": {"deep": ["\x7f"]}}}, {"extra": {"k": {"value": [SINGLE_LINE_MESSAGE]}}}),
        ({"labels": {"k\n": "a"}}, {"labels": {"k\n": {"key": [SINGLE_LINE_MESSAGE]}}}),
        ({"labels": {"k": "a\x00"}}, {"labels": {"k": {"value": [MULTILINE_MESSAGE]}}}),
        ({"plain": {"street": "\x85"}}, {"plain": {"street": [SINGLE_LINE_MESSAGE]}}),
        ({"shared": {"city": "\ud800"}}, {"shared": {"city": [SINGLE_LINE_MESSAGE]}}),
        ({"shared": {"memo": "\x0c"}}, {"shared": {"memo": [MULTILINE_MESSAGE]}}),
        ({"many": [{}, {"city": "\x00"}]}, {"many": {1: {"city": [SINGLE_LINE_MESSAGE]}}}),
        ({"other-name": "\x00"}, {"other-name": [SINGLE_LINE_MESSAGE]}),
    ],
)
def test_every_field_refuses_control_characters_by_name(body: Any, errors: Any) -> None:
    assert errors_of(body) == errors


def test_the_text_is_refused_as_sent_not_after_trimming() -> None:
    # str.strip() removes \x1c-\x1f and \x85: a check after trimming would let them through.
    assert errors_of({"trimmed": "\x1fname\x85"}) == {"trimmed": [SINGLE_LINE_MESSAGE]}


def test_multiline_fields_keep_tabs_and_line_breaks() -> None:
    body = {"notes": "a\r\n\tb", "lines": ["x\ny"], "labels": {"k": "1\n2"}}

    assert Body().load({**body, "shared": {"memo": "m\nn"}}) == {
        **body,
        "shared": {"memo": "m\nn"},
    }


def test_a_list_of_bodies_names_the_item() -> None:
    assert errors_of([{"name": "ok"}, {"name": "\x00"}], Body(many=True)) == {
        1: {"name": [SINGLE_LINE_MESSAGE]}
    }


def test_validate_reports_them_too() -> None:
    assert Body().validate({"name": "\x00"}) == {"name": [SINGLE_LINE_MESSAGE]}


def test_query_parameters_as_webargs_reads_them_are_checked() -> None:
    schema = Body()
    query = MultiDictProxy(MultiDict([("words", "a"), ("words", "b\x00"), ("name", "x")]), schema)

    assert errors_of(query, schema) == {"words": {1: [SINGLE_LINE_MESSAGE]}}


def test_multiline_fields_say_so_in_the_openapi_document() -> None:
    assert String(multiline=True).metadata == {"x-multiline": True}
    assert String().metadata == {}
