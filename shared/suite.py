"""The five services as one: builds their apps and workers by name, and the embedded suite."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from shared.events.publisher import make_connection
from shared.events.topology import EVENTS_EXCHANGE, declare_topology
from shared.migrations import migrate
from shared.settings import SERVICES, Settings
from shared.worker import Worker

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def check_service(name: str) -> str:
    """The name if it is one of the suite's services; ValueError otherwise."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(SERVICES)}")
    return name


def create_app(settings: Settings) -> Flask:
    """The WSGI app of `settings.service`."""
    module = importlib.import_module(f"services.{check_service(settings.service)}.app")
    return module.create_app(settings)  # type: ignore[no-any-return]


def build_worker(settings: Settings) -> Worker:
    """The worker of `settings.service`, not yet started."""
    module = importlib.import_module(f"services.{check_service(settings.service)}.worker")
    return module.build_worker(settings)  # type: ignore[no-any-return]


def declare_broker_topology(settings: Settings) -> None:
    """Declare the service's queue, bindings and dead-letter queue on the broker.

    Run before any process publishes (by `crm migrate`), so that no event published while a
    consumer is still starting finds its queue missing.
    """
    if settings.embedded:
        return
    module = importlib.import_module(f"services.{check_service(settings.service)}.handlers")
    subscriptions = module.SUBSCRIPTIONS
    with make_connection(settings.broker_url) as connection:
        connection.ensure_connection(max_retries=5, interval_start=0.5, interval_step=1)
        channel = connection.channel()
        try:
            if subscriptions:
                declare_topology(channel, settings.service, subscriptions)
            else:
                EVENTS_EXCHANGE(channel).declare()
        finally:
            channel.close()


class PathDispatcher:
    """Routes by first path segment to the service that owns it, like the gateway does."""

    def __init__(self, apps: dict[str, WsgiApp]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        segment = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        app = self.apps.get(segment)
        if app is not None:
            return app(environ, start_response)
        body: dict[str, Any]
        if segment == "":
            body = {
                "services": {
                    name: {
                        "docs": f"/{name}/docs",
                        "openapi": f"/{name}/openapi.json",
                        "health": f"/{name}/healthz",
                    }
                    for name in self.apps
                }
            }
            status = "200 OK"
        else:
            body = {"code": 404, "status": "Not Found", "message": "no service at this path"}
            status = "404 NOT FOUND"
        payload = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]


class EmbeddedSuite:
    """All five services in one process: one WSGI app, and every worker in threads."""

    def __init__(self, settings: Settings, services: Iterable[str] = SERVICES) -> None:
        self.settings = settings
        self.services = list(services)
        for name in self.services:
            migrate(settings.for_service(name))
        self.apps = {name: create_app(settings.for_service(name)) for name in self.services}
        self.workers = [build_worker(settings.for_service(name)) for name in self.services]
        self.wsgi = PathDispatcher(dict(self.apps.items()))  # type: ignore[arg-type]

    def start(self) -> EmbeddedSuite:
        """Start every worker's consumer, relay and jobs."""
        for worker in self.workers:
            worker.start()
        return self

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()
