"""An import's rows checked (`rows.check_rows`) ahead of the chunks that write them, in batches:
in this process, or, for a large file, in worker processes of their own (validating a row is
pure Python: email, phone, language, VAT rules and the customer's model, and a million of them
is most of an import's time). A bounded number of batches is in flight at once (about a chunk's
worth: the processes check the next chunk while the worker writes one), so that memory stays
flat whatever the file's size, and the rows come back in the file's order.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy.orm import Session, sessionmaker

from services.customers.imports.parsing import Row
from services.customers.imports.rows import Checked, check_rows
from shared.db import make_engine, make_session_factory

BATCH = 2_000
"""Rows a worker process checks at once."""
COLLECT_EVERY = (50_000, 20, 100)
"""The garbage collector's thresholds while importing: a row makes a few dozen objects, none
of them in a cycle, and the default (a collection every 700 new objects, each a walk of
everything young, and often of the whole heap) took about half the worker's CPU."""

_sessions: sessionmaker[Session] | None = None
"""A worker process's own sessions (never a connection inherited from its parent)."""


@dataclass
class RowChecker:
    """Checks rows as `check_rows` does; with `processes` > 0, in that many processes."""

    session_factory: sessionmaker[Session]
    phone_region: str
    actor: str
    processes: int = 0
    ahead: int = 0
    """Rows to keep checking ahead of the caller (a chunk's, so that the processes go on with
    the next chunk while the caller writes one); at least two batches per process."""
    _pool: ProcessPoolExecutor | None = field(default=None, init=False)

    def checked(self, rows: Iterator[Row]) -> Iterator[tuple[Row, Checked]]:
        """Each row with its check, in order."""
        batches = iter(lambda: list(islice(rows, BATCH)), [])
        if self.processes <= 0:
            for batch in batches:
                with self.session_factory() as session:
                    checks = check_rows(session, batch, self.phone_region, self.actor)
                yield from zip(batch, checks, strict=True)
            return
        pool = self._start()
        in_flight: deque[tuple[list[Row], Future[list[Checked]]]] = deque()
        depth = max(2 * self.processes, -(-self.ahead // BATCH) + self.processes)
        for batch in islice(batches, depth):
            in_flight.append((batch, pool.submit(_check, batch, self.phone_region, self.actor)))
        while in_flight:
            batch, future = in_flight.popleft()
            following = next(batches, None)
            if following is not None:
                in_flight.append(
                    (following, pool.submit(_check, following, self.phone_region, self.actor))
                )
            yield from zip(batch, future.result(), strict=True)

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            engine = self.session_factory.kw["bind"]
            self._pool = ProcessPoolExecutor(
                self.processes,
                # Spawned, not forked: a fork would share the parent's database connections.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_open_sessions,
                initargs=(engine.url.render_as_string(hide_password=False),),
            )
        return self._pool


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage seldom meanwhile (`COLLECT_EVERY`), the objects alive now (modules,
    the app) left out of every collection; the collector as it was after."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*COLLECT_EVERY)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _open_sessions(database_url: str) -> None:
    global _sessions
    _sessions = make_session_factory(make_engine(database_url))
    # A process of its own that only checks rows: collect seldom for its whole life.
    gc.freeze()
    gc.set_threshold(*COLLECT_EVERY)


def _check(rows: list[Row], phone_region: str, actor: str) -> list[Checked]:
    assert _sessions is not None
    with _sessions() as session:
        return check_rows(session, rows, phone_region, actor)
