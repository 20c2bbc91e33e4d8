"""A new customer built as plain attributes instead of mapped instances.

An import checks up to a million rows with `new_customer`, the rules of `POST /customers`;
what it keeps of each is its values, never the instance. A mapped `Customer` costs its
bookkeeping (instance state, attribute events, collections) on every attribute set, most of
a row's checking time; a draft is the same attributes in a plain `__dict__`, read the same way:
a column never set reads None, as on a new mapped instance.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import inspect

from services.customers.models import Customer, NewsletterSubscription, Phone


class Draft:
    """Plain attributes; a column of `model` never set reads None."""

    model: ClassVar[type[Any]]
    _columns: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._columns = frozenset(attribute.key for attribute in inspect(cls.model).column_attrs)

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        if name in self._columns:
            return None
        raise AttributeError(name)


class CustomerDraft(Draft):
    """A new `Customer`'s values (`new_customer(..., plain=True)`)."""

    model = Customer


class PhoneDraft(Draft):
    """A draft customer's `Phone`."""

    model = Phone


class SubscriptionDraft(Draft):
    """A draft customer's `NewsletterSubscription`."""

    model = NewsletterSubscription
