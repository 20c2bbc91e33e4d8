"""Every service's models declare what its migrations build, so autogenerate proposes nothing.

A model that lacks an index its migration created would make the next `alembic revision
--autogenerate` drop it (at a million customers, the list's indexes are its speed).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from shared.db import MessagingBase
from shared.migrations import for_this_database, migrate
from shared.settings import SERVICES
from tests.conftest import settings_for


def _differences(url: str, service: str) -> list[object]:
    models = importlib.import_module(f"services.{service}.models")
    # A feature package's tables (imports, custom fields) are mapped when its app imports them.
    importlib.import_module(f"services.{service}.app")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            this_database = for_this_database(connection.dialect.name)

            def include(item: Any, name: Any, kind: str, reflected: bool, compare: Any) -> bool:
                # Tests declare and create tables of their own (`test_effect`): not the models'.
                if kind == "table" and str(name).startswith("test_"):
                    return False
                return bool(this_database(item, name, kind, reflected, compare))

            context = MigrationContext.configure(connection, opts={"include_object": include})
            return list(compare_metadata(context, [models.Base.metadata, MessagingBase.metadata]))
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_the_models_match_the_migrated_postgresql_database(
    service: str, pg_databases: dict[str, str]
) -> None:
    assert _differences(pg_databases[service], service) == []


@pytest.mark.parametrize("service", SERVICES)
# SQLite cannot reflect expression indexes (`lower(city)`, PostgreSQL-only here anyway).
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
def test_the_models_match_the_migrated_sqlite_database(service: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / service}.sqlite3"
    migrate(settings_for(service, database_urls={service: url}))
    assert _differences(url, service) == []
