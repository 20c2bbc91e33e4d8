"""`make run`: the whole suite in one process, reachable like the real stack."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.auth.issuing import issue_token
from shared.settings import SERVICES, Settings
from tests.backbone import wait_until
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CRM_DATA_DIR": str(data_dir),
        "CRM_LOG_LEVEL": "WARNING",
        "CRM_JWT_SECRET": TEST_SECRET,
    }
    for name in list(env):
        if name.startswith("CRM_") and name.endswith("_URL"):
            env.pop(name)
    log = (data_dir / "serve.log").open("wb")  # noqa: SIM115  (closed in finally)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError((data_dir / "serve.log").read_text()[-3000:])
        try:
            return requests.get(f"{base}/tags/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, timeout=120, interval=0.2)
        yield base, data_dir
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_every_service_answers_its_health_check(embedded):
    base, _ = embedded
    for service in SERVICES:
        response = requests.get(f"{base}/{service}/healthz", timeout=5)
        assert response.json() == {"service": service, "status": "ok"}
        assert requests.get(f"{base}/{service}/readyz", timeout=5).status_code == 200


def test_every_service_serves_its_api_docs_offline(embedded):
    base, _ = embedded
    for service in SERVICES:
        assert requests.get(f"{base}/{service}/openapi.json", timeout=5).json()["openapi"]
        docs = requests.get(f"{base}/{service}/docs", timeout=5)
        assert f"/{service}/docs/assets/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()


def test_an_event_of_one_service_reaches_a_handler_of_another(embedded):
    base, data_dir = embedded
    token = issue_token(
        Settings(jwt_secret=TEST_SECRET),
        "staff:e2e",
        ["tags:write", "customers:read"],
        audience=["tags", "customers"],
    )
    created = requests.post(
        f"{base}/tags",
        json={"name": "Embedded", "description": "made in the e2e test", "color": "#123abc"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    tag_id = created.json()["id"].replace("-", "")

    def projected() -> list[tuple[str, str]]:
        with sqlite3.connect(data_dir / "db" / "customers.sqlite3") as connection:
            return connection.execute(
                "SELECT name, color FROM tag_projection WHERE replace(id, '-', '') = ?",
                (tag_id,),
            ).fetchall()

    assert wait_until(projected, timeout=15) == [("Embedded", "#123abc")]


def test_a_tag_just_created_is_assigned_at_once_and_a_new_name_needs_tags_write(embedded):
    """Read your writes through the suite's own wiring: customers asks tags over HTTP."""
    base, _ = embedded

    def headers(*scopes: str) -> dict[str, str]:
        token = issue_token(
            Settings(jwt_secret=TEST_SECRET),
            "staff:e2e",
            list(scopes),
            audience=["tags", "customers"],
        )
        return {"Authorization": f"Bearer {token}"}

    staff = headers("tags:write", "customers:read", "customers:write")
    customer = requests.post(
        f"{base}/customers",
        json={"kind": "individual", "first_name": "Ada", "last_name": "Lovelace"},
        headers=staff,
        timeout=5,
    ).json()
    tag = requests.post(
        f"{base}/tags",
        json={"name": "Right now", "description": "assigned at once", "color": "#00ff00"},
        headers=staff,
        timeout=5,
    ).json()

    assigned = requests.post(
        f"{base}/customers/{customer['id']}/tags",
        json={"tag_id": tag["id"]},
        headers=staff,
        timeout=10,
    )
    deputy = requests.post(
        f"{base}/customers/{customer['id']}/tags",
        json={"name": "Not a tag yet"},
        headers=headers("customers:read", "customers:write"),
        timeout=10,
    )

    assert assigned.status_code == 200, assigned.text
    assert [t["id"] for t in assigned.json()["tags"]] == [tag["id"]]
    assert deputy.status_code == 403, deputy.text
    listed = requests.get(f"{base}/tags", params={"q": "Not a tag yet"}, headers=staff, timeout=5)
    assert listed.json()["items"] == []
