"""Builders for digest tests: rows inserted directly, a committed database, a real SMTP server.

The world of :func:`build_world` is seen on Monday 2026-03-02 at site YC3H (Shanghai).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app import migrate
from app.db import make_engine, make_sessionmaker, transaction
from app.models import (
    ApiToken,
    DigestRecipient,
    ProtocolVersion,
    Site,
    Study,
    StudySite,
    Subject,
    Visit,
)
from app.services.tokens import hash_token
from app.settings import Settings, SmtpSettings
from tests.conftest import drop_database, fresh_database_url
from tests.helpers_net import free_port

DAY = date(2026, 3, 2)  # a Monday
# 01:00 in Shanghai on 2 March is still 1 March in UTC, Paris and Los Angeles.
NOW = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
# A date of birth that must never leave the system in an email.
DOB = date(1971, 7, 23)
SLE, MM = "UCART-SLE", "CART-HSCT-MM"
SENDER = "followup <digest@followup.example>"


def add_site(session: Session, code: str, time_zone: str = "Asia/Shanghai",
             digest_time: str = "07:00") -> Site:
    site = Site(code=code, name=f"Hospital {code}", time_zone=time_zone, digest_time=digest_time)
    session.add(site)
    session.flush()
    return site


def add_study(session: Session, code: str, sites: list[Site]) -> Study:
    study = Study(code=code, title=f"Study {code}", target_enrolment=100)
    session.add(study)
    session.flush()
    # The digest never reads the protocol text: a placeholder version is enough.
    session.add(ProtocolVersion(study_id=study.id, version="1", yaml_text="# test",
                                content_hash="0" * 64, source_name="test", loaded_by="test"))
    session.add_all(StudySite(study_id=study.id, site_id=site.id) for site in sites)
    session.flush()
    return study


def add_subject(session: Session, study: Study, site: Site, subject_id: str) -> Subject:
    version = session.scalars(
        select(ProtocolVersion.id).where(ProtocolVersion.study_id == study.id)
    ).one()
    subject = Subject(study_id=study.id, site_id=site.id, subject_id=subject_id,
                      protocol_version_id=version, consent_date=date(2025, 11, 1),
                      date_of_birth=DOB)
    session.add(subject)
    session.flush()
    return subject


def add_visit(session: Session, subject: Subject, code: str, start: date | None,
              end: date | None, *, state: str = "planned", optional: bool = False,
              name: str | None = None) -> Visit:
    visit = Visit(subject_pk=subject.id, study_id=subject.study_id, site_id=subject.site_id,
                  code=code, name=name or f"Visit {code}", phase="main", kind="clinic",
                  optional=optional, state=state, target_date=start, window_start=start,
                  window_end=end)
    session.add(visit)
    session.flush()
    return visit


def d(month: int, day: int) -> date:
    return date(2026, month, day)


@dataclass
class World:
    yc3h: Site
    wtch: Site
    paris: Site
    sle: Study
    mm: Study


def build_world(session: Session) -> World:
    """Two Shanghai sites and a Paris one; two studies; visits around 2026-03-02."""
    yc3h, wtch = add_site(session, "YC3H"), add_site(session, "WTCH")
    paris = add_site(session, "PAR1", "Europe/Paris")
    sle = add_study(session, SLE, [yc3h, wtch, paris])
    mm = add_study(session, MM, [yc3h])
    s1 = add_subject(session, sle, yc3h, "YC3H-001")
    s2 = add_subject(session, sle, yc3h, "YC3H-002")
    s3 = add_subject(session, mm, yc3h, "YC3H-003")
    other = add_subject(session, sle, wtch, "WTCH-001")
    # Overdue on 2 March: 16, 4 and 1 day(s) (the last one only since Shanghai's midnight).
    add_visit(session, s1, "D14", d(2, 10), d(2, 14), name="Day 14 <clinic>")
    add_visit(session, s2, "D28", d(2, 20), d(2, 26))
    add_visit(session, s3, "M3", d(2, 25), d(3, 1))
    # Due: in the window, or closing within 3 days.
    add_visit(session, s1, "D28", d(2, 24), d(3, 4))
    add_visit(session, s2, "M3", d(2, 25), d(3, 20))
    add_visit(session, s3, "M6", d(3, 4), d(3, 5))  # opens in 2 days, closes in 3
    # Coming up: opening within 7 days (the 7th included, the 8th not).
    add_visit(session, s1, "M3", d(3, 6), d(3, 20))
    add_visit(session, s3, "M9", d(3, 9), d(3, 23))
    add_visit(session, s2, "M6", d(3, 10), d(3, 24))
    # Never in a digest: done, cancelled, pending, optional and past, another site.
    add_visit(session, s1, "D0", d(1, 10), d(1, 10), state="completed")
    add_visit(session, s2, "D14", d(2, 1), d(2, 5), state="missed")
    add_visit(session, s2, "D0", d(1, 20), d(1, 20), state="cancelled")
    add_visit(session, s3, "HSCT", None, None, state="pending")
    add_visit(session, s1, "OPT", d(2, 1), d(2, 3), optional=True)
    add_visit(session, other, "D14", d(2, 1), d(2, 5))
    return World(yc3h, wtch, paris, sle, mm)


def add_recipient_row(session: Session, site: Site, email: str, study: str | None = None) -> None:
    session.add(DigestRecipient(site_id=site.id, email=email, study_code=study))
    session.flush()


def make_token(session: Session, role: str, sites: list[str] | None = None,
               studies: list[str] | None = None) -> str:
    raw = "fu_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=f"{role}-{secrets.token_hex(4)}", role=role,
                         token_hash=hash_token(raw), sites=sites or [], studies=studies or []))
    session.flush()
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A committed database (the digest commits its claims; the rolled-back `session` cannot).


@dataclass
class CommittedDb:
    url: str
    engine: Engine
    factory: sessionmaker[Session]


def committed_db(backend: str, tmp_dir: Path) -> Iterator[CommittedDb]:
    """A fresh migrated database whose writes are really committed; dropped afterwards."""
    url = fresh_database_url(backend, tmp_dir)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    try:
        yield CommittedDb(url, engine, make_sessionmaker(engine))
    finally:
        engine.dispose()
        drop_database(url)


def settings_for(url: str, smtp_port: int, **overrides: Any) -> Settings:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, security="none", username=None,
                        password=None, sender=SENDER, timeout_seconds=5)
    values: dict[str, Any] = {"database_url": url, "secret_key": "test-secret",
                              "base_url": "https://followup.example", "smtp": smtp}
    values.update(overrides)
    return Settings(**values)


# A real SMTP server, in process (aiosmtpd runs it on its own thread and event loop).



@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """aiosmtpd handler keeping what arrived.

    ``refuse`` rejects every message; ``refuse_rcpt`` rejects those addresses (as an
    unknown mailbox); ``delay`` holds each message that long (to widen races);
    ``quit_reply`` answers QUIT with that reply instead of 221; ``drop_after`` closes
    the connection right after accepting (250) the message that makes that many received.
    """

    received: list[Received] = field(default_factory=list)
    refuse: bool = False
    refuse_rcpt: set[str] = field(default_factory=set)
    delay: float = 0.0
    quit_reply: str | None = None
    drop_after: int | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        if self.refuse:
            return "554 5.7.1 Message refused"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        if self.drop_after is not None and len(self.received) == self.drop_after:
            # Runs once the reply below is written: the client reads 250, then EOF.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 Accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return self.quit_reply or "221 Bye"


class SmtpServer:
    """Start/stop a real SMTP server on a fixed free port (stop = outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.inbox.received]


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


# Generators behind each test module's fixtures (`yield from` them).


def committed_world(backend: str, tmp_dir: Path) -> Iterator[CommittedDb]:
    """A committed database with :func:`build_world` in it."""
    for db in committed_db(backend, tmp_dir):
        with transaction(db.factory) as session:
            build_world(session)
        yield db


def running_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
