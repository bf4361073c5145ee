"""A real SMTP server for the tests (aiosmtpd on a free loopback port): plain, STARTTLS with a
self-signed certificate, optional LOGIN/PLAIN authentication; it keeps every message it accepts."""

from __future__ import annotations

import datetime
import email
import email.policy
import ssl
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[email.message.EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailServer:
    """``with MailServer(tmp_path, starttls=True, credentials=("ops", "s3cret")) as server: ...``"""

    def __init__(self, directory: Path, *, starttls: bool = False, credentials: tuple[str, str] | None = None):
        self.inbox = Inbox()
        self.cert: Path | None = None
        kwargs: dict[str, Any] = {}
        if starttls:
            self.cert, key = self_signed(directory)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, key)
            kwargs.update(tls_context=context, require_starttls=True)
        if credentials is not None:

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=starttls)
        self.port = _free_port()  # aiosmtpd's controller cannot bind port 0
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[email.message.EmailMessage]:
        return self.inbox.wait(count, timeout)

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()
