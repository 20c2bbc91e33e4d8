"""The notifications service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.notifications.api import blp
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The notifications service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("notifications")
    return create_service_app(
        settings,
        title="Notifications",
        description="Multilingual email templates, rendering, sending and the delivery log.",
        blueprints=[blp],
    )
