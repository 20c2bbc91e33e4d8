"""List parameters on what customers did (C11): purchases, revenue in a currency, last action.

They read the summary the timeline keeps per customer (`customer_summaries`, `customer_revenue`,
by primary key), each as an EXISTS on the customer's own row, so they combine with every other
filter, in segments and bulk actions too. A customer with no summary has no purchase, no revenue
and no last action: `purchases_min=0` and `revenue_min=0` select everyone, and neither
`last_action_before` nor `last_action_after` selects a customer who never did anything.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, exists

from services.customers.models import Customer, CustomerRevenue, CustomerSummary

_summaries = CustomerSummary.__table__.c
_revenue = CustomerRevenue.__table__.c


def summary_conditions(
    purchases_min: int | None = None,
    revenue_min: Decimal | None = None,
    currency: str | None = None,
    last_action_after: datetime | None = None,
    last_action_before: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """The conditions on `Customer` of the summary's list parameters (None: not filtered)."""
    conditions: list[ColumnElement[bool]] = []
    summary = []
    if purchases_min is not None and purchases_min > 0:
        summary.append(_summaries.purchases_count >= purchases_min)
    if last_action_after is not None:
        summary.append(_summaries.last_action_at >= last_action_after)
    if last_action_before is not None:
        summary.append(_summaries.last_action_at < last_action_before)
    if summary:
        conditions.append(exists().where(_summaries.customer_id == Customer.id, *summary))
    if revenue_min is not None and currency is not None and revenue_min > 0:
        conditions.append(
            exists().where(
                _revenue.customer_id == Customer.id,
                _revenue.currency == currency,
                _revenue.amount >= revenue_min,
            )
        )
    return conditions
