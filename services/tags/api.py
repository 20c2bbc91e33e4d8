"""HTTP endpoints of the tags service."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "tags",
    __name__,
    url_prefix="/tags",
    description="The tag catalogue: names, descriptions, colours, order, fixed tags, merge.",
)
