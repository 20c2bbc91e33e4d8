"""Database: one engine per service, sessions, and the unit of work every use case runs in."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    cast,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import TypeDecorator

from shared.copying import copy_rows
from shared.events import wakeup
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import validate_data
from shared.logging import current_correlation_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class MessagingBase(DeclarativeBase):
    """The outbox and inbox tables every service database holds."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OutboxMessage(MessagingBase):
    """An event written with the change that caused it, waiting for the relay to publish it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    type: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class InboxMessage(MessagingBase):
    """An event this service has handled, so that a redelivery has no second effect."""

    __tablename__ = "inbox"

    # The owner of the event's type (`shared.events.owners.inbox_source`): ids are unique
    # per owner only, and no publisher may pre-empt another owner's event by reusing its id.
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


IDLE_PING_SECONDS = 2.0


def make_engine(url: str, ping_after: float = IDLE_PING_SECONDS, **kwargs: Any) -> Engine:
    """An engine tuned for the backend: pooled PostgreSQL, or SQLite in WAL mode for threads.

    A pooled PostgreSQL connection idle for over `ping_after` seconds is pinged before use
    (`ping_when_idle`), so a database restart during a quiet spell costs no request.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL's recommended durability: commits are atomic and never corrupt the file, and
            # only checkpoints wait for the disk (a power cut may lose the last commits, not a
            # process crash). SQLite is the embedded mode's, a try-it mode; production runs on
            # PostgreSQL. Halves the time an event takes through the embedded suite.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    options: dict[str, Any] = {}
    if "poolclass" not in kwargs:
        options.update(pool_size=5, max_overflow=10)
    options.update(kwargs)
    engine = create_engine(url, **options)
    ping_when_idle(engine, ping_after)
    return engine


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle for over `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip (two with the
    transaction it opens) on every request. A connection in steady use has just proven itself;
    one back from a quiet spell is the one a database restart may have cut. A failed ping makes
    the pool replace the connection (`DisconnectionError`); a restart in the middle of traffic is
    caught by the statement that meets it, which invalidates the whole pool at once, and the
    request gets a 503 (`shared.app`) rather than a 500.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["crm_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("crm_idle_since", None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()  # leave no transaction open behind the ping
        except Exception as exc:  # noqa: BLE001  (any failure: this connection is not usable)
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, typed as one (for Core statements built on it)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views serialize them)."""
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for answering reads: autocommit, so no BEGIN and ROLLBACK round trips.

    Each statement sees what was committed when it started; a read that needs one snapshot
    across several statements uses `make_session_factory`'s sessions instead.
    """
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


OutboxItem = tuple[dict[str, Any], str | None] | tuple[dict[str, Any], str | None, str | None]
"""An event for `UnitOfWork.emit_many`: (data, subject), or with its own correlation id."""


class UnitOfWork:
    """One transaction: the changes of a use case and the events they cause, or nothing."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session], source: str) -> None:
        self._session_factory = session_factory
        self.source = source
        self._committed = False
        self._wrote_outbox = False

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._committed = False
        self._closed = False
        self._wrote_outbox = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.session.rollback()
        finally:
            if not self._closed:
                self.session.close()

    def commit(self) -> None:
        """Make the changes and their outbox rows durable together, then wake the relays.

        On PostgreSQL the transaction also sends `NOTIFY crm_outbox`, delivered at commit to
        the relays listening on this database in other processes; relays of this process are
        woken directly (`shared.events.wakeup`).
        """
        session = self.session
        bind = session.get_bind() if self._wrote_outbox else None
        if bind is not None and bind.dialect.name == "postgresql":
            session.execute(text(wakeup.NOTIFY_SQL))
        connection = _connection_to_commit(session)
        if connection is not None:
            # Nothing for the Session to flush, keep or tell: commit its connection (through
            # SQLAlchemy, which invalidates the pool on a lost database as Session.commit does)
            # and close the Session, which hands the connection back to the pool. The consumer's
            # transactions (raw statements only) skip the Session's commit machinery.
            connection.commit()
            session.close()
            self._closed = True
        else:
            session.commit()
        self._committed = True
        if bind is not None:
            self._wrote_outbox = False
            engine = bind if isinstance(bind, Engine) else bind.engine
            wakeup.outbox_committed(wakeup.database_key(engine))

    def rollback(self) -> None:
        """Drop every change and event of this unit of work."""
        self.session.rollback()

    def emit(self, type: str, data: dict[str, Any], subject: str | None = None) -> CloudEvent:
        """Write an event to the outbox, inside this transaction; it is published after commit."""
        validate_data(type, data)
        self._wrote_outbox = True
        cloud_event = make_event(
            type,
            data,
            source=self.source,
            subject=subject,
            correlationid=current_correlation_id(),
        )
        self.session.add(
            OutboxMessage(
                event_id=uuid.UUID(cloud_event.id),
                type=type,
                subject=subject,
                payload=cloud_event.to_json(),
                created_at=utcnow(),
            )
        )
        return cloud_event

    def emit_many(self, type: str, items: Iterable[OutboxItem], chunk: int = 5000) -> int:
        """Write many events of one type to the outbox in bulk; how many were written.

        For set-based use cases (bulk actions): the items come from one code path, so the first
        item's data is checked against the schema and the rest are written as they are.
        An item is (data, subject), or (data, subject, correlation id) when the events of one
        batch answer different requests (else the current correlation id).
        PostgreSQL gets them through COPY, in this transaction; other databases by executemany.
        """
        rows = self._outbox_rows(type, items)
        self._wrote_outbox = True
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            columns = ("event_id", "type", "subject", "payload", "created_at", "attempts")
            return copy_rows(self.session, "outbox", columns, rows)
        written, batch = 0, []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                self.session.execute(insert(OutboxMessage), batch)
                written, batch = written + len(batch), []
        if batch:
            self.session.execute(insert(OutboxMessage), batch)
            written += len(batch)
        return written

    def outbox_insert_from(self, type: str, events: Select[Any]) -> Insert:
        """An INSERT of one `type` event per row of `events`, its envelope built by PostgreSQL.

        For set-based use cases whose changes and events can come from one SQL statement (bulk
        tagging of 100,000 customers): no row travels to Python and back. `events` selects
        `data` (JSON, the event's data) and `subject` (text, never null). The envelope is the
        one `make_event` builds (a fresh id, this unit's source and correlation id, one time
        for the whole statement). The INSERT returns each event's `event_id` only (not its
        payload: a set-based write makes 100,000 of them, and PostgreSQL would hold every
        payload returned): check one with `check_outbox_event` after the statement, as
        `emit_many` checks its first item. PostgreSQL only.
        """
        self._wrote_outbox = True
        rows = events.subquery("event_rows")
        numbered = select(
            func.gen_random_uuid().label("event_id"), rows.c.data, rows.c.subject
        ).subquery("numbered_events")
        envelope: list[Any] = [
            "specversion", "1.0",
            "id", cast(numbered.c.event_id, Text),
            "type", type,
            "source", self.source,
            "time", utcnow().isoformat().replace("+00:00", "Z"),
            "datacontenttype", "application/json",
            "data", numbered.c.data,
            "subject", numbered.c.subject,
        ]  # fmt: skip
        if (correlation := current_correlation_id()) is not None:
            envelope += ["correlationid", correlation]
        arguments = [
            value if isinstance(value, ColumnElement) else literal(value, String())
            for value in envelope
        ]
        return (
            insert(OutboxMessage)
            .from_select(
                ["event_id", "type", "subject", "payload", "created_at", "attempts"],
                select(
                    numbered.c.event_id,
                    literal(type, String()),
                    numbered.c.subject,
                    cast(func.json_build_object(*arguments), Text),
                    literal(utcnow(), UtcDateTime()),
                    literal(0, Integer()),
                ),
            )
            .returning(OutboxMessage.event_id)
        )

    def _outbox_rows(self, type: str, items: Iterable[OutboxItem]) -> Iterator[dict[str, Any]]:
        source, correlation, now = self.source, current_correlation_id(), utcnow()
        checked = False
        for data, subject, *own in items:
            if not checked:
                validate_data(type, data)
                checked = True
            cloud_event = make_event(type, data, source, subject, own[0] if own else correlation)
            yield {
                "event_id": uuid.UUID(cloud_event.id),
                "type": type,
                "subject": subject,
                "payload": cloud_event.to_json(),
                "created_at": now,
                "attempts": 0,
            }


def _connection_to_commit(session: Session) -> Connection | None:
    """The session's connection when committing it then closing the session does all that
    `Session.commit` would: one root transaction on one connection (each is there under its
    engine too: no second database, no two-phase), no object to flush or keep usable after the
    commit (the session holds none), and no listener of the session's commit. Else None."""
    transaction = session.get_transaction()
    if (
        transaction is None
        or session.identity_map
        or session.new
        or session.deleted
        or session.in_nested_transaction()
        or session.dispatch.before_commit
        or session.dispatch.after_commit
    ):
        return None
    connections = {entry[0] for entry in transaction._connections.values()}
    return connections.pop() if len(connections) == 1 else None


class UnitOfWorkFactory:
    """Builds units of work for one service's database."""

    def __init__(self, session_factory: sessionmaker[Session], source: str) -> None:
        self.session_factory = session_factory
        self.source = source

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.source)


def check_outbox_event(session: Session, type: str, event_id: uuid.UUID | None) -> None:
    """Validate the data of one event an `outbox_insert_from` wrote, read back by the id it
    returned, in the same transaction (None: it wrote none)."""
    if event_id is not None:
        payload = session.execute(
            select(OutboxMessage.payload).where(OutboxMessage.event_id == event_id)
        ).scalar_one()
        validate_data(type, json.loads(payload)["data"])
