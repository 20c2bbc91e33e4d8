"""The notifications service's own settings, read from the environment (defaults for the rest).

| variable | default | meaning |
|---|---|---|
| `CRM_NOTIFICATIONS_RENDER_MS` | `50` | CPU time one template render may take |
| `CRM_NOTIFICATIONS_RENDER_MAX_CHARS` | `1000000` | characters one rendered part may have |
| `CRM_SMTP_SECURITY` | `none` | `starttls` or `tls` (implicit TLS, e.g. port 465) |
| `CRM_SMTP_USERNAME`, `CRM_SMTP_PASSWORD` | | SMTP login when both are set |
| `CRM_SMTP_CA_FILE` | | PEM certificates to trust for the server's (else the system's) |
| `CRM_SMTP_TIMEOUT` | `30` | seconds to wait for the SMTP server |
| `CRM_SMTP_RETRY_BASE_SECONDS` | `5` | first pause after a temporary failure (doubling, jittered) |
| `CRM_SMTP_RETRY_MAX_SECONDS` | `3600` | longest pause between two tries |
| `CRM_SMTP_MAX_ATTEMPTS` | `20` | tries before an email is `failed` |
| `CRM_NOTIFICATIONS_SENDING_LEASE_SECONDS` | `300` | an email left `sending` longer |
| `CRM_NOTIFICATIONS_SEND_BATCH` | `100` | emails claimed per commit (see `sender.py`) |

An email left `sending` past the lease (its worker died during the send) becomes `ambiguous`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.notifications.rendering import RenderLimits


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the SMTP server (None host: write `.eml` files to the mail directory)."""

    host: str | None = None
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Pauses after temporary failures: `base` doubling up to `maximum`, with jitter."""

    base: float = 5.0
    maximum: float = 3600.0
    max_attempts: int = 20


@dataclass(frozen=True)
class NotificationsConfig:
    """Everything the notifications service reads beyond `shared.settings.Settings`."""

    limits: RenderLimits = field(default_factory=RenderLimits)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sending_lease: float = 300.0
    batch_size: int = 100

    @classmethod
    def from_env(
        cls, smtp_host: str | None, smtp_port: int, env: Mapping[str, str] | None = None
    ) -> NotificationsConfig:
        """The configuration from the environment; SMTP host and port from the settings."""
        env = os.environ if env is None else env
        security = env.get("CRM_SMTP_SECURITY", "none").lower()
        if security not in ("none", "starttls", "tls"):
            raise ValueError("CRM_SMTP_SECURITY is none, starttls or tls")
        return cls(
            limits=RenderLimits(
                cpu_seconds=float(env.get("CRM_NOTIFICATIONS_RENDER_MS", "50")) / 1000,
                max_chars=int(env.get("CRM_NOTIFICATIONS_RENDER_MAX_CHARS", "1000000")),
            ),
            smtp=SmtpConfig(
                host=smtp_host,
                port=smtp_port,
                security=security,
                username=env.get("CRM_SMTP_USERNAME") or None,
                password=env.get("CRM_SMTP_PASSWORD") or None,
                timeout=float(env.get("CRM_SMTP_TIMEOUT", "30")),
                ca_file=env.get("CRM_SMTP_CA_FILE") or None,
            ),
            retry=RetryPolicy(
                base=float(env.get("CRM_SMTP_RETRY_BASE_SECONDS", "5")),
                maximum=float(env.get("CRM_SMTP_RETRY_MAX_SECONDS", "3600")),
                max_attempts=int(env.get("CRM_SMTP_MAX_ATTEMPTS", "20")),
            ),
            sending_lease=float(env.get("CRM_NOTIFICATIONS_SENDING_LEASE_SECONDS", "300")),
            batch_size=max(1, int(env.get("CRM_NOTIFICATIONS_SEND_BATCH", "100"))),
        )
