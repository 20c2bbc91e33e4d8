"""Where attachments' bytes live: one interface, two stores.

- `DirectoryStore`: a directory (`<CRM_DATA_DIR>/attachments/<service>/`), the default and the
  embedded mode's; one file per attachment, written atomically.
- `S3Store`: a bucket of an S3-compatible store (AWS S3, MinIO, Ceph…), when
  `CRM_ATTACHMENTS_S3_BUCKET` is set (see `timeline.config`); one object per attachment.

Either way an attachment is named by its id alone, so that a merge, which moves entries, moves
no bytes; the bytes of deleted attachments are removed by `attachments.sweep_orphans`.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from services.customers.timeline.config import S3Location, TimelineConfig
from shared.settings import Settings


class AttachmentNotStored(LookupError):
    """The store holds no bytes under this id."""


class AttachmentStore(Protocol):
    """What the timeline needs of a store of attachment bytes."""

    def save(self, attachment_id: uuid.UUID, data: bytes, content_type: str) -> None: ...

    def read(self, attachment_id: uuid.UUID) -> bytes:
        """The bytes; AttachmentNotStored."""
        ...

    def delete(self, attachment_id: uuid.UUID) -> None: ...

    def stored(self, older_than: float) -> list[uuid.UUID]:
        """The ids of the attachments stored more than `older_than` seconds ago."""
        ...


class DirectoryStore:
    """A directory of attachment bytes, one file per attachment id (written atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, settings: Settings) -> DirectoryStore:
        return cls(settings.data_dir / "attachments" / settings.service)

    def path(self, attachment_id: uuid.UUID) -> Path:
        return self.root / str(attachment_id)

    def save(self, attachment_id: uuid.UUID, data: bytes, content_type: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{attachment_id}.partial"
        with open(partial, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self.path(attachment_id))

    def read(self, attachment_id: uuid.UUID) -> bytes:
        try:
            return self.path(attachment_id).read_bytes()
        except FileNotFoundError:
            raise AttachmentNotStored(attachment_id) from None

    def delete(self, attachment_id: uuid.UUID) -> None:
        self.path(attachment_id).unlink(missing_ok=True)

    def stored(self, older_than: float) -> list[uuid.UUID]:
        if not self.root.is_dir():
            return []
        limit = time.time() - older_than
        found = []
        for entry in os.scandir(self.root):
            attachment_id = _attachment_id(entry.name)
            if attachment_id is not None and entry.stat().st_mtime < limit:
                found.append(attachment_id)
        return found


class S3Store:
    """A bucket of an S3-compatible store, one object per attachment id under a prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def at(cls, location: S3Location) -> S3Store:
        return cls(_s3_client(location), location.bucket, location.prefix)

    def key(self, attachment_id: uuid.UUID) -> str:
        return f"{self.prefix}{attachment_id}"

    def save(self, attachment_id: uuid.UUID, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.key(attachment_id), Body=data, ContentType=content_type
        )

    def read(self, attachment_id: uuid.UUID) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(attachment_id))
        except self.client.exceptions.NoSuchKey:
            raise AttachmentNotStored(attachment_id) from None
        return bytes(answer["Body"].read())

    def delete(self, attachment_id: uuid.UUID) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(attachment_id))

    def stored(self, older_than: float) -> list[uuid.UUID]:
        limit = datetime.now(UTC) - timedelta(seconds=older_than)
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                attachment_id = _attachment_id(item["Key"][len(self.prefix) :])
                if attachment_id is not None and item["LastModified"] < limit:
                    found.append(attachment_id)
        return found


def attachment_store(settings: Settings, config: TimelineConfig | None = None) -> AttachmentStore:
    """The S3-compatible store when one is configured, else the data directory's."""
    config = config or TimelineConfig.from_env()
    if config.s3 is not None:
        return S3Store.at(config.s3)
    return DirectoryStore.of(settings)


@functools.lru_cache(maxsize=8)
def _s3_client(location: S3Location) -> Any:
    """One client per location (a boto3 client is thread-safe and slow to build)."""
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=location.endpoint_url,
        region_name=location.region,
        aws_access_key_id=location.access_key_id,
        aws_secret_access_key=location.secret_access_key,
    )


def _attachment_id(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None
