"""Customers service: profiles, statuses, customer tags, lists, filters, bulk actions."""
