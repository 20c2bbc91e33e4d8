"""`make stack`: the real mode on this machine, supervised like compose's `restart: unless-stopped`.

One stack for the module (fixed ports: the gateway on 8000, the web processes on 8101-8105, so
`serial`), on databases and a RabbitMQ virtual host of its own. Each kind of process (a web, a
worker, the mail sink, the gateway) is killed with SIGKILL once: it must come back and the suite
answer again through the gateway, the other processes serving meanwhile. Stopping `make stack` as
Ctrl-C does (SIGINT to its process group) must leave no process behind.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shared.events.owners import broker_user
from shared.settings import SERVICES
from tests.backbone import wait_until
from tests.conftest import TEST_SECRET, _drop_pg_database, _recreate_pg_database
from tests.e2e.test_embedded_mode import free_port
from tests.servers import (
    PG_ADMIN_URL,
    broker_user_url,
    delete_vhost,
    fresh_vhost,
    require_postgres,
    require_rabbitmq,
)

pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[2]
CRM = str(Path(sys.executable).with_name("crm"))
GATEWAY = "http://127.0.0.1:8000"
WEB_PORTS = dict(zip(SERVICES, range(8101, 8106), strict=True))
VHOST = "crm_stack_test"
STARTUP = 300.0  # the first run may install nginx with apt-get
RECOVERY = 90.0


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    marker: str
    log: Path
    env: dict[str, str]
    smtp_port: int
    customers_db: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def marked_processes(marker: str) -> dict[int, tuple[int, str]]:
    """Every live process of this stack: pid -> (parent pid, command line).

    Those whose environment carries the marker, and their descendants (nginx writes its process
    title over its environment).
    """
    table: dict[int, tuple[int, str, bool]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            marked = marker.encode() in (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            table[int(entry.name)] = (int(ppid), cmdline, marked)

    def of_stack(pid: int, depth: int = 0) -> bool:
        if pid not in table or depth > 50:
            return False
        ppid, _, marked = table[pid]
        return marked or of_stack(ppid, depth + 1)

    return {pid: (ppid, cmd) for pid, (ppid, cmd, _) in table.items() if of_stack(pid)}


def top_process(marker: str, needle: str) -> int | None:
    """The topmost live process of the stack running `needle` (not the shell that started it)."""
    processes = marked_processes(marker)
    running = {  # orphans (a killed master's workers, adopted by init) do not count
        pid: (ppid, cmdline)
        for pid, (ppid, cmdline) in processes.items()
        if needle in cmdline and not cmdline.startswith("/bin/sh -c") and ppid in processes
    }
    tops = [pid for pid, (ppid, _) in running.items() if ppid not in running]
    return tops[0] if tops else None


def answers(path: str, base: str = GATEWAY) -> bool:
    try:
        return requests.get(f"{base}{path}", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def all_services_answer() -> bool:
    return all(answers(f"/{service}/healthz") for service in SERVICES)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_postgres()
    require_rabbitmq()
    busy = [port for port in (8000, *WEB_PORTS.values()) if _listening(port)]
    if busy:
        # A failure, not a skip: a green run must mean the stack's tests ran.
        pytest.fail(
            f"ports {busy} are taken: stop the suite running there (make run, make stack) and "
            "run again; the stack's tests need them"
        )
    tmp = tmp_path_factory.mktemp("stack")
    server = make_url(PG_ADMIN_URL).set(database="").render_as_string(hide_password=False)
    database_url = server.rstrip("/") + "/crm_stack_test_{service}"
    urls = [database_url.replace("{service}", service) for service in SERVICES]
    for url in urls:
        _recreate_pg_database(url)
    # Each service as its own broker user, as `make stack` does on the default vhost.
    vhost_url = fresh_vhost(VHOST)
    for service in SERVICES:
        broker_user_url(vhost_url, broker_user(service))
    broker_url = vhost_url.replace("guest:guest", "crm-{service}:dev-crm-{service}")
    marker = f"crm-stack-test-{uuid.uuid4().hex}"
    smtp_port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not (name.startswith("CRM_") or name == "PORT" or name.startswith("PYTEST"))
    }
    env.update(
        CRM_STACK_TEST_MARKER=marker,
        CRM_ENV="development",
        CRM_DATABASE_URL=database_url,
        CRM_BROKER_URL=broker_url,
        CRM_JWT_SECRET=TEST_SECRET,
        CRM_SMTP_HOST="127.0.0.1",
        CRM_SMTP_PORT=str(smtp_port),
        CRM_MAIL_DIR=str(tmp / "mail"),
        CRM_LOG_LEVEL="WARNING",
        WEB_CONCURRENCY="1",
    )
    log = tmp / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "stack"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Stack(process, marker, log, env, smtp_port, urls[0])

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(running.output()[-4000:])
        return all_services_answer()

    try:
        wait_until(up, timeout=STARTUP, interval=0.5)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid in marked_processes(marker):  # only when the stop test failed
            os.kill(pid, signal.SIGKILL)
        delete_vhost(VHOST)
        for url in urls:
            _drop_pg_database(url)


def kill_and_wait_for_restart(stack: Stack, needle: str) -> int:
    """SIGKILL the stack's process running `needle`; the pid of the one started instead."""
    pid = top_process(stack.marker, needle)
    assert pid, f"no process runs {needle!r}: {marked_processes(stack.marker)}"
    os.kill(pid, signal.SIGKILL)
    new = wait_until(
        lambda: (found := top_process(stack.marker, needle)) not in (None, pid) and found,
        timeout=RECOVERY,
        interval=0.2,
    )
    return int(new)


