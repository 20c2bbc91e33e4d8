"""JSON-lines logging with the correlation id of the request or event being handled."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
_service: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def current_correlation_id() -> str | None:
    """The correlation id of what this thread is handling, if any."""
    return correlation_id.get()


def new_correlation_id() -> str:
    """A fresh correlation id."""
    return str(uuid.uuid4())


CORRELATION_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""What a correlation id from outside may be: it is echoed, logged and put on events."""


def accept_correlation_id(incoming: str | None) -> str:
    """`incoming` if it is a well-formed correlation id, otherwise a fresh one."""
    if incoming and CORRELATION_ID_PATTERN.fullmatch(incoming):
        return incoming
    return new_correlation_id()


@contextmanager
def correlated(value: str | None, service: str | None = None) -> Iterator[None]:
    """Run a block with `value` as the correlation id of every log line and event."""
    token = correlation_id.set(value)
    service_token = _service.set(service) if service else None
    try:
        yield
    finally:
        correlation_id.reset(token)
        if service_token is not None:
            _service.reset(service_token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid, service = getattr(record, "_crm_context", (None, None))
        if cid:
            line["correlation_id"] = cid
        if service:
            line["service"] = service
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


_base_factory = logging.getLogRecordFactory()


def _record_with_context(*args: object, **kwargs: object) -> logging.LogRecord:
    # Read the context when the record is made, in the thread that logs, not when formatted.
    record = _base_factory(*args, **kwargs)
    record._crm_context = (correlation_id.get(), _service.get())
    return record


if getattr(_base_factory, "__name__", "") != "_record_with_context":
    logging.setLogRecordFactory(_record_with_context)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as a JSON line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqp", "kombu", "werkzeug", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
