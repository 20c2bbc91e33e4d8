"""HTTP endpoints of the customers service: listing."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "customers-listing", __name__, url_prefix="/customers", description="Customers: listing."
)
