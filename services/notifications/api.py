"""HTTP endpoints of the notifications service."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/notifications",
    description="Multilingual email templates, rendering, sending and the delivery log.",
)
