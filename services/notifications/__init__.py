"""Notifications service: multilingual email templates, rendering, sending and the delivery log."""
