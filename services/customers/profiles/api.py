"""HTTP endpoints of the customers service: profiles."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint("customers-profiles", __name__, url_prefix="/customers", description="Customers: profiles.")