def staff_token(stack: Stack, scope: str) -> str:
    done = subprocess.run(
        [CRM, "token", "--scope", scope], env=stack.env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_killed_web_process_restarts_while_the_others_serve(stack: Stack) -> None:
    kill_and_wait_for_restart(stack, "crm web tags")
    # The other services never stopped; tags answers again through the gateway.
    assert answers("/customers/healthz") and answers("/registration/healthz")
    wait_until(lambda: answers("/tags/healthz"), timeout=RECOVERY, interval=0.2)
    assert "tags-web (pid" in stack.output() and "restart 1 in" in stack.output()
    assert all_services_answer()


def test_a_killed_worker_restarts_and_consumes_again(stack: Stack) -> None:
    kill_and_wait_for_restart(stack, "crm worker customers")
    token = staff_token(stack, "tags:write")
    name = f"Stack {uuid.uuid4().hex[:8]}"
    created = requests.post(
        f"{GATEWAY}/tags",
        json={"name": name, "description": "after a worker restart", "color": "#123456"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    engine = sa.create_engine(stack.customers_db, poolclass=sa.pool.NullPool)

    def projected() -> list[str]:
        with engine.connect() as connection:
            query = sa.text("SELECT name FROM tag_projection WHERE id = :id")
            return list(connection.scalars(query, {"id": created.json()["id"]}))

    try:
        assert wait_until(projected, timeout=RECOVERY, interval=0.2) == [name]
    finally:
        engine.dispose()
    assert all_services_answer()


def test_a_killed_mail_sink_restarts(stack: Stack) -> None:
    kill_and_wait_for_restart(stack, "crm mail-sink")

    def smtp_answers() -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=5) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    wait_until(smtp_answers, timeout=RECOVERY, interval=0.2)
    assert all_services_answer()


def test_a_killed_gateway_restarts(stack: Stack) -> None:
    kill_and_wait_for_restart(stack, "nginx: master process")
    wait_until(all_services_answer, timeout=RECOVERY, interval=0.2)


@pytest.mark.parametrize("service", SERVICES)
def test_ops_endpoints_are_not_public_but_answer_on_the_web_port(
    stack: Stack, service: str
) -> None:
    for path in (f"/{service}/metrics", f"/{service}/readyz", f"/{service}/metrics/"):
        response = requests.get(f"{GATEWAY}{path}", timeout=10)
        assert response.status_code == 404, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{GATEWAY}/{service}/healthz", timeout=10).status_code == 200
    direct = f"http://127.0.0.1:{WEB_PORTS[service]}"
    metrics = requests.get(f"{direct}/{service}/metrics", timeout=10)
    assert metrics.status_code == 200 and "crm_http_requests_total" in metrics.text
    wait_until(lambda: answers(f"/{service}/readyz", base=direct), timeout=30)


def test_edge_headers_through_the_gateway(stack: Stack) -> None:
    token = staff_token(stack, "customers:read")
    authenticated = requests.get(
        f"{GATEWAY}/tags", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert authenticated.status_code == 200, authenticated.text
    for response in (authenticated, requests.get(f"{GATEWAY}/tags/healthz", timeout=10)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert authenticated.headers["Cache-Control"] == "no-store"
    docs = requests.get(f"{GATEWAY}/tags/docs", timeout=10)
    assert docs.status_code == 200
    csp = docs.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "<script>" not in docs.text  # Swagger UI starts from a served file
    assert requests.get(f"{GATEWAY}/tags/docs/init.js", timeout=10).status_code == 200
    # Query strings are not logged: the gateway's access log has the path alone.
    requests.get(f"{GATEWAY}/customers?q=someone%40example.com", timeout=10)
    access_log = (ROOT / "var" / "nginx" / "access.log").read_text()
    assert "GET /customers " in access_log and "someone" not in access_log


@pytest.mark.parametrize(
    ("path", "megabytes", "refused"),
    [
        ("/tags", 1.5, True),
        (f"/customers/{uuid.uuid4()}/avatar", 2.5, False),
        (f"/customers/{uuid.uuid4()}/avatar", 3.5, True),
        ("/customers/imports", 8, False),
    ],
)
def test_each_route_limits_its_body(stack: Stack, path: str, megabytes: float, refused: bool):
    body = b"x" * int(megabytes * 1024 * 1024)
    response = requests.post(f"{GATEWAY}{path}", data=body, timeout=30)
    assert (response.status_code == 413) is refused, (response.status_code, response.text[:200])
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_stopping_the_stack_leaves_no_process_behind(stack: Stack) -> None:
    # Last in this module: stops the stack as Ctrl-C in its terminal does.
    assert marked_processes(stack.marker)
    os.killpg(stack.process.pid, signal.SIGINT)
    stack.process.wait(60)
    wait_until(lambda: not marked_processes(stack.marker), timeout=60, interval=0.5)
    ports = [8000, *WEB_PORTS.values(), stack.smtp_port]
    wait_until(lambda: not any(_listening(port) for port in ports), timeout=30, interval=0.5)
    assert "stopping" in stack.output()
