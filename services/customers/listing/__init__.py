"""Customers: the listing feature."""
