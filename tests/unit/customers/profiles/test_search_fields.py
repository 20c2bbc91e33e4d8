"""The derived fields the list sorts and searches on: `sort_name` and `search_text`."""

from __future__ import annotations

from services.customers.models import Customer, Phone
from services.customers.profiles.usecases import refresh_search_fields


def customer(**fields: object) -> Customer:
    return Customer(**{"kind": "individual", "phones": [], **fields})


def test_an_individual_sorts_by_last_then_first_name_lower_cased() -> None:
    jean = customer(first_name="Jean", last_name="Dupré")

    refresh_search_fields(jean)

    assert jean.sort_name == "dupré jean"


def test_an_individual_with_one_name_sorts_by_it() -> None:
    only_first = customer(first_name="Madonna")

    refresh_search_fields(only_first)

    assert only_first.sort_name == "madonna"


def test_a_company_sorts_by_its_company_name() -> None:
    acme = customer(kind="company", company_name="ACME Corp", first_name="Zoé")

    refresh_search_fields(acme)

    assert acme.sort_name == "acme corp"


def test_the_search_text_holds_names_email_and_every_writing_of_each_phone() -> None:
    jean = customer(
        first_name="Jean",
        last_name="Dupré",
        company_name="Dupré SARL",
        email="Jean@Example.com",
        phones=[Phone(number="+33612345678"), Phone(number="+32470123456")],
    )

    refresh_search_fields(jean)

    assert jean.search_text == (
        "jean dupré dupré sarl jean@example.com "
        "+33612345678 33612345678 0612345678 +32470123456 32470123456 0470123456"
    )


def test_empty_fields_leave_no_gaps_in_the_search_text() -> None:
    nobody = customer(last_name="Martin")

    refresh_search_fields(nobody)

    assert nobody.search_text == "martin"
