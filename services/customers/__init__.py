"""Customers service: customer profiles, statuses, customer tags, lists and filters, bulk actions."""
