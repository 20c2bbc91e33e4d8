"""The notifications service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.notifications.api import blp
from services.notifications.config import NotificationsConfig
from shared.app import create_service_app
from shared.settings import Settings


def create_app(
    settings: Settings | None = None, config: NotificationsConfig | None = None
) -> Flask:
    """The notifications service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("notifications")
    app = create_service_app(
        settings,
        title="Notifications",
        description="Multilingual email templates, rendering, sending and the delivery log.",
        blueprints=[blp],
    )
    app.extensions["crm.notifications"] = config or NotificationsConfig.from_env(
        settings.smtp_host, settings.smtp_port
    )
    return app
