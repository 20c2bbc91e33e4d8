"""`/notifications/templates` and `/notifications/settings`: shipped texts, validation on save,
restoring with DELETE, ETags."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from services.notifications.defaults import FIXED_KEYS

pytestmark = pytest.mark.needs_postgres

VALID = {
    "subject": "Hi {{ customer.first_name }}",
    "body_text": "Hello {{ customer.name }},\nconfirm: {{ link }}\n",
    "body_html": "<p>Hello {{ customer.name }}, <a href='{{ link }}'>confirm</a></p>",
}
KEY = "registration.email_confirmation"


def _put(client: FlaskClient, headers: dict[str, str], path: str, **parts: str) -> Any:
    return client.put(f"/notifications/templates/{path}", json={**VALID, **parts}, headers=headers)


def test_every_contract_key_is_listed_in_french_english_and_italian(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    answer = client.get("/notifications/templates?limit=500", headers=reader)
    assert answer.status_code == 200
    listed = {(item["key"], item["language"]) for item in answer.json["items"]}
    for key in FIXED_KEYS:
        assert {(key, "fr"), (key, "en"), (key, "it")} <= listed
    assert all(item["is_predefined"] for item in answer.json["items"])


def test_a_saved_template_replaces_the_shipped_one_and_delete_restores_it(
    client: FlaskClient, reader: dict[str, str], writer: dict[str, str]
) -> None:
    shipped = client.get(f"/notifications/templates/{KEY}/fr", headers=reader)
    assert shipped.status_code == 200 and shipped.json["is_predefined"] is True

    saved = _put(client, writer, f"{KEY}/fr-fr")
    assert saved.status_code == 200, saved.json
    assert saved.json["language"] == "fr_FR"
    assert client.get(f"/notifications/templates/{KEY}/fr_FR", headers=reader).json == saved.json

    saved = _put(client, writer, f"{KEY}/fr")
    assert saved.json["subject"] == VALID["subject"] and saved.json["is_predefined"] is False
    assert client.delete(f"/notifications/templates/{KEY}/fr", headers=writer).status_code == 204
    assert client.get(f"/notifications/templates/{KEY}/fr", headers=reader).json == shipped.json


def test_a_syntax_error_is_a_422_naming_the_part_and_the_line(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    answer = _put(client, writer, f"{KEY}/en", body_text="line one\nline two\n{% if %}\n")
    assert answer.status_code == 422
    [message] = answer.json["errors"]["json"]["body_text"]
    assert message.startswith("line 3:")


def test_an_unknown_variable_is_a_422_naming_it_and_its_line(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    answer = _put(client, writer, f"{KEY}/en", body_html="<p>\n{{ customer.name }}\n{{ secret }}")
    assert answer.status_code == 422
    [message] = answer.json["errors"]["json"]["body_html"]
    assert message.startswith("line 3: unknown variable 'secret'")
    # `tag` is given to tag.applied.<id> only
    answer = _put(client, writer, f"{KEY}/en", subject="{{ tag.name }}")
    assert answer.status_code == 422 and "subject" in answer.json["errors"]["json"]


@pytest.mark.parametrize(
    "probe",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ customer.__class__ }}",
        "{{ link.__add__ }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 10000000 }}",
    ],
)
def test_sandbox_escapes_and_runaway_templates_are_refused_when_saved(
    client: FlaskClient, writer: dict[str, str], probe: str
) -> None:
    answer = _put(client, writer, f"{KEY}/en", body_text=probe)
    assert answer.status_code == 422
    assert "body_text" in answer.json["errors"]["json"]


def test_a_subject_with_a_line_break_is_refused(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    answer = _put(client, writer, f"{KEY}/en", subject="Hi\r\nBcc: all@example.com")
    assert answer.status_code == 422
    assert "subject" in answer.json["errors"]["json"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("registration.unknown/en", "key"),
        ("tag.applied.not-a-uuid/en", "key"),
        (f"{KEY}/english!", "language"),
    ],
)
def test_an_unknown_key_or_a_malformed_language_is_refused_naming_it(
    client: FlaskClient, writer: dict[str, str], path: str, field: str
) -> None:
    answer = _put(client, writer, path)
    assert answer.status_code in (404, 422)
    assert field in answer.json["errors"]["path"]


def test_tag_and_status_keys_take_their_own_variables(
    client: FlaskClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    tag_key = "tag.applied.7d7c0a6e-3f0e-4e4e-9a51-0d1c7b2f9a10"
    answer = _put(
        client, writer, f"{tag_key}/it", subject="{{ tag.name }}", body_text="{{ tag.name }}",
        body_html="<b>{{ tag.name }}</b>",
    )  # fmt: skip
    assert answer.status_code == 200, answer.json
    listed = client.get(f"/notifications/templates?key={tag_key}", headers=reader).json["items"]
    assert [(t["key"], t["language"]) for t in listed] == [(tag_key, "it")]
    status = _put(
        client, writer, "status.changed.vip/en", subject="{{ status.to }}",
        body_text="{{ status.from }}", body_html="{{ status.to }}",
    )  # fmt: skip
    assert status.status_code == 200, status.json


def test_a_stale_if_match_is_a_412_and_writes_need_the_scope(
    client: FlaskClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    first = _put(client, writer, f"{KEY}/en")
    assert _put(client, reader, f"{KEY}/en").status_code == 403
    stale = {**writer, "If-Match": first.headers["ETag"]}
    assert _put(client, stale, f"{KEY}/en").status_code == 200
    assert _put(client, stale, f"{KEY}/en").status_code == 412
    assert client.delete(f"/notifications/templates/{KEY}/en", headers=stale).status_code == 412


def test_settings_are_read_and_replaced(
    client: FlaskClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    assert client.get("/notifications/settings", headers=reader).json == {
        "default_language": "en",
        "admin_emails": [],
    }
    body = {"default_language": "fr-be", "admin_emails": ["Boss@Example.com"]}
    answer = client.put("/notifications/settings", json=body, headers=writer)
    assert answer.status_code == 200
    assert answer.json == {"default_language": "fr_BE", "admin_emails": ["boss@example.com"]}
    bad = client.put(
        "/notifications/settings",
        json={"default_language": "??", "admin_emails": ["nope"]},
        headers=writer,
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]["json"]) == {"default_language", "admin_emails"}
