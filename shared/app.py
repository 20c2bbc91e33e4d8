"""Builds a service's Flask app: config, auth, correlation ids, metrics, health and API docs."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, current_app, g, jsonify, request, send_from_directory
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.api import (
    CORRELATION_HEADER,
    Api,
    Refusal,
    answer_refusal,
    answer_unexpected,
    refuse_control_characters_in_path,
)
from shared.auth.verification import TokenVerifier
from shared.db import (
    UnitOfWorkFactory,
    make_engine,
    make_read_session_factory,
    make_session_factory,
)
from shared.docs_page import install_docs_page
from shared.events.publisher import make_connection
from shared.events.relay import outbox_backlog
from shared.logging import accept_correlation_id, correlation_id
from shared.settings import Settings

access_log = logging.getLogger("crm.access")
readiness_log = logging.getLogger("crm.readiness")


@dataclass
class ServiceContext:
    """What a service's views need, built once per app."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    uow: UnitOfWorkFactory
    reads: sessionmaker[Session]
    """Autocommit sessions for answering reads (`shared.db.make_read_session_factory`)."""


def service_context() -> ServiceContext:
    """The current app's service context."""
    return current_app.extensions["crm"]  # type: ignore[no-any-return]


def create_service_app(
    settings: Settings,
    title: str,
    blueprints: Iterable[Any],
    description: str = "",
    engine: Engine | None = None,
) -> Flask:
    """A Flask app serving `blueprints` and the ops endpoints under `/<service>`."""
    service = settings.service
    prefix = f"/{service}"
    app = Flask(f"services.{service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=prefix,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{prefix}/docs/assets/",
        API_SPEC_OPTIONS={"info": {"description": description}},
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
    )
    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    app.extensions["crm"] = ServiceContext(
        settings,
        engine,
        session_factory,
        UnitOfWorkFactory(session_factory, service),
        make_read_session_factory(engine),
    )
    app.extensions["crm.token_verifier"] = TokenVerifier(settings)
    api = Api(app)
    app.register_error_handler(Refusal, answer_refusal)
    app.register_error_handler(OperationalError, _answer_unavailable_database)
    # Anything else a view raises: a generic 500 with an error id, the traceback in the log.
    # (HTTPException, Refusal and OperationalError keep their more specific handlers.)
    app.register_error_handler(Exception, answer_unexpected)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    _register_request_hooks(app, service)
    _register_ops_endpoints(app, settings, session_factory)
    install_docs_page(app, prefix)
    return app


class DatabaseUnavailable(Refusal):
    """The database was unreachable, restarted or gave up (deadlock, timeout): try again."""

    status = 503

    def message(self) -> str:
        return "the database is unavailable; try again shortly"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


def _answer_unavailable_database(error: OperationalError) -> Any:
    # The operational errors (connection lost or refused, deadlock, statement timeout) are
    # transient: the transaction did not commit (unless the connection was lost during COMMIT
    # itself), a lost connection made the pool renew itself, and the client may retry. Every
    # other database error is a bug and stays a 500.
    logging.getLogger("crm.db").warning("database unavailable: %s", error.orig)
    return answer_refusal(DatabaseUnavailable())


def _register_request_hooks(app: Flask, service: str) -> None:
    @app.before_request
    def _start() -> None:
        cid = accept_correlation_id(request.headers.get(CORRELATION_HEADER))
        g.correlation_token = correlation_id.set(cid)
        g.started = time.perf_counter()

    # Query and body fields are checked by the schemas (shared.api.Schema); path parameters
    # that are text (e.g. `/customers/statuses/<key>`) reach no schema, so they are checked here.
    app.before_request(refuse_control_characters_in_path)

    @app.after_request
    def _finish(response: Response) -> Response:
        cid = correlation_id.get()
        if cid:
            response.headers[CORRELATION_HEADER] = cid
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.HTTP_REQUESTS.labels(service, request.method, endpoint, response.status_code).inc()
        elapsed = time.perf_counter() - g.started if "started" in g else 0.0
        metrics.HTTP_LATENCY.labels(service, endpoint).observe(elapsed)
        principal = g.get("principal")
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "subject": principal.subject if principal else None,
            },
        )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            correlation_id.reset(token)


READY_CACHE_SECONDS = 5.0
NOT_READY_CACHE_SECONDS = 1.0


class Readiness:
    """The database and broker checks, run at most once per few seconds whoever asks.

    Readiness is unauthenticated: without the cache each call would open a database session and
    a broker connection. A failure is kept for less time, so that recovery shows quickly. The
    answer says only `ok` or `unreachable`; the reason goes to the log.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.clock = clock
        self._lock = threading.Lock()
        self._checks: dict[str, str] = {}
        self._until = float("-inf")

    def checks(self) -> dict[str, str]:
        """`{"database": "ok"|"unreachable", "broker": ...}`, from the cache while fresh."""
        with self._lock:  # one check at a time; the others wait and read its result
            if self.clock() >= self._until:
                self._checks = {"database": self._database(), "broker": self._broker()}
                fresh_for = (
                    READY_CACHE_SECONDS
                    if all(value == "ok" for value in self._checks.values())
                    else NOT_READY_CACHE_SECONDS
                )
                self._until = self.clock() + fresh_for
            return dict(self._checks)

    def _database(self) -> str:
        try:
            with self.session_factory() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001
            readiness_log.warning("readiness: database unreachable", exc_info=True)
            return "unreachable"
        return "ok"

    def _broker(self) -> str:
        try:
            with make_connection(self.settings.broker_url) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception:  # noqa: BLE001
            readiness_log.warning("readiness: broker unreachable", exc_info=True)
            return "unreachable"
        return "ok"


def _register_ops_endpoints(
    app: Flask, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    prefix = f"/{settings.service}"
    backlog_collector = metrics.BacklogCollector(
        settings.service, functools.partial(outbox_backlog, session_factory)
    )

    @app.get(f"{prefix}/healthz")
    def healthz() -> Any:
        """The process is up."""
        return jsonify(status="ok", service=settings.service)

    readiness = app.extensions["crm.readiness"] = Readiness(settings, session_factory)

    @app.get(f"{prefix}/readyz")
    def readyz() -> Any:
        """The database and the broker answer (checked at most every few seconds)."""
        checks = readiness.checks()
        ready = all(value == "ok" for value in checks.values())
        return jsonify(status="ready" if ready else "not ready", checks=checks), (
            200 if ready else 503
        )

    @app.get(f"{prefix}/metrics")
    def metrics_endpoint() -> Any:
        """Prometheus metrics."""
        body, content_type = metrics.render([backlog_collector])
        return Response(body, content_type=content_type)

    @app.get(f"{prefix}/docs/assets/<path:filename>")
    def swagger_assets(filename: str) -> Any:
        """Swagger UI's own files, served here so the docs work offline."""
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)
