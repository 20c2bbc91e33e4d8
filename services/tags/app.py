"""The tags service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.tags.api import blp
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The tags service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("tags")
    return create_service_app(
        settings,
        title="Tags",
        description="The tag catalogue: names, descriptions, colours, order, fixed tags, merge.",
        blueprints=[blp],
    )
