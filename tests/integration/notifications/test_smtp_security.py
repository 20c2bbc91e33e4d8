"""SMTP with STARTTLS, implicit TLS and login (AUTH), against a real aiosmtpd server with a
certificate made for the test: configured from the environment as in production, the email
goes encrypted and logged in; a server that does not offer STARTTLS or refuses the login gets
nothing, and the email waits instead of being lost or sent in clear."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from services.notifications.config import NotificationsConfig
from services.notifications.transport import SmtpTransport, Unreachable
from shared.events.envelope import CloudEvent
from shared.mailsink import EmlWriter, _Controller
from shared.settings import Settings
from shared.worker import Worker
from tests.backbone import wait_until
from tests.integration.notifications.mailing import deliveries, settled

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]

USER, PASSWORD = "crm-mailer", "s3cret-for-the-test"


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Recording(EmlWriter):
    """Stores each message, noting whether its session was encrypted and who logged in."""

    def __init__(self, mail_dir: Path) -> None:
        super().__init__(mail_dir)
        self.sessions: list[tuple[bool, bytes | None]] = []
        self.logins: list[tuple[bytes, bool]] = []

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        accepted = (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        self.logins.append((data.login, accepted))
        return AuthResult(success=accepted, handled=False, auth_data=data.login)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data if session.authenticated else None
        assert server.transport is not None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((encrypted, login))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_server(
    tmp_path: Path, smtp_port: int, certificate: Certificate
) -> Iterator[Callable[..., _Recording]]:
    """Starts an aiosmtpd server on the test's port: `implicit` TLS, or STARTTLS required
    (`starttls`), or neither; login required when `auth`."""
    controllers: list[_Controller] = []

    def _start(starttls: bool = True, implicit: bool = False, auth: bool = True) -> _Recording:
        handler = _Recording(tmp_path / "mail")
        options: dict[str, Any] = {}
        if implicit:  # aiosmtpd offers AUTH on implicit TLS only when told it need not wait
            options.update(ssl_context=certificate.server_context(), auth_require_tls=False)
        elif starttls:
            options.update(tls_context=certificate.server_context(), require_starttls=True)
        if auth:
            options.update(authenticator=handler.authenticate, auth_required=True)
        controller = _Controller(handler, hostname="127.0.0.1", port=smtp_port, **options)
        controller.start()
        controllers.append(controller)
        return handler

    yield _start
    for controller in controllers:
        controller.stop()


def environment(certificate: Certificate, **overrides: str) -> dict[str, str]:
    """The notifications worker's environment: STARTTLS, login, the test's CA, quick retries."""
    env = {
        "CRM_SMTP_SECURITY": "starttls",
        "CRM_SMTP_USERNAME": USER,
        "CRM_SMTP_PASSWORD": PASSWORD,
        "CRM_SMTP_CA_FILE": str(certificate.cert),
        "CRM_SMTP_TIMEOUT": "5",
        "CRM_SMTP_RETRY_BASE_SECONDS": "0.2",
        "CRM_SMTP_RETRY_MAX_SECONDS": "0.5",
    }
    return {**env, **overrides}


def _config(settings: Settings, env: dict[str, str]) -> NotificationsConfig:
    return NotificationsConfig.from_env(settings.smtp_host, settings.smtp_port, env=env)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_email_goes_encrypted_and_logged_in_when_configured(
    app: Flask, worker_settings: Settings, certificate: Certificate,
    smtp_server: Callable[..., _Recording], start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID], security: str,
) -> None:  # fmt: skip
    server = smtp_server(implicit=security == "tls")
    env = environment(certificate, CRM_SMTP_SECURITY=security)
    start_worker(config=_config(worker_settings, env))
    customer = new_customer()
    publish("account.activated", {"customer_id": str(customer)})
    [row] = settled(app, 1, customer_id=customer)
    assert row.status == "sent", row.error
    assert server.sessions == [(True, USER.encode())]
    assert server.logins == [(USER.encode(), True)]


def test_a_refused_login_keeps_the_email_waiting_until_the_password_is_right(
    app: Flask, worker_settings: Settings, certificate: Certificate,
    smtp_server: Callable[..., _Recording], start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    server = smtp_server()
    wrong = start_worker(
        config=_config(worker_settings, environment(certificate, CRM_SMTP_PASSWORD="wrong"))
    )
    customer = new_customer()
    publish("account.activated", {"customer_id": str(customer)})
    [row] = wait_until(lambda: [r for r in deliveries(app, customer_id=customer)
                                  if r.error and r.status == "pending"])  # fmt: skip
    assert row.status == "pending" and "SMTP login refused: 535" in (row.error or "")
    assert server.sessions == [] and (USER.encode(), False) in server.logins
    wrong.stop()

    start_worker(config=_config(worker_settings, environment(certificate)))
    [row] = settled(app, 1, customer_id=customer)
    assert row.status == "sent", row.error
    assert server.sessions == [(True, USER.encode())]


def test_a_server_without_starttls_gets_nothing_in_clear(
    app: Flask, worker_settings: Settings, certificate: Certificate,
    smtp_server: Callable[..., _Recording], start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    server = smtp_server(starttls=False, auth=False)
    start_worker(config=_config(worker_settings, environment(certificate)))
    customer = new_customer()
    publish("account.activated", {"customer_id": str(customer)})
    [row] = wait_until(lambda: [r for r in deliveries(app, customer_id=customer)
                                  if r.error and r.status == "pending"])  # fmt: skip
    assert row.status == "pending" and "STARTTLS" in (row.error or ""), row.error
    assert server.sessions == [] and server.logins == []


def test_a_certificate_the_sender_does_not_trust_is_refused(
    worker_settings: Settings, certificate: Certificate, smtp_server: Callable[..., _Recording]
) -> None:
    server = smtp_server()
    env = environment(certificate)
    del env["CRM_SMTP_CA_FILE"]  # the system's CAs do not know the test's certificate
    transport = SmtpTransport(_config(worker_settings, env).smtp)
    with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
        transport._connect()
    assert server.sessions == [] and server.logins == []
