"""The registration service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.registration.api import blp
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The registration service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("registration")
    return create_service_app(
        settings,
        title="Registration",
        description="Sign-up, email validation, approval, login, devices and credentials.",
        blueprints=[blp],
    )
