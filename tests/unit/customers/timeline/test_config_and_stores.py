"""The timeline's configuration from the environment, and which attachment store it picks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from services.customers.timeline.config import S3Location, TimelineConfig
from services.customers.timeline.stores import (
    AttachmentNotStored,
    DirectoryStore,
    S3Store,
    attachment_store,
)
from shared.settings import ConfigurationError, Settings


def test_the_defaults_are_a_day_and_the_data_directory(tmp_path: Path) -> None:
    config = TimelineConfig.from_env({})
    assert config == TimelineConfig(parking_window=timedelta(hours=24), s3=None)
    store = attachment_store(Settings(service="customers", data_dir=tmp_path), config)
    assert isinstance(store, DirectoryStore)
    assert store.root == tmp_path / "attachments" / "customers"


def test_a_bucket_selects_the_s3_store_with_its_endpoint_and_keys() -> None:
    config = TimelineConfig.from_env(
        {
            "CRM_TIMELINE_PARKING_WINDOW_SECONDS": "90",
            "CRM_ATTACHMENTS_S3_BUCKET": "crm",
            "CRM_ATTACHMENTS_S3_ENDPOINT": "http://minio:9000",
            "CRM_ATTACHMENTS_S3_REGION": "eu-west-3",
            "CRM_ATTACHMENTS_S3_ACCESS_KEY_ID": "key",
            "CRM_ATTACHMENTS_S3_SECRET_ACCESS_KEY": "secret",
            "CRM_ATTACHMENTS_S3_PREFIX": "files",
        }
    )
    assert config.parking_window == timedelta(seconds=90)
    assert config.s3 == S3Location(
        "crm", "http://minio:9000", "eu-west-3", "key", "secret", "files/"
    )
    store = attachment_store(Settings(service="customers"), config)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.key(uuid.UUID(int=1))) == ("crm", f"files/{uuid.UUID(int=1)}")


@pytest.mark.parametrize(
    "env",
    [
        {"CRM_TIMELINE_PARKING_WINDOW_SECONDS": "a day"},
        {"CRM_TIMELINE_PARKING_WINDOW_SECONDS": "0"},
        {"CRM_ATTACHMENTS_S3_ENDPOINT": "http://minio:9000"},  # no bucket
    ],
)
def test_a_setting_that_does_not_fit_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="CRM_"):
        TimelineConfig.from_env(env)


def test_the_directory_store_keeps_reads_and_forgets_bytes_by_id(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "files")
    kept, other = uuid.uuid4(), uuid.uuid4()
    store.save(kept, b"%PDF-1.7", "application/pdf")
    store.save(other, b"hello", "text/plain; charset=utf-8")
    (tmp_path / "files" / "not-an-id").write_bytes(b"ignored")

    assert store.read(kept) == b"%PDF-1.7"
    assert sorted(store.stored(older_than=-1)) == sorted([kept, other])
    assert store.stored(older_than=3600) == []  # too young to be swept
    store.delete(other)
    with pytest.raises(AttachmentNotStored):
        store.read(other)
