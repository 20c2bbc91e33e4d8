"""Building an email: the MIME message of a rendered template, its headers safe from injection,
the customer's variables and display name, and the domain Message-IDs are made in."""

from __future__ import annotations

import re
import socket
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from typing import Any

from services.notifications.models import CustomerContact
from services.notifications.templates import Rendered
from shared.db import utcnow

_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """A header value that cannot start another header: every line break becomes a space."""
    return _HEADER_UNSAFE.sub(" ", value).strip()


def build_message(
    mail_from: str,
    recipients: list[tuple[str, str]],
    rendered: Rendered,
    message_id: str,
) -> EmailMessage:
    """The MIME email: text and HTML alternatives, its Message-ID and language."""
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = [
        Address(display_name=header_text(name), addr_spec=address) for name, address in recipients
    ]
    message["Subject"] = header_text(rendered.subject)
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(utcnow())
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.body_text)
    message.add_alternative(rendered.body_html, subtype="html")
    # after the alternatives: making them moves the Content-* headers into the first part
    message["Content-Language"] = rendered.language.replace("_", "-")
    return message


def display_name(contact: CustomerContact | None) -> str:
    if contact is None:
        return ""
    names = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return names or contact.company_name or ""


def customer_variables(contact: CustomerContact | None) -> dict[str, Any]:
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
