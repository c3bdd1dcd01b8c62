"""Sending mail: a small Protocol, and its SMTP implementation on the standard library."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from app.settings import SmtpSettings

# Called with a message's index and the addresses the server refused for it, as soon as
# the server has accepted that message.
OnAccepted = Callable[[int, tuple[str, ...]], None]


class MailError(Exception):
    """The server could not be reached, or refused or lost a message.

    The messages before it that the server had accepted (``accepted`` of them, from the
    first) are delivered; that message and those after it are not.
    """

    def __init__(self, detail: str, *, accepted: int = 0) -> None:
        super().__init__(detail)
        self.accepted = accepted


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server accepted. ``refused`` lists addresses it rejected one by one."""

    accepted: int
    refused: tuple[str, ...] = field(default_factory=tuple)


class MailSender(Protocol):
    def send(
        self, messages: Sequence[EmailMessage], *, on_accepted: OnAccepted | None = None
    ) -> Delivery:
        """Hand the messages to the mail server in order, or raise :class:`MailError`.

        A message the server accepted (its DATA answered 250) is delivered, whatever
        happens to the connection afterwards: ``on_accepted(index, refused)`` is called
        right then, before the next message goes. If it raises, sending stops there.
        """
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

    def _error(self, exc: Exception, *, accepted: int) -> MailError:
        s = self.settings
        # The password never appears: smtplib's messages carry server replies only.
        return MailError(
            f"SMTP {s.host}:{s.port}: {type(exc).__name__}: {exc}".strip(), accepted=accepted
        )

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(exc, accepted=0) from exc
        if s.username:
            password = s.password.get_secret_value() if s.password else ""
            try:
                client.login(s.username, password)
            except (smtplib.SMTPException, OSError) as exc:
                _quit(client)
                raise self._error(exc, accepted=0) from exc
        return client

    def send(
        self, messages: Sequence[EmailMessage], *, on_accepted: OnAccepted | None = None
    ) -> Delivery:
        if not messages:
            return Delivery(accepted=0)
        refused: list[str] = []
        client = self._open()
        try:
            for index, message in enumerate(messages):
                try:
                    # A dict of the recipients refused one by one; when all are
                    # refused smtplib raises SMTPRecipientsRefused instead.
                    refused_here = tuple(sorted(client.send_message(message)))
                except (smtplib.SMTPException, OSError) as exc:
                    raise self._error(exc, accepted=index) from exc
                refused.extend(refused_here)
                if on_accepted is not None:
                    on_accepted(index, refused_here)
        finally:
            _quit(client)
        return Delivery(accepted=len(messages), refused=tuple(sorted(refused)))


def _quit(client: smtplib.SMTP) -> None:
    """End the session. By now each message was accepted or not: an error here (a QUIT
    answered with an error, a dropped connection) changes nothing that was delivered."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
