"""A local SMTP sink that writes every message it receives as an .eml file."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

DATA_SIZE_LIMIT = 50 * 1024 * 1024


class EmlWriter:
    """aiosmtpd handler that stores each message as an .eml file, atomically."""

    def __init__(self, mail_dir: Path) -> None:
        """Write messages into mail_dir, creating it when missing."""
        self.mail_dir = mail_dir
        self.mail_dir.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message with its envelope in X-Envelope-* headers; answer 250."""
        content = envelope.original_content or b""
        sender = envelope.mail_from or "<>"
        recipients = ", ".join(envelope.rcpt_tos)
        headers = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {recipients}\r\n"
        path = self.write(headers.encode("utf-8") + content)
        log.info("mail from %s to %s stored as %s", sender, recipients, path.name)
        return "250 Message accepted for delivery"

    def write(self, message: bytes) -> Path:
        """Write one message under a unique name via a temp file and a rename."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        final = self.mail_dir / name
        temp = self.mail_dir / f".{name}.tmp"
        with open(temp, "wb") as fh:
            fh.write(message)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)
        return final


class _Controller(Controller):
    """Controller that also works with port 0 (learns the port the OS picked)."""

    def _trigger_server(self) -> None:
        """Record the bound port before aiosmtpd connects to it."""
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


class MailSink:
    """SMTP sink in a background thread; a context manager for tests and `crm mail-sink`."""

    def __init__(self, mail_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0: a free port) and store mail in mail_dir."""
        self.mail_dir = Path(mail_dir)
        self.host = host
        self._requested_port = port
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        """The port the sink listens on (the OS-picked one when started with 0)."""
        if self._controller is None:
            return self._requested_port
        return int(self._controller.port)

    def start(self) -> MailSink:
        """Start listening; return self."""
        if self._controller is not None:
            raise RuntimeError("mail sink already started")
        controller = _Controller(
            EmlWriter(self.mail_dir),
            hostname=self.host,
            port=self._requested_port,
            data_size_limit=DATA_SIZE_LIMIT,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (no-op when not started)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        """The .eml files received so far, oldest first."""
        return sorted(self.mail_dir.glob("*.eml"))

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[Path]:
        """Wait until at least count messages are stored; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(found)} of {count} messages after {timeout}s")
            time.sleep(0.05)

    def __enter__(self) -> MailSink:
        """Start the sink."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the sink."""
        self.stop()


def run_mail_sink(host: str, port: int, mail_dir: Path) -> None:
    """Run the sink until SIGINT or SIGTERM."""
    stopped = threading.Event()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command lines

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous: dict[int, Any] = {}
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _stop)
    try:
        with MailSink(mail_dir=mail_dir, host=host, port=port) as sink:
            log.info("mail sink on %s:%d writing to %s", sink.host, sink.port, sink.mail_dir)
            while not stopped.wait(1.0):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    log.info("mail sink stopped")
