"""Where emails go: an SMTP server over one reused connection, or `.eml` files (embedded mode).

A transport hands one built message over and says how it went: returning means the server took
it (250); `TemporaryFailure` (4xx, refused connection, timeout before the message was handed
over) and `PermanentFailure` (5xx, with the server's reply) mean it did not;
`AmbiguousDelivery` means the message was handed over but the answer was lost, so the server
may have taken it (SMTP has no idempotency key: the caller must not send it again blindly).
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from services.notifications.config import SmtpConfig
from services.notifications.message import Email


class TemporaryFailure(Exception):
    """The server did not take the message, and may later: try again after a pause."""


class Unreachable(TemporaryFailure):
    """No connection to the server (refused, timed out, TLS or login failed): the messages
    after this one would fail the same way, so they wait too without being tried."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): the reply says why."""


class AmbiguousDelivery(Exception):
    """The message was handed over but the server's answer was lost: it may have been taken."""


class Transport(Protocol):
    """Where emails go: an SMTP server, or files in the embedded mode."""

    def send(self, message: Email, sender: str, recipients: list[str]) -> None: ...

    def close(self) -> None: ...


class FileTransport:
    """Writes each email as `<hash of its Message-ID>.eml`: a re-send overwrites, never doubles."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: Email, sender: str, recipients: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(message.message_id.encode()).hexdigest()[:32] + ".eml"
        envelope = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(envelope.encode() + message.data)
        os.replace(temporary, self.directory / name)

    def close(self) -> None:
        pass


class SmtpTransport:
    """smtplib over one connection kept open between messages (STARTTLS or TLS, login)."""

    def __init__(self, config: SmtpConfig) -> None:
        assert config.host is not None
        self.config = config
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        assert config.host is not None
        context = (
            ssl.create_default_context(cafile=config.ca_file)
            if config.security in ("tls", "starttls")
            else None
        )
        try:
            connection: smtplib.SMTP
            if config.security == "tls":
                connection = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=context
                )
            else:
                connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unreachable(f"SMTP server unreachable: {exc!r}") from exc
        try:
            if context is not None and config.security == "starttls":
                connection.starttls(context=context)  # never on in clear when it is refused
            connection.ehlo_or_helo_if_needed()
            if config.username and config.password:
                connection.login(config.username, config.password)
        except smtplib.SMTPAuthenticationError as exc:
            connection.close()
            raise Unreachable(f"SMTP login refused: {exc.smtp_code} {_reply(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            connection.close()
            raise Unreachable(f"SMTP server unreachable: {exc!r}") from exc
        return connection

    def send(self, message: Email, sender: str, recipients: list[str]) -> None:
        data = _smtp_data(message.data)
        reused = self._connection is not None
        try:
            self._envelope(sender, recipients)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            if not reused:
                raise TemporaryFailure("SMTP connection lost before the message") from None
            try:
                self._envelope(sender, recipients)  # an idle connection the server had closed
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                raise TemporaryFailure(f"SMTP connection lost before the message: {exc!r}") from exc
        connection = self._connection
        assert connection is not None
        # From here the server may take the message without our hearing its answer.
        try:
            connection.send(data)
            code, reply = connection.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise AmbiguousDelivery(f"no answer after the message was sent: {exc!r}") from exc
        if code != 250:
            self._reset()
            _raise_for(code, reply, "end of data")

    def _envelope(self, sender: str, recipients: list[str]) -> None:
        """MAIL, RCPT and DATA up to the server's 354; refusals raised as such."""
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        try:
            code, reply = _command(connection, "mail", "FROM", sender)
            if code != 250:
                _raise_for(code, reply, "MAIL FROM")
            refused = []
            for recipient in recipients:
                code, reply = _command(connection, "rcpt", "TO", recipient)
                if code not in (250, 251):
                    refused.append((code, reply, recipient))
            if len(refused) == len(recipients):
                code, reply, recipient = refused[0]
                _raise_for(code, reply, f"RCPT TO {recipient}")
            connection.putcmd("data")
            code, reply = connection.getreply()
            if code != 354:
                _raise_for(code, reply, "DATA")
        except (TemporaryFailure, PermanentFailure):
            self._reset()
            raise

    def _reset(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                self._connection.close()
            self._connection = None


def _command(connection: smtplib.SMTP, verb: str, keyword: str, address: str) -> tuple[int, bytes]:
    """MAIL FROM or RCPT TO an address as it is (smtplib's `mail` and `rcpt` parse it again
    for every message, a tenth of a millisecond each); one that could break the command out is
    refused."""
    if _UNSAFE_ADDRESS.search(address):
        raise PermanentFailure(f"{address!r} cannot be written in an SMTP command")
    connection.putcmd(verb, f"{keyword}:<{address}>")
    return connection.getreply()


def _reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)


def _raise_for(code: int, reply: bytes, stage: str) -> None:
    text = f"{code} {reply.decode('utf-8', 'replace')} (at {stage})"
    if 500 <= code < 600:
        raise PermanentFailure(text)
    raise TemporaryFailure(text)


_EOL = re.compile(rb"\r\n|\n|\r")
_UNSAFE_ADDRESS = re.compile(r"[\s<>\x00-\x1f\x7f]")


def _smtp_data(raw: bytes) -> bytes:
    """The DATA of a message: CRLF line ends, a line's leading dot doubled, the final dot."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:  # built messages are CRLF already
        raw = _EOL.sub(b"\r\n", raw)
    data = raw.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def make_transport(config: SmtpConfig, mail_dir: Path) -> Transport:
    """SMTP when a host is configured, else `.eml` files in `mail_dir` (the embedded mode)."""
    if config.host:
        return SmtpTransport(config)
    return FileTransport(mail_dir)
