"""HTTP endpoints of the customers service: tagging."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint("customers-tagging", __name__, url_prefix="/customers", description="Customers: tagging.")
