"""The benchmark harness: results, the table they print in, and isolated servers to run on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
AMQP_HOST = "127.0.0.1"
AMQP_PORT = int(os.environ.get("CRM_BENCH_AMQP_PORT", "5672"))


class Result(NamedTuple):
    """One figure of a benchmark, beside the raw baseline measured in the same run."""

    name: str
    figure: float
    unit: str
    baseline: float | None
    higher_is_better: bool = True
    goal: str = ""
    note: str = ""


Benchmark = Callable[[], list[Result]]


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment (to scale a benchmark up or down)."""
    return int(os.environ.get(name, str(default)))


def env_float(name: str, default: float) -> float:
    """A float setting from the environment."""
    return float(os.environ.get(name, str(default)))


def say(message: str) -> None:
    """A progress line on stderr, so that the table on stdout stays clean."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _format_number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(result: Result) -> str:
    if result.baseline is None or result.baseline == 0 or result.figure == 0:
        return "-"
    ratio = result.figure / result.baseline
    # For throughput the ratio reads "fraction of the raw speed"; for latency, "times slower".
    return f"{ratio:.2f}x"


def format_table(results: Sequence[tuple[str, Result]]) -> str:
    """The results as an aligned text table, goals and notes on the lines under their figure."""
    header = ("benchmark", "figure", "baseline", "ratio", "better")
    rows: list[tuple[str, str, str, str, str]] = []
    notes: dict[int, list[str]] = {}
    for benchmark, result in results:
        unit = f" {result.unit}"
        baseline = "-" if result.baseline is None else _format_number(result.baseline) + unit
        rows.append(
            (
                f"{benchmark}: {result.name}",
                _format_number(result.figure) + unit,
                baseline,
                _ratio(result),
                "higher" if result.higher_is_better else "lower",
            )
        )
        notes[len(rows) - 1] = [
            f"{label}: {text}"
            for label, text in (("goal", result.goal), ("note", result.note))
            if text
        ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    for index, row in enumerate(rows):
        out.append(line(row))
        out.extend(f"    {text}" for text in notes[index])
    return "\n".join(out)


# --- isolated servers ---------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    completed = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120
    )
    if check and completed.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {completed.stderr.strip()}")


def fresh_vhost(name: str = "crm_bench") -> str:
    """Delete and recreate a RabbitMQ virtual host for guest; its AMQP URL."""
    if not answers(AMQP_HOST, AMQP_PORT):
        raise RuntimeError(f"RabbitMQ does not answer on {AMQP_HOST}:{AMQP_PORT}")
    _rabbitmqctl("delete_vhost", name, check=False)
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{name}"


def fresh_database(name: str) -> str:
    """Drop and recreate a PostgreSQL database; its SQLAlchemy URL."""
    admin_url = make_url(PG_ADMIN_URL)
    if not answers(admin_url.host or "127.0.0.1", admin_url.port or 5432):
        raise RuntimeError(f"PostgreSQL does not answer on {admin_url.host}:{admin_url.port}")
    admin = sa.create_engine(
        admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)
