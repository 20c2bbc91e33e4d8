"""`new_customer` given the status keys read once (an import checks many rows with them): a key
among them is accepted without asking the database, one created since is looked up and
accepted (and remembered), an unknown one is refused as before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from services.customers.models import Status
from services.customers.profiles.errors import InvalidProfile
from services.customers.profiles.usecases import new_customer

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _body(status: str) -> dict[str, str]:
    return {"kind": "individual", "last_name": "Durand", "status": status}


def test_a_status_created_after_the_keys_were_read_is_accepted_and_remembered(app: Flask) -> None:
    factory = app.extensions["crm"].session_factory
    with factory() as session:
        statuses = set(session.scalars(select(Status.key)))
        assert "gold" not in statuses
        with factory() as other:  # created meanwhile, as staff may while an import runs
            other.add(Status(key="gold", label="Gold"))
            other.commit()
        customer = new_customer(session, _body("gold"), "FR", NOW, plain=True, statuses=statuses)
        assert customer.status == "gold"
        assert "gold" in statuses


def test_an_unknown_status_is_refused_with_the_known_ones(app: Flask) -> None:
    with app.extensions["crm"].session_factory() as session:
        statuses = set(session.scalars(select(Status.key)))
        with pytest.raises(InvalidProfile) as refused:
            new_customer(session, _body("nope"), "FR", NOW, plain=True, statuses=statuses)
        assert "unknown status 'nope'" in str(refused.value.field_errors())
        assert "nope" not in statuses


def test_a_known_status_is_not_asked_of_the_database_again(app: Flask) -> None:
    with app.extensions["crm"].session_factory() as session:
        statuses = {"lead", "imagined"}  # trusted as given: read from the database by the caller
        customer = new_customer(
            session, _body("imagined"), "FR", NOW, plain=True, statuses=statuses
        )
        assert customer.status == "imagined"
