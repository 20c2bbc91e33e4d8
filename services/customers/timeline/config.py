"""The timeline's configuration, from the environment.

- `CRM_TIMELINE_PARKING_WINDOW_SECONDS` (default 86400, 24 h): how long an event for a customer
  not known yet waits for the customer before it is dead-lettered.
- `CRM_ATTACHMENTS_S3_BUCKET`: when set, attachments are kept in that bucket of an S3-compatible
  store (`CRM_ATTACHMENTS_S3_ENDPOINT` for another store than AWS, e.g. MinIO;
  `CRM_ATTACHMENTS_S3_REGION`, `CRM_ATTACHMENTS_S3_ACCESS_KEY_ID`,
  `CRM_ATTACHMENTS_S3_SECRET_ACCESS_KEY`, `CRM_ATTACHMENTS_S3_PREFIX`); otherwise in
  `<CRM_DATA_DIR>/attachments/<service>/`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from shared.settings import ConfigurationError

DEFAULT_PARKING_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class S3Location:
    """Where attachments go in an S3-compatible store."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = "attachments/customers/"


@dataclass(frozen=True)
class TimelineConfig:
    parking_window: timedelta = DEFAULT_PARKING_WINDOW
    s3: S3Location | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TimelineConfig:
        env = os.environ if environ is None else environ
        raw = env.get("CRM_TIMELINE_PARKING_WINDOW_SECONDS") or ""
        try:
            window = timedelta(seconds=float(raw)) if raw else DEFAULT_PARKING_WINDOW
        except ValueError:
            raise ConfigurationError(
                f"CRM_TIMELINE_PARKING_WINDOW_SECONDS={raw!r} is not a number of seconds"
            ) from None
        if window <= timedelta(0):
            raise ConfigurationError("CRM_TIMELINE_PARKING_WINDOW_SECONDS must be positive")
        bucket = env.get("CRM_ATTACHMENTS_S3_BUCKET") or ""
        s3 = None
        if bucket:
            prefix = env.get("CRM_ATTACHMENTS_S3_PREFIX", "attachments/customers/")
            s3 = S3Location(
                bucket=bucket,
                endpoint_url=env.get("CRM_ATTACHMENTS_S3_ENDPOINT") or None,
                region=env.get("CRM_ATTACHMENTS_S3_REGION") or None,
                access_key_id=env.get("CRM_ATTACHMENTS_S3_ACCESS_KEY_ID") or None,
                secret_access_key=env.get("CRM_ATTACHMENTS_S3_SECRET_ACCESS_KEY") or None,
                prefix=prefix if not prefix or prefix.endswith("/") else prefix + "/",
            )
        elif env.get("CRM_ATTACHMENTS_S3_ENDPOINT"):
            raise ConfigurationError(
                "CRM_ATTACHMENTS_S3_ENDPOINT is set without CRM_ATTACHMENTS_S3_BUCKET"
            )
        return cls(parking_window=window, s3=s3)
