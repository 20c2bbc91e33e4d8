"""Building an email: the MIME message of a rendered template, its headers safe from injection,
the customer's variables and display name, and the domain Message-IDs are made in.

The message is written directly as bytes (7-bit: RFC 2047 headers, quoted-printable bodies,
CRLF line ends) rather than through `email.message.EmailMessage`, whose header parsing and
generator cost several times the rest of an email's sending; `tests` parse what it writes with
the standard library's parser.
"""

from __future__ import annotations

import binascii
import functools
import random
import re
import socket
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Protocol

from services.notifications.templates import Rendered
from shared.db import utcnow

_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDRESS = re.compile(r"[!#-'*+\-/-9=?A-Z^-~]+(?:\.[!#-'*+\-/-9=?A-Z^-~]+)*@[A-Za-z0-9.\-\[\]:]+")
_EOL = re.compile(r"\r\n|\r|\n")
_PLAIN_HEADER = re.compile(r"[ -~]*")
_WORD_BYTES = 45  # 60 characters of base64: a word and its header name fit in 76


class Contact(Protocol):
    """A customer's contact as the projection has it (a row of `customer_contacts`)."""

    @property
    def first_name(self) -> str | None: ...

    @property
    def last_name(self) -> str | None: ...

    @property
    def company_name(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


@dataclass(frozen=True)
class Email:
    """A built email: its Message-ID, its subject as sent, and the message itself (CRLF)."""

    message_id: str
    subject: str
    data: bytes


def header_text(value: str) -> str:
    """A header value that cannot start another header: every line break becomes a space."""
    return _HEADER_UNSAFE.sub(" ", value).strip()


@functools.lru_cache(maxsize=1024)
def _encoded(value: str) -> str:
    """A header's value as it is when short ASCII, else as RFC 2047 base64 words of whole
    characters, one a line (`email.header.Header` does the same ten times slower); the same
    few subjects come back email after email, so each is encoded once."""
    if len(value) < 64 and _PLAIN_HEADER.fullmatch(value) and "=?" not in value:
        return value
    data = value.encode("utf-8")
    words: list[bytes] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not within a character
            end -= 1
        words.append(data[start:end])
        start = end
    return "\r\n ".join(
        "=?utf-8?b?" + binascii.b2a_base64(word, newline=False).decode() + "?=" for word in words
    )


def address(name: str, addr_spec: str) -> str:
    """`"Name" <addr@domain>` with the name quoted or encoded; ValueError for a bad address."""
    if not _ADDRESS.fullmatch(addr_spec):
        raise ValueError(f"{addr_spec!r} is not an email address this sender can write to")
    return formataddr((header_text(name), addr_spec), charset="utf-8")


@functools.lru_cache(maxsize=16)
def _from_header(mail_from: str) -> str:
    name, addr_spec = parseaddr(mail_from)
    return address(name, addr_spec or mail_from)


def _part(content_type: str, text: str) -> bytes:
    body = binascii.b2a_qp(_EOL.sub("\n", text).encode("utf-8"), istext=True)
    head = (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return head.encode("ascii") + body.replace(b"\n", b"\r\n")


def build_message(
    mail_from: str,
    recipients: list[tuple[str, str]],
    rendered: Rendered,
    message_id: str,
) -> Email:
    """The MIME email: text and HTML alternatives, its Message-ID and language."""
    subject = header_text(rendered.subject)
    message_id = header_text(message_id)
    # "=_" never occurs in quoted-printable text: any boundary starting so is safe, and this
    # one costs no system call (uuid4 reads the OS's entropy, a wait under the GIL)
    boundary = f"=_{random.getrandbits(96):024x}"
    to = ",\r\n ".join(address(name, addr_spec) for name, addr_spec in recipients)
    head = (
        f"From: {_from_header(mail_from)}\r\n"
        f"To: {to}\r\n"
        f"Subject: {_encoded(subject)}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"Date: {format_datetime(utcnow())}\r\n"
        "Auto-Submitted: auto-generated\r\n"
        f"Content-Language: {header_text(rendered.language.replace('_', '-'))}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    )
    separator = f"\r\n--{boundary}\r\n".encode("ascii")
    data = b"".join(
        (
            head.encode("ascii"),
            f"--{boundary}\r\n".encode("ascii"),
            _part("text/plain", rendered.body_text),
            separator,
            _part("text/html", rendered.body_html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )
    return Email(message_id, subject, data)


def display_name(contact: Contact | None) -> str:
    """The name an email to this customer is addressed to."""
    if contact is None:
        return ""
    names = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return names or contact.company_name or ""


def customer_variables(contact: Contact | None) -> dict[str, Any]:
    """What a template is given as `customer`."""
    if contact is None:
        return {name: "" for name in ("first_name", "last_name", "company_name", "email", "name")}
    return {
        "first_name": contact.first_name or "",
        "last_name": contact.last_name or "",
        "company_name": contact.company_name or "",
        "email": contact.email or "",
        "name": display_name(contact),
    }


def mail_domain(mail_from: str) -> str:
    """The domain Message-IDs are made in: the sender address's, else the host's."""
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or socket.getfqdn() or "crm.local"
