"""The list parameters: how they load, normalise and become SQL (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import marshmallow as ma
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from services.customers.listing.filters import (
    CustomerFilterSchema,
    filter_conditions,
    like_pattern,
    normalize_language,
    search_terms,
)
from services.customers.listing.schemas import CustomerListArgsSchema, SegmentFilterSchema
from services.customers.models import Customer


@pytest.mark.parametrize(
    ("q", "terms"),
    [
        ("Dupont", ["dupont"]),
        ("  Jean   DUPONT ", ["jean", "dupont"]),
        ("jean jean", ["jean"]),
        ("Jean@Example.COM", ["jean@example.com"]),
        ("+33 6 12 34 56 78", ["33612345678"]),
        ("06.12.34.56.78", ["0612345678"]),
        ("(06) 12-34/56", ["06123456"]),
        ("2024", ["2024"]),
        ("R2D2", ["r2d2"]),
        ("", []),
        ("   ", []),
        ("+", ["+"]),
    ],
)
def test_search_terms_are_lower_case_words_or_the_digits_of_a_phone(
    q: str, terms: list[str]
) -> None:
    assert search_terms(q) == terms


def test_search_keeps_at_most_eight_words() -> None:
    assert len(search_terms(" ".join(f"w{index}" for index in range(20)))) == 8


def test_like_patterns_take_wildcards_literally() -> None:
    assert like_pattern("100%_a/b") == "%100/%/_a//b%"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("FR", "fr"),
        ("fr-be", "fr_BE"),
        ("fr_BE", "fr_BE"),
        ("zh-hans-cn", "zh_Hans_CN"),
        ("es_419", "es_419"),
    ],
)
def test_languages_take_the_profiles_spelling(given: str, normalised: str) -> None:
    assert normalize_language(given) == normalised


def test_loaded_parameters_dump_to_json_that_loads_back_the_same() -> None:
    schema = CustomerFilterSchema()
    tag = uuid.uuid4()
    loaded = schema.load(
        {
            "q": " Jean ",
            "tag": str(tag),
            "tags_match": "all",
            "city": " Paris ",
            "country": "fr",
            "language": "FR-be",
            "is_supplier": True,
            "created_from": "2024-01-01",
            "created_to": "2024-02-01T10:00:00+02:00",
        }
    )

    assert loaded == {
        "q": "Jean",
        "tag": [tag],
        "tags_match": "all",
        "is_supplier": True,
        "city": "Paris",
        "country": "FR",
        "language": "fr_BE",
        "created_from": date(2024, 1, 1),
        "created_to": datetime(2024, 2, 1, 8, tzinfo=UTC),
    }
    assert schema.load(schema.dump(loaded)) == loaded


def test_a_blank_search_is_no_search() -> None:
    assert CustomerFilterSchema().load({"q": "  "}) == {}


def test_a_date_time_without_offset_is_read_as_utc() -> None:
    loaded = CustomerFilterSchema().load({"created_from": "2024-01-01T10:00:00"})

    assert loaded["created_from"] == datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"created_from": "2024-01-02", "created_to": "2024-01-01"}, "created_to"),
        ({"created_from": "2024-01-02T00:00:00Z", "created_to": "2024-01-01"}, "created_to"),
        ({"created_from": 20240101}, "created_from"),
        ({"created_from": "0001-01-01T00:00:00+01:00"}, "created_from"),
        ({"tag": []}, "tag"),
        ({"tag": [str(uuid.uuid4())] * 51}, "tag"),
        ({"city": "  "}, "city"),
        ({"unknown": "x"}, "unknown"),
    ],
)
def test_bad_parameters_name_their_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ma.ValidationError) as raised:
        CustomerFilterSchema().load(raw)

    assert field in raised.value.messages


def test_one_whole_day_is_a_valid_range() -> None:
    loaded = CustomerFilterSchema().load({"created_from": "2024-01-01", "created_to": "2024-01-01"})

    assert loaded["created_to"] == date(2024, 1, 1)


def test_a_saved_filter_cannot_name_another_saved_filter() -> None:
    with pytest.raises(ma.ValidationError) as raised:
        SegmentFilterSchema().load({"segment": str(uuid.uuid4())})

    assert "segment" in raised.value.messages


def test_list_arguments_default_to_newest_first_and_fifty() -> None:
    loaded = CustomerListArgsSchema().load({})

    assert loaded == {"limit": 50, "cursor": None, "sort": "-created_at"}


def _sql(params: dict[str, object]) -> str:
    stmt = select(Customer.id).where(*filter_conditions(params))
    compiled = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled).replace("%%", "%")  # the pyformat paramstyle doubles literal percents


def test_each_search_word_is_one_like_with_a_constant_pattern_for_the_trigram_index() -> None:
    sql = _sql({"q": "jean dupont"})

    assert "customers.search_text LIKE '%jean%' ESCAPE '/'" in sql
    assert "customers.search_text LIKE '%dupont%' ESCAPE '/'" in sql


def test_tags_all_is_one_exists_per_tag_and_any_a_single_one() -> None:
    tags = [uuid.uuid4(), uuid.uuid4()]

    assert _sql({"tag": tags, "tags_match": "all"}).count("EXISTS") == 2
    assert _sql({"tag": tags}).count("EXISTS") == 1


def test_city_compares_lower_cased_like_its_functional_index() -> None:
    assert "lower(customers.address_city) = lower('Paris')" in _sql({"city": "Paris"})


def test_the_last_representable_day_is_a_valid_bound() -> None:
    loaded = CustomerFilterSchema().load({"created_from": "0001-01-01", "created_to": "9999-12-31"})

    assert "created_at <=" in _sql(loaded)
