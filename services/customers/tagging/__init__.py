"""Customers: the tagging feature."""
