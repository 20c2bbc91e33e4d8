"""Automation service: status and tag rules driven by internal and external events."""
