"""HTTP endpoints of the customers service, one blueprint per feature."""

from __future__ import annotations

from services.customers.export.api import blp as export
from services.customers.fields.api import blp as fields
from services.customers.listing.api import blp as listing
from services.customers.profiles.api import blp as profiles
from services.customers.tagging.api import blp as tagging
from services.customers.timeline.api import blp as timeline

BLUEPRINTS = [profiles, listing, tagging, timeline, fields, export]
