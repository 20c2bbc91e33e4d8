"""An uploaded file kept in the database in 1 MB parts, read back as a stream (one part in
memory), so that neither the request nor the worker ever holds the whole file."""

from __future__ import annotations

import io
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.imports.models import ImportFilePart

PART_SIZE = 1024 * 1024


def stored_file(session_factory: sessionmaker[Session], import_id: uuid.UUID) -> io.BufferedReader:
    """The import's file as a binary stream, read part by part."""
    return io.BufferedReader(_FileStream(session_factory, import_id), PART_SIZE)


class _FileStream(io.RawIOBase):
    """An uploaded file read back part by part from the database (one part in memory)."""

    def __init__(self, session_factory: sessionmaker[Session], import_id: uuid.UUID) -> None:
        self._session_factory = session_factory
        self._import_id = import_id
        self._seq = 0
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer:
            with self._session_factory() as session:
                part = session.scalar(
                    select(ImportFilePart.data).where(
                        ImportFilePart.import_id == self._import_id,
                        ImportFilePart.seq == self._seq,
                    )
                )
            if part is None:
                return 0
            self._buffer, self._seq = bytes(part), self._seq + 1
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
