"""Sending digests over real SMTP (an in-process aiosmtpd server), exactly once per day."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.adapters.mail import SmtpSender
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AuditRecord, DigestSend, Site, Subject
from app.services.digest.job import DigestRun, Outcome
from app.settings import Settings
from tests.conftest import BACKENDS
from tests.helpers_digest import (
    DAY,
    DOB,
    MM,
    NOW,
    SENDER,
    SLE,
    CommittedDb,
    SmtpServer,
    add_recipient_row,
    add_visit,
    committed_world,
    d,
    running_smtp,
    settings_for,
    text_and_html,
)


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    yield from committed_world(request.param, tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from running_smtp()


def add_recipients(db: CommittedDb, rows: list[tuple[str, str, str | None]]) -> None:
    with transaction(db.factory) as session:
        for code, email, study in rows:
            site = session.scalars(select(Site).where(Site.code == code)).one()
            add_recipient_row(session, site, email, study)


def runner(db: CommittedDb, settings: Settings) -> DigestRun:
    return DigestRun(factory=db.factory, settings=settings, sender=SmtpSender(settings.smtp),
                     clock=lambda: NOW)


def sends(db: CommittedDb) -> list[tuple[str, str, str, int]]:
    with transaction(db.factory, write=False) as session:
        rows = session.execute(
            select(Site.code, DigestSend.local_date, DigestSend.state, DigestSend.recipients)
            .join(Site, Site.id == DigestSend.site_id).order_by(Site.code)
        ).all()
    return [(code, day.isoformat(), state, n) for code, day, state, n in rows]


def test_real_emails_arrive_with_the_right_content(world_db: CommittedDb, smtp: SmtpServer) -> None:
    add_recipients(world_db, [
        ("YC3H", "crc1@yc3h.example", None), ("YC3H", "crc2@yc3h.example", None),
        ("YC3H", "mm@yc3h.example", MM),
    ])
    settings = settings_for(world_db.url, smtp.port)
    results = runner(world_db, settings).run(sites=["YC3H"])
    assert [(r.site, r.local_date, r.outcome, r.recipients) for r in results] == [
        ("YC3H", DAY, Outcome.SENT, 3)
    ]
    assert len(smtp.inbox.received) == 2
    everyone, mm_only = smtp.inbox.received
    assert sorted(everyone.rcpt_tos) == ["crc1@yc3h.example", "crc2@yc3h.example"]
    assert mm_only.rcpt_tos == ["mm@yc3h.example"]
    assert parseaddr(everyone.mail_from)[1] == "digest@followup.example"

    message = everyone.message
    assert message["Subject"] == "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits"
    assert message["From"] == SENDER
    assert message["To"] == "crc1@yc3h.example, crc2@yc3h.example"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert re.fullmatch(r"<[^<>@\s]+@followup\.example>", message["Message-ID"])
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    text, html = text_and_html(message)
    for body in (text, html):
        # Most overdue first, then the other sections in their order.
        order = ["YC3H-001", "YC3H-002", "YC3H-003"]
        overdue_part = body.split("Overdue" if body is html else "OVERDUE")[1]
        positions = [overdue_part.index(subject) for subject in order]
        assert positions == sorted(positions)
        assert "2026-02-10 (Tue) to 2026-02-14 (Sat)" in body
        assert "https://followup.example/worklist?site=YC3H" in body
        assert "WTCH-001" not in body  # another site's subject
        assert DOB.isoformat() not in body and "1971" not in body
    assert "- 16 days overdue: YC3H-001 (UCART-SLE) D14 Day 14 <clinic>" in text
    assert f"{SLE}: 2 overdue, 2 due, 1 coming up" in text
    assert f"{MM}: 1 overdue, 1 due, 1 coming up" in text
    assert re.findall(r"<td class=\"subject\">([^<]+)</td>", html)[:3] == [
        "YC3H-001", "YC3H-002", "YC3H-003"
    ]

    filtered = mm_only.message
    assert filtered["Subject"] == f"[followup] YC3H {MM} 2026-03-02 (Mon): 1 overdue visit"
    text, html = text_and_html(filtered)
    assert "YC3H-003" in text and "YC3H-001" not in text and SLE not in text
    assert "YC3H-001" not in html

    assert sends(world_db) == [("YC3H", "2026-03-02", "sent", 3)]
    with transaction(world_db.factory, write=False) as session:
        row = session.scalars(select(DigestSend)).one()
        assert row.sent_at == NOW
        assert row.message_id is not None and message["Message-ID"] in row.message_id
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "digest.sent")
        ).one()
        assert (audit.site_code, audit.key) == ("YC3H", "2026-03-02")


def test_twice_sends_once_and_force_resends(world_db: CommittedDb, smtp: SmtpServer) -> None:
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None)])
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    assert run.run(sites=["YC3H"])[0].outcome is Outcome.SENT
    assert run.run(sites=["YC3H"])[0].outcome is Outcome.ALREADY_SENT
    assert len(smtp.messages) == 1
    later = NOW + timedelta(hours=2)
    forced = DigestRun(factory=world_db.factory, settings=run.settings, sender=run.sender,
                       clock=lambda: later)
    assert forced.run(sites=["YC3H"], local_date=DAY, force=True)[0].outcome is Outcome.SENT
    assert len(smtp.messages) == 2
    with transaction(world_db.factory, write=False) as session:
        row = session.scalars(select(DigestSend)).one()
        assert (row.state, row.sent_at) == ("sent", later)
        assert smtp.messages[1]["Message-ID"] in (row.message_id or "")


def test_site_without_recipients_and_all_clear(world_db: CommittedDb, smtp: SmtpServer) -> None:
    settings = settings_for(world_db.url, smtp.port)
    results = runner(world_db, settings).run(sites=["PAR1", "WTCH"])
    assert [r.outcome for r in results] == [Outcome.NO_RECIPIENTS, Outcome.NO_RECIPIENTS]
    add_recipients(world_db, [("PAR1", "crc@par1.example", None)])
    skip = settings_for(world_db.url, smtp.port, digest_skip_all_clear=True)
    assert runner(world_db, skip).run(sites=["PAR1"])[0].outcome is Outcome.ALL_CLEAR_SKIPPED
    assert smtp.messages == [] and sends(world_db) == []
    # Paris is still on 1 March at that instant: its own local date.
    (result,) = runner(world_db, settings).run(sites=["PAR1"])
    assert (result.outcome, result.local_date) == (Outcome.SENT, d(3, 1))
    (message,) = smtp.messages
    assert message["Subject"] == "[followup] PAR1 2026-03-01 (Sun): all clear"
    assert "All clear" in text_and_html(message)[0]


def test_smtp_outage_marks_nothing_and_the_next_run_sends(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None),
                              ("WTCH", "crc@wtch.example", None)])
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    smtp.stop()
    failed = [r for r in run.run() if r.outcome is Outcome.FAILED]
    assert [r.site for r in failed] == ["WTCH", "YC3H"]
    assert failed[0].detail.startswith(f"SMTP 127.0.0.1:{smtp.port}: ")
    assert sends(world_db) == []
    smtp.start()
    assert [r.outcome for r in run.run(sites=["WTCH", "YC3H"])] == [Outcome.SENT, Outcome.SENT]
    assert len(smtp.messages) == 2


def test_a_refusing_server_fails_one_site_and_the_others_go_out(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    add_recipients(world_db, [("YC3H", "gone@yc3h.example", None),
                              ("WTCH", "crc@wtch.example", None)])
    smtp.inbox.refuse_rcpt = {"gone@yc3h.example"}
    results = runner(world_db, settings_for(world_db.url, smtp.port)).run()
    outcomes = {r.site: r.outcome for r in results}
    assert outcomes == {"WTCH": Outcome.SENT, "YC3H": Outcome.FAILED,
                        "PAR1": Outcome.NO_RECIPIENTS}
    assert sends(world_db) == [("WTCH", "2026-03-02", "sent", 1)]


def test_partly_refused_recipients_are_reported_and_the_rest_sent(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    add_recipients(world_db, [("YC3H", "gone@yc3h.example", None),
                              ("YC3H", "crc@yc3h.example", None)])
    smtp.inbox.refuse_rcpt = {"gone@yc3h.example"}
    (result,) = runner(world_db, settings_for(world_db.url, smtp.port)).run(sites=["YC3H"])
    assert (result.outcome, result.refused) == (Outcome.SENT, ("gone@yc3h.example",))
    assert smtp.inbox.received[0].rcpt_tos == ["crc@yc3h.example"]
    assert sends(world_db) == [("YC3H", "2026-03-02", "sent", 1)]


def test_failed_forced_resend_keeps_the_earlier_record(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None)])
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    run.run(sites=["YC3H"])
    smtp.stop()
    assert run.run(sites=["YC3H"], force=True)[0].outcome is Outcome.FAILED
    with transaction(world_db.factory, write=False) as session:
        row = session.scalars(select(DigestSend)).one()
        assert (row.state, row.sent_at, row.recipients) == ("sent", NOW, 1)


def test_stale_claims_are_taken_over_and_live_ones_respected(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None)])
    with transaction(world_db.factory) as session:
        site = session.scalars(select(Site).where(Site.code == "YC3H")).one()
        session.add(DigestSend(site_id=site.id, local_date=DAY, state="sending",
                               claimed_at=NOW - timedelta(minutes=5), recipients=0))
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    assert run.run(sites=["YC3H"])[0].outcome is Outcome.IN_PROGRESS
    assert smtp.messages == []
    with transaction(world_db.factory) as session:
        row = session.scalars(select(DigestSend)).one()
        row.claimed_at = NOW - timedelta(minutes=20)  # the sender died long ago
    assert run.run(sites=["YC3H"])[0].outcome is Outcome.SENT
    assert len(smtp.messages) == 1 and sends(world_db)[0][2] == "sent"


@pytest.mark.parametrize("workers", [4])
def test_concurrent_runs_send_one_email_per_site(
    world_db: CommittedDb, smtp: SmtpServer, workers: int
) -> None:
    """Several runs at once, each with its own engine and sessions, on committed data."""
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None),
                              ("WTCH", "crc@wtch.example", None)])
    settings = settings_for(world_db.url, smtp.port)
    smtp.inbox.delay = 0.2  # keep each send open long enough for the others to collide
    start = threading.Barrier(workers)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        engine = make_engine(world_db.url)
        try:
            run = DigestRun(factory=make_sessionmaker(engine), settings=settings,
                            sender=SmtpSender(settings.smtp), clock=lambda: NOW)
            start.wait()
            outcomes.extend(r.outcome for r in run.run(sites=["YC3H", "WTCH"]))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=one_run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.rcpt_tos[0] for r in smtp.inbox.received) == [
        "crc@wtch.example", "crc@yc3h.example"
    ]
    assert outcomes.count(Outcome.SENT) == 2
    assert set(outcomes) <= {Outcome.SENT, Outcome.IN_PROGRESS, Outcome.ALREADY_SENT}
    assert sends(world_db) == [("WTCH", "2026-03-02", "sent", 1),
                               ("YC3H", "2026-03-02", "sent", 1)]


THREE_AUDIENCES = [("YC3H", "crc@yc3h.example", None), ("YC3H", "mm@yc3h.example", MM),
                   ("YC3H", "sle@yc3h.example", SLE)]


def received_by(smtp: SmtpServer) -> list[str]:
    return sorted(address for r in smtp.inbox.received for address in r.rcpt_tos)


def test_messages_accepted_before_a_failed_quit_are_sent_and_not_sent_again(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    """The server took every message (250 to each DATA), then answered QUIT with an error."""
    add_recipients(world_db, THREE_AUDIENCES)
    smtp.inbox.quit_reply = "421 4.3.2 Service shutting down"
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    (first,) = run.run(sites=["YC3H"])
    assert len(smtp.messages) == 3
    smtp.inbox.quit_reply = None
    (second,) = run.run(sites=["YC3H"])
    assert received_by(smtp) == ["crc@yc3h.example", "mm@yc3h.example", "sle@yc3h.example"]
    assert (first.outcome, second.outcome) == (Outcome.SENT, Outcome.ALREADY_SENT)
    assert sends(world_db) == [("YC3H", "2026-03-02", "sent", 3)]


def test_a_connection_dropped_after_accepted_data_resends_only_the_rest(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    """Two of three messages accepted, then the connection drops: the retry sends the third."""
    add_recipients(world_db, THREE_AUDIENCES)
    smtp.inbox.drop_after = 2
    run = runner(world_db, settings_for(world_db.url, smtp.port))
    (first,) = run.run(sites=["YC3H"])
    assert first.outcome is Outcome.FAILED
    assert received_by(smtp) == ["crc@yc3h.example", "mm@yc3h.example"]
    # Not sent as a whole: the scheduler retries it at once, not after a stale claim.
    assert run.done_for([DAY]) == set()

    smtp.inbox.drop_after = None
    (second,) = run.run(sites=["YC3H"])
    assert [r.rcpt_tos for r in smtp.inbox.received[2:]] == [["sle@yc3h.example"]]
    assert (second.outcome, second.earlier, len(second.messages)) == (Outcome.SENT, 2, 1)
    assert received_by(smtp) == ["crc@yc3h.example", "mm@yc3h.example", "sle@yc3h.example"]
    assert sends(world_db) == [("YC3H", "2026-03-02", "sent", 3)]
    assert run.run(sites=["YC3H"])[0].outcome is Outcome.ALREADY_SENT
    assert len(smtp.messages) == 3
    assert first.detail.endswith(
        "(2 of 3 message(s) accepted; the next run sends the others)"
    ), first.detail
    with transaction(world_db.factory, write=False) as session:
        row = session.scalars(select(DigestSend)).one()
        # The stored Message-IDs are those of messages the server received. A Message-ID
        # line longer than 78 characters is folded ("Message-ID:" CRLF " <...>"), and the
        # received header keeps the fold: its value is compared without it. (The random
        # part of an id varies in length, so this failed now and then, on either database.)
        stored = (row.message_id or "").split()
        received = [m["Message-ID"].strip() for m in smtp.messages]
        assert sorted(stored) == sorted(received), (row.message_id, received)


def test_newly_missed_visits_are_mailed_by_the_next_digest_only(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    """A visit that began to count as missed on 2 March is in that day's email, not in
    its overdue section, and not in the 3 March email (the 2 March one was sent)."""
    with transaction(world_db.factory) as session:
        subject = session.scalars(select(Subject).where(Subject.subject_id == "YC3H-002")).one()
        add_visit(session, subject, "W1", d(2, 1), d(2, 5)).missed_from = DAY
    add_recipients(world_db, [("YC3H", "crc@yc3h.example", None)])
    settings = settings_for(world_db.url, smtp.port)
    assert runner(world_db, settings).run(sites=["YC3H"])[0].outcome is Outcome.SENT
    first = smtp.messages[-1]
    assert first["Subject"] == "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits, 1 newly missed"
    text, html = text_and_html(first)
    assert "NEWLY MISSED: 1 visit began to count as missed in the last 7 days" in text
    assert "- since 2026-03-02 (Mon): YC3H-002 (UCART-SLE) W1 Visit W1;" in text
    assert "W1" not in text.split("OVERDUE")[1].split("NEWLY MISSED")[0]
    assert "Newly missed: 1 visit" in html and "W1 Visit W1" in html
    (result,) = runner(world_db, settings).run(sites=["YC3H"], local_date=d(3, 3))
    assert result.outcome is Outcome.SENT
    text, _ = text_and_html(smtp.messages[-1])
    assert "NEWLY MISSED: 0 visits began to count as missed since the last digest" \
        " (2026-03-02 (Mon))" in text
    assert "W1" not in text
