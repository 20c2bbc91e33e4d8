"""`execute_rows`: a handler's statement on the session's own psycopg connection writes what
`session.execute` writes (literal values, scalar defaults, bind processors), in the session's
transaction, and goes through the session where it cannot (SQLite, RETURNING, callable defaults)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime, make_engine, make_session_factory
from shared.events.statements import execute_rows


class Base(DeclarativeBase):
    pass


class Projection(Base):
    __tablename__ = "test_statements_projection"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    note: Mapped[str | None] = mapped_column(sa.String(20))


class Noted(Base):
    """A table with a default only SQLAlchemy's execution computes (a callable)."""

    __tablename__ = "test_statements_noted"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    note: Mapped[str] = mapped_column(sa.String(20), default=lambda: "by callable")


TABLE = Projection.__table__
NOTED = Noted.__table__


def upsert(insert):
    """The dialect's upsert of a projection row: the newest name and time, one more version
    (a literal value bound in the statement)."""
    statement = insert(TABLE)
    newest = {name: statement.excluded[name] for name in ("name", "seen_at")}
    return statement.on_conflict_do_update(
        index_elements=[TABLE.c.id], set_={**newest, "version": TABLE.c.version + 1}
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    """A session factory and the dialect's upsert, on PostgreSQL then SQLite (embedded)."""
    if request.param == "sqlite":
        url, insert = f"sqlite:///{tmp_path / 'statements.sqlite3'}", sqlite_insert
    else:
        url = request.getfixturevalue("pg_settings")("automation").database_url
        insert = postgresql_insert
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield make_session_factory(engine), insert
    Base.metadata.drop_all(engine)
    engine.dispose()


def rows_of(session_factory):
    with session_factory() as session:
        return {
            row.id: (row.name, row.seen_at, row.version, row.note)
            for row in session.execute(select(TABLE).order_by(TABLE.c.name))
        }


def row(name, seen_at, id=None):
    return {"id": id or uuid.uuid4(), "name": name, "seen_at": seen_at}


PARIS = timezone(timedelta(hours=1))


def test_it_writes_what_session_execute_writes(database):
    session_factory, insert = database
    statement = upsert(insert)
    one = row("one", datetime(2026, 1, 2, 13, 0, tzinfo=PARIS))  # stored in UTC (processor)
    many = [row(f"many-{n}", datetime(2026, 1, 3, n, tzinfo=UTC)) for n in range(3)]
    with session_factory() as session:
        execute_rows(session, statement, [one])
        execute_rows(session, statement, many)
        # Again: the conflict's update, with the statement's literal `+ 1`.
        execute_rows(session, statement, [{**one, "name": "one again"}])
        session.commit()
    stored = rows_of(session_factory)
    assert stored[one["id"]] == ("one again", datetime(2026, 1, 2, 12, 0, tzinfo=UTC), 2, None)
    for r in many:
        assert stored[r["id"]] == (r["name"], r["seen_at"], 1, None)

    # The very rows session.execute writes for the same statement and parameters.
    with session_factory() as session:
        session.execute(sa.delete(TABLE))
        session.execute(statement, [one])
        session.execute(statement, many)
        session.execute(statement, [{**one, "name": "one again"}])
        session.commit()
    assert rows_of(session_factory) == stored


def test_its_values_pass_the_columns_bind_processing(database):
    session_factory, insert = database
    naive = row("naive", datetime(2026, 1, 2, 13, 0))  # UtcDateTime refuses a naive time
    with session_factory() as session, pytest.raises(Exception, match="naive datetime"):
        execute_rows(session, upsert(insert), [naive])
    assert rows_of(session_factory) == {}


def test_it_runs_in_the_session_transaction(database):
    session_factory, insert = database
    statement = upsert(insert)
    kept, dropped = row("kept", datetime.now(UTC)), row("dropped", datetime.now(UTC))
    with session_factory() as session:
        session.execute(sa.insert(TABLE).values(**kept, note="orm"))
        execute_rows(session, statement, [{**kept, "name": "kept, updated"}])
        # The session's own reads see it before the commit: one transaction.
        assert session.scalar(select(TABLE.c.version).where(TABLE.c.id == kept["id"])) == 2
        session.commit()
    with session_factory() as session:
        execute_rows(session, statement, [dropped])
        session.rollback()
    assert list(rows_of(session_factory).values()) == [("kept, updated", kept["seen_at"], 2, "orm")]


def test_postgresql_statements_skip_sqlalchemy_execution_and_others_do_not(pg_settings):
    engine = make_engine(pg_settings("automation").database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    executed: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        executed.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        with make_session_factory(engine)() as session:
            execute_rows(session, upsert(postgresql_insert), [row("fast", datetime.now(UTC))])
            assert executed == []  # straight to psycopg
            # A callable default the rows do not give: only SQLAlchemy's execution calls it.
            execute_rows(session, sa.insert(NOTED), [{"id": 1}, {"id": 2}])
            assert len(executed) == 1
            session.commit()
        with make_session_factory(engine)() as session:
            assert session.scalars(select(NOTED.c.note)).all() == ["by callable"] * 2
    finally:
        event.remove(engine, "before_cursor_execute", note)
        Base.metadata.drop_all(engine)
        engine.dispose()
