"""Reading pages of customers: the filters' conditions and a keyset position, in one query."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.orm import Session, sessionmaker

from services.customers.listing.filters import customer_conditions
from services.customers.models import Customer
from services.customers.profiles.representation import CUSTOMER_VIEW, CustomerView

SORTS = ("-created_at", "created_at", "name", "-name")
DEFAULT_SORT = "-created_at"


class InvalidCursor(ValueError):
    """A cursor that is not one of ours, or was made for another sort (answer 422)."""


Position = tuple[Any, uuid.UUID]
"""Where a page ends in its sort: the last row's created_at (or sort_name), then its id."""


@dataclass
class CustomerPage:
    """A page of customers (view rows), and where the next page starts."""

    items: list[CustomerView]
    next_position: Position | None = None


def _sort_columns(sort: str) -> tuple[Any, Any]:
    key = Customer.sort_name if sort.lstrip("-") == "name" else Customer.created_at
    return key, Customer.id


def _descending(sort: str) -> bool:
    return sort.startswith("-")


def position_of(sort: str, customer: Any) -> Position:
    """The position of `customer` (a view row or a `Customer`) in `sort`."""
    if sort.lstrip("-") == "name":
        return customer.sort_name, customer.id
    return customer.created_at, customer.id


def encode_position(sort: str, position: Position) -> list[str]:
    """A position as the values a cursor carries (the sort first, so it cannot be mixed up)."""
    key, customer_id = position
    text = key.isoformat() if isinstance(key, datetime) else str(key)
    return [sort, text, str(customer_id)]


def decode_position(sort: str, values: list[Any]) -> Position:
    """The position cursor values name for `sort`; InvalidCursor otherwise."""
    if len(values) != 3 or not all(isinstance(value, str) for value in values):
        raise InvalidCursor("invalid cursor")
    cursor_sort, key, customer_id = values
    if cursor_sort != sort:
        raise InvalidCursor(f"this cursor belongs to sort={cursor_sort}, not sort={sort}")
    try:
        row_id = uuid.UUID(customer_id)
        if sort.lstrip("-") == "name":
            return key, row_id
        moment = datetime.fromisoformat(key)
    except ValueError:
        raise InvalidCursor("invalid cursor") from None
    if moment.tzinfo is None:
        raise InvalidCursor("invalid cursor")
    return moment, row_id


def _after(sort: str, position: Position) -> ColumnElement[bool]:
    # A row comparison: one index range on (key, id), however deep the page is.
    columns = _sort_columns(sort)
    bound = tuple_(
        *(
            literal(value, type_=column.type)
            for column, value in zip(columns, position, strict=True)
        )
    )
    return tuple_(*columns) < bound if _descending(sort) else tuple_(*columns) > bound


def customers_query(
    session: Session, params: Mapping[str, Any], sort: str, after: Position | None = None
) -> Select[Any]:
    """The SELECT of the customers the list parameters match (view rows), in `sort` order,
    after `after`: a page of the list, or a whole export. Raises the filters' refusals."""
    stmt = CUSTOMER_VIEW.where(*customer_conditions(session, params))
    if after is not None:
        stmt = stmt.where(_after(sort, after))
    columns = _sort_columns(sort)
    order = [column.desc() for column in columns] if _descending(sort) else list(columns)
    return stmt.order_by(*order)


def page_query(
    session: Session, params: Mapping[str, Any], sort: str, limit: int, after: Position | None
) -> Select[Any]:
    """The SELECT of one page of customers (one extra row tells whether another page follows)."""
    return customers_query(session, params, sort, after).limit(limit + 1)


def list_customers(
    sessions: sessionmaker[Session],
    params: Mapping[str, Any],
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    after: Position | None = None,
) -> CustomerPage:
    """A page of the customers the list parameters match, in `sort` order, after `after`.

    One query whatever the page size (the rows carry their phones, lists and tags). Raises the
    filters' SegmentError when `segment` names no usable filter.
    """
    with sessions() as session:
        statement = page_query(session, params, sort, limit, after)
        rows = list(session.connection().execute(statement))
    items = rows[:limit]
    next_position = position_of(sort, items[-1]) if len(rows) > limit else None
    return CustomerPage(items, next_position)
