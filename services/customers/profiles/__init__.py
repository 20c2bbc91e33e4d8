"""Customers: the profiles feature."""
