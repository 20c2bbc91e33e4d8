"""HTTP endpoints of the automation service."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "automation",
    __name__,
    url_prefix="/automation",
    description="Status and tag rules driven by internal and external events.",
)
