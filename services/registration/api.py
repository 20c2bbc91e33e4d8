"""HTTP endpoints of the registration service."""

from __future__ import annotations

from shared.api import Blueprint

blp = Blueprint(
    "registration",
    __name__,
    url_prefix="/registration",
    description="Sign-up, email validation, approval, login, devices and credentials.",
)
