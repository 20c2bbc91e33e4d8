"""Prometheus metrics of every service: HTTP requests, events, outbox backlog."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

HTTP_REQUESTS = Counter(
    "crm_http_requests_total", "HTTP requests answered", ["service", "method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "crm_events_published_total", "Events published from the outbox", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "crm_events_consumed_total", "Events handled by a consumer", ["service", "type", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "crm_events_dead_lettered_total", "Messages sent to a dead-letter queue", ["service", "reason"]
)


class BacklogCollector(Collector):
    """Reads the outbox backlog from the database at scrape time."""

    def __init__(self, service: str, backlog: Callable[[], int]) -> None:
        self.service = service
        self.backlog = backlog

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "crm_outbox_backlog", "Committed events not yet published", labels=["service"]
        )
        try:
            gauge.add_metric([self.service], float(self.backlog()))
        except Exception:  # noqa: BLE001  (a scrape must not fail because the database is down)
            gauge.add_metric([self.service], float("nan"))
        yield gauge


def render(service_collectors: Iterable[Collector]) -> tuple[bytes, str]:
    """The exposition text: this process's metrics (or every process's, in multiprocess mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    for collector in service_collectors:
        extra.register(collector)
    return body + generate_latest(extra), CONTENT_TYPE_LATEST
