"""Streaming a customers export: the list's query, read through a server-side cursor.

The customers are selected by the list's own query (`listing.queries.customers_query`: the same
filters, segments and order), so an export holds exactly what the list shows. The query and its
refusals (an unknown segment, a bad `cf.<key>`) are settled before the answer starts; then rows
come from the database `BATCH` at a time (a named cursor on PostgreSQL, `yield_per`) and leave
as CSV text as soon as each batch is written: memory stays flat whatever the number of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.export.columns import header, record
from services.customers.fields.values import load_definitions
from services.customers.listing.queries import customers_query

BATCH = 1000
BOM = "\ufeff"
DELIMITERS = {",": ",", ";": ";", "tab": "\t"}


def export_csv(
    engine: Engine,
    reads: sessionmaker[Session],
    params: Mapping[str, Any],
    sort: str,
    delimiter: str,
) -> Iterator[bytes]:
    """The CSV (UTF-8 with a BOM) of the customers the list parameters match, as a stream of
    chunks; raises the filters' refusals at once, before any chunk."""
    with reads() as session:
        statement = customers_query(session, params, sort)
        custom_keys = list(load_definitions(session))
    return _stream(engine, statement, custom_keys, DELIMITERS[delimiter])


def _stream(
    engine: Engine, statement: Select[Any], custom_keys: list[str], delimiter: str
) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header(custom_keys))
    # One transaction: the whole export is one snapshot, and the named cursor lives in it.
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
            statement
        )
        for rows in result.partitions():
            writer.writerows(record(row, custom_keys) for row in rows)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")
