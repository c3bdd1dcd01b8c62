"""Sending mail: a small Protocol, and its SMTP implementation on the standard library."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from app.settings import SmtpSettings


class MailError(Exception):
    """The server could not be reached or refused the messages: nothing was delivered."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server accepted. ``refused`` lists addresses it rejected one by one."""

    accepted: int
    refused: tuple[str, ...] = field(default_factory=tuple)


class MailSender(Protocol):
    def send(self, messages: Sequence[EmailMessage]) -> Delivery:
        """Hand every message to the mail server, or raise :class:`MailError`."""
        ...


class SmtpSender:
    """Delivers over one SMTP connection per call (plain, STARTTLS or implicit TLS).

    One connection for all the messages of a site keeps the usual failures (server
    down, login refused) all-or-nothing: they happen before the first message goes.
    """

    def __init__(self, settings: SmtpSettings, *, context: ssl.SSLContext | None = None):
        self.settings = settings
        self.context = context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_seconds, context=self.context
            )
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            client.starttls(context=self.context)
        return client

    def send(self, messages: Sequence[EmailMessage]) -> Delivery:
        if not messages:
            return Delivery(accepted=0)
        s = self.settings
        refused: list[str] = []
        try:
            with self._connect() as client:
                if s.username:
                    password = s.password.get_secret_value() if s.password else ""
                    client.login(s.username, password)
                for message in messages:
                    # A dict of the recipients refused one by one; when all are
                    # refused smtplib raises SMTPRecipientsRefused instead.
                    refused.extend(client.send_message(message))
        except (smtplib.SMTPException, OSError) as exc:
            # The password never appears: smtplib's messages carry server replies only.
            raise MailError(
                f"SMTP {s.host}:{s.port}: {type(exc).__name__}: {exc}".strip()
            ) from exc
        return Delivery(accepted=len(messages), refused=tuple(sorted(refused)))
