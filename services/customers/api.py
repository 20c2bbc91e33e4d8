"""HTTP endpoints of the customers service."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "customers",
    __name__,
    url_prefix="/customers",
    description="Customer profiles, statuses, customer tags, lists and filters, bulk actions.",
)
