"""Helpers of the notifications sending tests: configuration, the delivery log, emails read."""

from __future__ import annotations

import socket
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.notifications.config import NotificationsConfig, RetryPolicy, SmtpConfig
from services.notifications.models import Delivery
from tests.backbone import wait_until

OWNERS = {"customer": "customers", "registration": "registration", "account": "registration",
          "device": "registration"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_for(port: int, lease: float = 300.0) -> NotificationsConfig:
    return NotificationsConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=port, timeout=5),
        retry=RetryPolicy(base=0.2, maximum=0.5, max_attempts=50),
        sending_lease=lease,
    )


def contact(**fields: Any) -> dict[str, Any]:
    base = {"email": f"c-{uuid.uuid4().hex[:8]}@example.com", "language": "fr",
            "first_name": "Ada", "last_name": "Lovelace", "company_name": None,
            "email_consent": True, "newsletter_subscribed": False}  # fmt: skip
    return {**base, **fields}


def deliveries(app: Flask, **where: Any) -> list[Delivery]:
    statement = select(Delivery).order_by(Delivery.created_at)
    for name, value in where.items():
        statement = statement.where(getattr(Delivery, name) == value)
    with app.extensions["crm"].session_factory() as session:
        return list(session.scalars(statement))


def settled(app: Flask, count: int, **where: Any) -> list[Delivery]:
    return wait_until(  # type: ignore[no-any-return]
        lambda: (
            (rows := deliveries(app, **where))
            and len(rows) >= count
            and all(r.status not in ("pending", "sending") for r in rows)
            and rows
        )
    )


def parsed(path: Path) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def save(client: FlaskClient, headers: dict[str, str], key: str, language: str, text: str) -> None:
    answer = client.put(
        f"/notifications/templates/{key}/{language}",
        json={"subject": text, "body_text": text, "body_html": f"<p>{text}</p>"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.json
