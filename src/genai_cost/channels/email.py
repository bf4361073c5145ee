"""E-mail over SMTP: budget alerts, anomaly findings and digests to a list of recipients.

Settings come from the config file (``alerts.email``); the password is read from an environment
variable named there (``password_env``), never from the file, and never printed: errors name the
server, not the credentials. ``starttls`` (port 587, the default) upgrades a plain connection
before logging in and refuses to log in over one that would not upgrade; ``ssl`` (port 465) is TLS
from the first byte. Only the standard library's ``smtplib`` is used.

A message carries a plain-text part and, when given, an HTML alternative (the digest's visual
report), so every mail client shows something readable.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

SECURITY_MODES = ("starttls", "ssl", "none")


class InvalidEmail(ValueError):
    """An e-mail setting that cannot be used; ``key`` names it (config errors point at it)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"email {key}: {problem}")
        self.key, self.problem = key, problem


class EmailNotSent(RuntimeError):
    """The server refused or could not be reached; the message names the server and why."""


def _address(value: str, key: str) -> str:
    _, address = parseaddr(value)
    if not isinstance(value, str) or "@" not in address or any(c in value for c in "\r\n"):
        raise InvalidEmail(key, f"expected an e-mail address, got {value!r}")
    return value


@dataclass(frozen=True)
class EmailChannel:
    """One SMTP server and the people who get the mail."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int | None = None  # default: 587 for starttls, 465 for ssl, 25 for none
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None  # the environment variable holding the password
    timeout: float = 10.0
    subject_prefix: str = "[genai-cost] "
    # Trust store for the server's certificate (a private CA); default: the system's.
    ca_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host or any(c in self.host for c in "/\r\n "):
            raise InvalidEmail("host", f"expected a host name, got {self.host!r}")
        _address(self.sender, "sender")
        if isinstance(self.recipients, str):
            object.__setattr__(self, "recipients", (self.recipients,))
        if not self.recipients:
            raise InvalidEmail("recipients", "expected at least one address")
        for index, recipient in enumerate(self.recipients):
            _address(recipient, f"recipients[{index}]")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if self.security not in SECURITY_MODES:
            raise InvalidEmail("security", f"expected one of {', '.join(SECURITY_MODES)}, got {self.security!r}")
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise InvalidEmail("port", f"expected a port number, got {self.port!r}")
        if not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise InvalidEmail("timeout", f"expected a number of seconds > 0, got {self.timeout!r}")
        if self.username is not None and not self.password_env:
            raise InvalidEmail("password_env", "a username needs password_env: the variable that holds the password")

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]

    def describe(self) -> str:
        """The server, for log lines and errors: never the credentials."""
        return f"smtp://{self.host}:{self.effective_port}"

    def _password(self) -> str | None:
        if self.username is None:
            return None
        password = os.environ.get(self.password_env or "")
        if not password:
            raise EmailNotSent(f"{self.describe()}: the environment variable {self.password_env} is not set")
        return password

    def message(self, subject: str, text: str, html: str | None = None) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = self.subject_prefix + " ".join(subject.split())  # one line, no header injection
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip("> ") or None)
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def send(self, subject: str, text: str, html: str | None = None) -> None:
        """One delivery attempt to every recipient; ``EmailNotSent`` says why it failed."""
        message = self.message(subject, text, html)
        password = self._password()
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            if self.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.effective_port, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.effective_port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise EmailNotSent(f"{self.describe()} does not offer STARTTLS; not sending in the clear")
                    client.starttls(context=context)
                    client.ehlo()
                if self.username is not None:
                    client.login(self.username, password or "")
                refused = client.send_message(message, to_addrs=list(self.recipients))
        except EmailNotSent:
            raise
        except smtplib.SMTPAuthenticationError as error:
            raise EmailNotSent(f"{self.describe()} refused the login ({error.smtp_code})") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
            raise EmailNotSent(f"{self.describe()}: {type(error).__name__}: {_first_line(error)}") from None
        if refused:
            raise EmailNotSent(f"{self.describe()} refused {len(refused)} of {len(self.recipients)} recipients")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def channel_from_mapping(value: object, where: str = "email") -> EmailChannel:
    """The config file's ``email:`` mapping as a channel; ``InvalidEmail`` names the key."""
    if not isinstance(value, dict):
        raise InvalidEmail(where, "expected a mapping with host, sender and recipients")
    known = {f for f in EmailChannel.__dataclass_fields__}
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidEmail(unknown[0], f"unknown key (expected some of {', '.join(sorted(known))})")
    for required in ("host", "sender", "recipients"):
        if required not in value:
            raise InvalidEmail(required, "missing")
    recipients = value["recipients"]
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, Sequence):
        raise InvalidEmail("recipients", "expected a list of addresses")
    return EmailChannel(**{**value, "recipients": tuple(recipients)})
