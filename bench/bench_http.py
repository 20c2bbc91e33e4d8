"""An authenticated small JSON endpoint under gunicorn (2 sync workers), beside bare Flask."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Result, env_float, env_int, say
from bench.http_apps import PATH, bench_token
from bench.load import Load, run_python_load
from bench.servers import WORKERS, Gunicorn, get

THREADS = 2
CONNECTIONS = 16


# --- the servers --------------------------------------------------------------------------------
def find_wrk() -> str | None:
    """The wrk binary; installed with apt-get when missing and allowed (root, no opt-out)."""
    found = shutil.which("wrk")
    if found or os.environ.get("CRM_BENCH_NO_INSTALL") == "1":
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    say("http: wrk is missing; installing it with apt-get (once)")
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=180,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        say(f"http: could not install wrk ({exc!r}); using the Python load generator")
        return None
    return shutil.which("wrk")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    """Requests/s, p50 and p99 and the error count from wrk's --latency report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    errors = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(non_2xx.group(1))
    if sockets := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(count) for count in sockets.groups())
    return Load(
        float(rate.group(1)),
        _ms(p50.group(1)) if p50 else None,
        _ms(p99.group(1)) if p99 else None,
        errors,
        "wrk",
    )


def run_wrk(wrk: str, port: int, headers: dict[str, str], seconds: float) -> Load:
    """wrk with THREADS threads and CONNECTIONS connections for `seconds`."""
    command = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{PATH}")
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    return parse_wrk(completed.stdout)


# --- the benchmark ------------------------------------------------------------------------------
def measure(
    factory: str, data_dir: Path, headers: dict[str, str], wrk: str | None, seconds: float
) -> tuple[Load, Any]:
    """Serve `factory`, check its answer, warm it up, then load it for `seconds`."""
    log = data_dir / f"gunicorn-{factory.removesuffix('()')}.log"
    server = Gunicorn(f"bench.http_apps:{factory}", {"CRM_BENCH_DATA_DIR": str(data_dir)}, log)
    try:
        server.start(PATH, {}, ready=(200, 401), wait=20)
        status, body = get(server.port, PATH, headers, timeout=5)
        if status != 200:
            raise RuntimeError(f"{factory} answered {status}: {body[:500]!r}")
        if factory.startswith("create_bench_app"):
            refused, _ = get(server.port, PATH, {}, timeout=5)
            if refused != 401:
                raise RuntimeError(f"{factory} answered {refused} without a token, not 401")
        say(f"http: {factory} on port {server.port}: {seconds:.0f} s of load")
        if wrk is not None:
            run_wrk(wrk, server.port, headers, 1)  # a warm-up, not measured
            load = run_wrk(wrk, server.port, headers, seconds)
        else:
            load = run_python_load(
                server.port, PATH, headers, THREADS, CONNECTIONS, warmup=1, seconds=seconds
            )
        if load.errors:
            say(f"http: {factory}: {load.errors} errors or non-200 answers during the load")
        return load, json.loads(body)
    finally:
        server.stop()


def bench_http() -> list[Result]:
    """Requests/s and latency of the authenticated endpoint, beside bare Flask."""
    seconds = env_float("CRM_BENCH_HTTP_SECONDS", 10.0)
    wrk = None if env_int("CRM_BENCH_PYTHON_LOAD", 0) else find_wrk()
    headers = {"Authorization": f"Bearer {bench_token()}"}
    with tempfile.TemporaryDirectory(prefix="crm_bench_http_") as scratch:
        data_dir = Path(scratch)
        bare, bare_body = measure("create_bare_app()", data_dir, headers, wrk, seconds)
        ours, our_body = measure("create_bench_app()", data_dir, headers, wrk, seconds)
    if bare_body != our_body:
        say(f"http: the two apps answer different JSON:\n  ours {our_body}\n  bare {bare_body}")
    setup = f"{ours.tool}, {THREADS} threads, {CONNECTIONS} conns, {seconds:.0f} s, {WORKERS} sync"
    results = [
        Result(
            "GET authenticated JSON, req/s",
            ours.requests_per_second,
            "req/s",
            bare.requests_per_second,
            note=f"baseline: bare Flask + jsonify, same gunicorn and token ({setup} workers, which"
            " close each connection)",
        )
    ]
    for label, figure, baseline in (
        ("p50", ours.p50_ms, bare.p50_ms),
        ("p99", ours.p99_ms, bare.p99_ms),
    ):
        if figure is not None:
            results.append(Result(f"latency {label}", figure, "ms", baseline, False))
    return results
