"""Merging duplicates (C12): what moves, what is filled, what is deleted, what is published."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from services.customers.models import ConsentRecord, Customer

pytestmark = pytest.mark.needs_postgres

PROOF = {"source": "signed form", "obtained_at": "2026-01-15T10:30:00Z"}


@pytest.fixture
def pair(
    new_customer: Callable[..., dict[str, Any]],
    tag: Callable[..., uuid.UUID],
    apply_tag: Callable[[str, uuid.UUID], None],
) -> dict[str, Any]:
    """A survivor and its duplicate sharing a tag, a phone and a list; each with its own too."""
    shared, own, gained = tag("Shared"), tag("Own"), tag("Gained")
    survivor = new_customer(
        first_name="Jeanne",
        last_name="Martin",
        phones=[{"number": "+33612345678", "type": "mobile"}],
        newsletter_lists=["promos"],
        shipping_addresses=[{"street": "1 rue A", "city": "Paris"}],
    )
    duplicate = new_customer(
        first_name="J.",
        last_name="Martin",
        email="Jeanne.Martin@example.com",
        email_consent=True,
        birth_date="1980-02-03",
        language="fr",
        address={"street": "2 rue B", "city": "Lyon", "country": "FR"},
        phones=[
            {"number": "06 12 34 56 78", "type": "home"},
            {"number": "+33698765432", "type": "work", "sms": True},
        ],
        newsletter_lists=["promos", "news"],
        shipping_addresses=[{"street": "1 rue A", "city": "Paris"}, {"street": "3 rue C"}],
        is_supplier=True,
        consent=PROOF,
    )
    for tag_id in (shared, own):
        apply_tag(survivor["id"], tag_id)
    for tag_id in (shared, gained):
        apply_tag(duplicate["id"], tag_id)
    return {
        "survivor": survivor,
        "duplicate": duplicate,
        "shared": shared,
        "own": own,
        "gained": gained,
    }


def merge(client: FlaskClient, headers: dict[str, str], survivor: str, duplicate: str) -> Any:
    return client.post(
        f"/customers/{survivor}/merge", json={"duplicate_id": duplicate}, headers=headers
    )


def test_merging_moves_tags_phones_lists_and_addresses_without_duplicates(
    client: FlaskClient, admin: dict[str, str], pair: dict[str, Any]
) -> None:
    response = merge(client, admin, pair["survivor"]["id"], pair["duplicate"]["id"])

    assert response.status_code == 200, response.get_json()
    merged = response.get_json()
    assert sorted(t["name"] for t in merged["tags"]) == ["Gained", "Own", "Shared"]
    assert [(p["number"], p["type"], p["sms"]) for p in merged["phones"]] == [
        ("+33612345678", "mobile", False),
        ("+33698765432", "work", True),
    ]
    assert merged["newsletter_lists"] == ["news", "promos"]
    assert merged["shipping_addresses"] == [
        {
            "street": "1 rue A",
            "postal_code": None,
            "city": "Paris",
            "region": None,
            "country": None,
        },
        {"street": "3 rue C", "postal_code": None, "city": None, "region": None, "country": None},
    ]
    assert response.headers["ETag"] == f'"{merged["id"]}-2"'


def test_merging_fills_the_survivors_empty_fields_and_keeps_its_own(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    stored: Callable[[str], Customer | None],
) -> None:
    merged = merge(client, admin, pair["survivor"]["id"], pair["duplicate"]["id"]).get_json()

    assert merged["first_name"] == "Jeanne"
    assert merged["email"] == "Jeanne.Martin@example.com"
    assert merged["email_consent"] is True
    assert merged["birth_date"] == "1980-02-03"
    assert merged["language"] == "fr"
    assert merged["address"]["city"] == "Lyon"
    assert merged["is_supplier"] is True
    row = stored(merged["id"])
    assert row is not None
    assert row.email_key == "jeanne.martin@example.com"
    assert "+33698765432" in row.search_text


def test_merging_deletes_the_duplicate_and_carries_the_consent_history_of_what_moved(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    stored: Callable[[str], Customer | None],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    merge(client, admin, pair["survivor"]["id"], pair["duplicate"]["id"])

    assert stored(pair["duplicate"]["id"]) is None
    assert client.get(f"/customers/{pair['duplicate']['id']}", headers=admin).status_code == 404
    assert sorted(r.channel for r in consent_records(pair["survivor"]["id"])) == [
        "email",
        "phone:+33698765432:sms",
    ]


def test_merging_publishes_merged_tagged_for_gained_tags_deleted_and_updated(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    survivor, duplicate = pair["survivor"]["id"], pair["duplicate"]["id"]

    merge(client, admin, survivor, duplicate)

    [merged] = outbox("customer.merged")
    assert merged["subject"] == survivor
    assert merged["data"] == {"customer_id": survivor, "duplicate_id": duplicate}
    [tagged] = outbox("customer.tagged")
    assert tagged["data"]["customer_id"] == survivor
    assert tagged["data"]["tag_id"] == str(pair["gained"])
    assert tagged["data"]["tag_name"] == "Gained"
    assert tagged["data"]["reason"] == "merge"
    [deleted] = outbox("customer.deleted")
    assert deleted["data"] == {
        "customer_id": duplicate,
        "tag_ids": sorted([str(pair["shared"]), str(pair["gained"])]),
    }
    [updated] = outbox("customer.updated", subject=survivor)
    assert {"email", "phones", "newsletter_lists", "address", "birth_date"} <= set(
        updated["data"]["changed"]
    )
    assert updated["data"]["customer"]["email"] == "Jeanne.Martin@example.com"


def test_merging_moves_the_avatar_when_the_survivor_has_none(
    client: FlaskClient, admin: dict[str, str], pair: dict[str, Any]
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(out, "PNG")
    client.post(
        f"/customers/{pair['duplicate']['id']}/avatar",
        data={"file": (io.BytesIO(out.getvalue()), "a.png")},
        headers=admin,
        content_type="multipart/form-data",
    )

    merge(client, admin, pair["survivor"]["id"], pair["duplicate"]["id"])

    served = client.get(f"/customers/{pair['survivor']['id']}/avatar", headers=admin)
    assert served.status_code == 200


def test_merging_a_customer_with_itself_is_a_422_and_changes_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    counts: Callable[[], dict[str, int]],
) -> None:
    before = counts()

    response = merge(client, admin, pair["survivor"]["id"], pair["survivor"]["id"])

    assert response.status_code == 422
    assert "duplicate_id" in response.get_json()["errors"]["json"]
    assert counts() == before


@pytest.mark.parametrize("unknown", ["survivor", "duplicate"])
def test_merging_with_an_unknown_customer_is_a_404_and_changes_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    counts: Callable[[], dict[str, int]],
    unknown: str,
) -> None:
    ids = {"survivor": pair["survivor"]["id"], "duplicate": pair["duplicate"]["id"]}
    ids[unknown] = str(uuid.uuid4())
    before = counts()

    response = merge(client, admin, ids["survivor"], ids["duplicate"])

    assert response.status_code == 404
    assert ids[unknown] in response.get_json()["message"]
    assert counts() == before


@pytest.mark.parametrize(
    "body", [{}, {"duplicate_id": "not-a-uuid"}, {"duplicate_id": None}, {"into": "x"}]
)
def test_a_merge_without_a_valid_duplicate_id_is_a_422(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    counts: Callable[[], dict[str, int]],
    body: dict[str, Any],
) -> None:
    before = counts()

    response = client.post(f"/customers/{pair['survivor']['id']}/merge", json=body, headers=admin)

    assert response.status_code == 422
    assert counts() == before


def test_a_merge_with_a_stale_if_match_is_a_412(
    client: FlaskClient,
    admin: dict[str, str],
    pair: dict[str, Any],
    counts: Callable[[], dict[str, int]],
) -> None:
    before = counts()

    response = client.post(
        f"/customers/{pair['survivor']['id']}/merge",
        json={"duplicate_id": pair["duplicate"]["id"]},
        headers={**admin, "If-Match": '"stale"'},
    )

    assert response.status_code == 412
    assert counts() == before
