"""The recolour probe: seconds from `PATCH /tags/{id}` (a new colour) to `GET /customers/{id}`
showing that colour on a customer carrying the tag, as a front end sees it (#8).

The same rounds run against the embedded suite's WSGI app (`bench_latency`) or against a running
suite over HTTP: `python -m bench.recolour [http://127.0.0.1:8000]` with `make run` or
`make stack` up (a development token from `crm token`), which prints p50/p95 and where the time
goes (the PATCH's own answer, then the wait for the event).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (method, path, json body) -> (status, parsed body)
Call = Callable[[str, str, Any], tuple[int, Any]]

SCOPES = ["tags:write", "customers:read", "customers:write"]


def probe(call: Call, rounds: int) -> tuple[list[float], list[float]]:
    """(recolour latencies, PATCH answer times), in seconds, over `rounds` recolours."""
    stamp = f"{time.time_ns():x}"
    tag = _created(
        call(
            "POST",
            "/tags",
            {"name": f"Probe {stamp}", "description": "Recolour probe", "color": "#000000"},
        )
    )
    customer = _created(
        call(
            "POST",
            "/customers",
            {
                "kind": "individual",
                "first_name": "Probe",
                "last_name": "Bench",
                "email": f"probe-{stamp}@bench.example",
            },
        )
    )
    _created(call("POST", f"/customers/{customer['id']}/tags", {"tag_id": tag["id"]}))
    latencies, patches = [], []
    for n in range(rounds):
        colour = f"#{(n * 2654435761 + 1) % 0xFFFFFF:06x}"
        started = time.perf_counter()
        status, _ = call("PATCH", f"/tags/{tag['id']}", {"color": colour})
        if status != 200:
            raise RuntimeError(f"PATCH /tags/{tag['id']}: {status}")
        patches.append(time.perf_counter() - started)
        while time.perf_counter() - started < 5:
            _, shown = call("GET", f"/customers/{customer['id']}", None)
            if any(t.get("color") == colour for t in shown.get("tags", [])):
                break
        latencies.append(time.perf_counter() - started)
    return latencies, patches


def http_call(base_url: str, token: str) -> Call:
    """A `Call` over one kept-alive HTTP connection, as a browser would hold it."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(method: str, path: str, body: Any) -> tuple[int, Any]:
        response = session.request(method, base_url + path, json=body, timeout=10)
        return response.status_code, response.json() if response.content else None

    return call


def development_token() -> str:
    """A staff token for the probe's scopes, as `crm token` signs it in development."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "crm"), "token", "--scope", " ".join(SCOPES)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "CRM_ENV": os.environ.get("CRM_ENV", "development")},
    ).stdout.strip()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _created(answer: tuple[int, Any]) -> Any:
    status, body = answer
    if status not in (200, 201):
        raise RuntimeError(f"{status}: {str(body)[:500]}")
    return body


def main(argv: list[str]) -> int:
    base_url = (argv[0] if argv else "http://127.0.0.1:8000").rstrip("/")
    rounds = int(argv[1]) if len(argv) > 1 else 60
    token = development_token()
    latencies, patches = probe(http_call(base_url, token), rounds)
    ms = [s * 1000 for s in latencies]
    patch_ms = [s * 1000 for s in patches]
    print(
        f"recolour through {base_url}, {rounds} rounds: p50 {statistics.median(ms):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms (goal p50 < 30, p95 < 100); "
        f"PATCH answered p50 {statistics.median(patch_ms):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
