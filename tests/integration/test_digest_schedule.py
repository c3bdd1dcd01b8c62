"""The digest scheduler: the right moment per site time zone, with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.adapters.mail import SmtpSender
from app.db import transaction
from app.models import Site
from app.services.digest.job import DigestRun
from app.services.digest.timing import (
    ScheduleLoop,
    SiteClock,
    parse_digest_time,
    plan,
    send_instant,
)
from tests.conftest import BACKENDS
from tests.helpers_digest import (
    CommittedDb,
    SmtpServer,
    add_recipient_row,
    committed_world,
    running_smtp,
    settings_for,
)

SHANGHAI = SiteClock("YC3H", "Asia/Shanghai")  # 07:00 CST = 23:00 UTC the day before
PARIS = SiteClock("PAR1", "Europe/Paris")  # 07:00 CET = 06:00 UTC (05:00 in summer)
SITES = [SHANGHAI, PARIS]


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_nothing_due_before_either_local_morning() -> None:
    # 22:59 UTC on 1 March: 06:59 on 2 March in Shanghai, 23:59 on 1 March in Paris.
    wakeup = plan(utc(3, 1, 22, 59), SITES, done={("PAR1", date(2026, 3, 1))})
    assert wakeup.due == ()
    assert wakeup.next_at == utc(3, 1, 23, 0)


def test_shanghai_at_its_seven_then_paris_at_its_seven() -> None:
    done = {("PAR1", date(2026, 3, 1))}
    at_shanghai = plan(utc(3, 1, 23, 0), SITES, done)
    assert at_shanghai.due == (("YC3H", date(2026, 3, 2)),)
    done.add(("YC3H", date(2026, 3, 2)))
    after = plan(utc(3, 1, 23, 0), SITES, done)
    assert after.due == () and after.next_at == utc(3, 2, 6, 0)
    at_paris = plan(utc(3, 2, 6, 0), SITES, done)
    assert at_paris.due == (("PAR1", date(2026, 3, 2)),)
    done.add(("PAR1", date(2026, 3, 2)))
    # Next: Shanghai's 3 March digest, at 23:00 UTC on the 2nd.
    assert plan(utc(3, 2, 6, 0), SITES, done).next_at == utc(3, 2, 23, 0)


def test_started_late_sends_todays_digest_at_once() -> None:
    wakeup = plan(utc(3, 2, 9, 30), SITES, done=set())
    assert wakeup.due == (("PAR1", date(2026, 3, 2)), ("YC3H", date(2026, 3, 2)))


def test_daylight_saving_and_custom_times() -> None:
    # Paris moves to CEST on 29 March 2026: 07:00 is then 05:00 UTC.
    assert send_instant(PARIS, date(2026, 3, 28)) == utc(3, 28, 6, 0)
    assert send_instant(PARIS, date(2026, 3, 29)) == utc(3, 29, 5, 0)
    early = SiteClock("YC3H", "Asia/Shanghai", parse_digest_time("06:30"))
    assert plan(utc(3, 1, 22, 0), [early], set()).next_at == utc(3, 1, 22, 30)
    with pytest.raises(ValueError):
        parse_digest_time("7h")
    with pytest.raises(ValueError):
        plan(datetime(2026, 3, 1, 22, 0), SITES, set())  # naive: refused
    assert parse_digest_time("") == time(7, 0)


class FakeClock:
    """A clock that only moves when the loop sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    yield from committed_world(request.param, tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from running_smtp()


def loop_for(db: CommittedDb, smtp: SmtpServer, clock: FakeClock) -> ScheduleLoop:
    settings = settings_for(db.url, smtp.port)
    run = DigestRun(factory=db.factory, settings=settings, sender=SmtpSender(settings.smtp),
                    clock=clock)
    return ScheduleLoop(load_sites=run.site_clocks, load_done=run.done_for, send=run.send_one,
                        clock=clock, sleep=clock.sleep, max_sleep=timedelta(days=1))


def test_loop_sends_each_site_at_its_local_time_and_survives_a_restart(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    with transaction(world_db.factory) as session:
        for code in ("YC3H", "PAR1"):
            site = session.scalars(select(Site).where(Site.code == code)).one()
            add_recipient_row(session, site, f"crc@{code.lower()}.example")
    clock = FakeClock(utc(3, 1, 22, 30))  # 23:30 in Paris (1 March), 06:30 in Shanghai
    loop = loop_for(world_db, smtp, clock)
    loop.run(steps=1)
    # Started after Paris's 07:00: its 1 March digest goes at once. WTCH has no recipients.
    assert [m["Subject"] for m in smtp.messages] == ["[followup] PAR1 2026-03-01 (Sun): all clear"]
    assert clock.sleeps == [1800.0]  # until 23:00 UTC, Shanghai's 07:00
    loop.run(steps=1)
    assert smtp.messages[-1]["Subject"] == "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits"
    assert clock.sleeps[-1] == 7 * 3600.0  # until 06:00 UTC, Paris's 07:00 on 2 March
    loop.run(steps=1)
    assert smtp.messages[-1]["Subject"].startswith("[followup] PAR1 2026-03-02 (Mon)")
    assert len(smtp.messages) == 3

    # A restart later that morning: the record says everything went out already.
    clock.now = utc(3, 2, 8, 0)
    restarted = loop_for(world_db, smtp, clock)
    restarted.run(steps=1)
    assert len(smtp.messages) == 3
    assert clock.sleeps[-1] == 15 * 3600.0  # until 23:00 UTC, Shanghai's 3 March digest


def test_loop_retries_after_an_outage_without_spinning(
    world_db: CommittedDb, smtp: SmtpServer
) -> None:
    with transaction(world_db.factory) as session:
        site = session.scalars(select(Site).where(Site.code == "YC3H")).one()
        add_recipient_row(session, site, "crc@yc3h.example")
    clock = FakeClock(utc(3, 1, 23, 0))
    loop = loop_for(world_db, smtp, clock)
    smtp.stop()
    loop.run(steps=1)
    assert clock.sleeps == [300.0]  # the retry delay, not a busy loop
    smtp.start()
    loop.run(steps=1)
    assert [m["Subject"] for m in smtp.messages] == [
        "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits"
    ]


def test_loop_survives_a_failing_step() -> None:
    clock = FakeClock(utc(3, 1, 23, 0))
    calls: list[str] = []

    def load_sites() -> list[SiteClock]:
        calls.append("load")
        if len(calls) == 1:
            raise ConnectionError("database unreachable")
        return [SHANGHAI]

    def send(code: str, day: date) -> bool:
        calls.append(f"send {code} {day.isoformat()}")
        return True

    loop = ScheduleLoop(load_sites=load_sites, load_done=lambda days: set(), send=send,
                        clock=clock, sleep=clock.sleep)
    loop.run(steps=2)
    assert calls == ["load", "load", "send YC3H 2026-03-02"]
    assert clock.sleeps[0] == 300.0
