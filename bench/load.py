"""The fallback HTTP load generator (stdlib only, so that its processes start fast)."""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple


class Load(NamedTuple):
    """What a load generator measured."""

    requests_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    tool: str


def _connection_loop(
    port: int,
    path: str,
    headers: dict[str, str],
    window: tuple[float, float],
    latencies: list[float],
    errors: list[int],
) -> None:
    measured_from, deadline = window
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        while (started := time.perf_counter()) < deadline:
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors.append(1)
                connection.close()  # the next request opens a new connection
                continue
            if started >= measured_from:
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    errors.append(1)
    finally:
        connection.close()


def load_process(
    port: int, path: str, headers: dict[str, str], connections: int, warmup: float, seconds: float
) -> tuple[list[float], int]:
    """`connections` keep-alive connections in threads: a warm-up, then `seconds` measured."""
    measured_from = time.perf_counter() + warmup
    window = (measured_from, measured_from + seconds)
    latencies: list[float] = []
    errors: list[int] = []
    threads = [
        threading.Thread(
            target=_connection_loop, args=(port, path, headers, window, latencies, errors)
        )
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(warmup + seconds + 10)
    return latencies, len(errors)


def run_python_load(
    port: int,
    path: str,
    headers: dict[str, str],
    processes: int,
    connections: int,
    warmup: float,
    seconds: float,
) -> Load:
    """`processes` load processes sharing `connections` connections; requests/s, p50, p99."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                load_process, port, path, headers, connections // processes, warmup, seconds
            )
            for _ in range(processes)
        ]
        outcomes = [future.result(timeout=warmup + seconds + 60) for future in futures]
    latencies = sorted(latency for batch, _ in outcomes for latency in batch)
    errors = sum(count for _, count in outcomes)
    if not latencies:
        return Load(0.0, None, None, errors, "python")

    def percentile(fraction: float) -> float:
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000

    return Load(len(latencies) / seconds, percentile(0.50), percentile(0.99), errors, "python")
