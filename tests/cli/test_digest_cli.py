"""`followup digest send` end to end: real database, real SMTP, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from app.cli import cli
from app.db import transaction
from app.models import DigestSend, Site
from app.services.digest.content import iso_with_weekday
from tests.conftest import BACKENDS, ROOT
from tests.helpers_digest import (
    DOB,
    SENDER,
    CommittedDb,
    SmtpServer,
    add_recipient_row,
    committed_world,
    running_smtp,
)


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    yield from committed_world(request.param, tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from running_smtp()


def make_env(world_db: CommittedDb, smtp: SmtpServer) -> dict[str, str]:
    with transaction(world_db.factory) as session:
        for code in ("YC3H", "WTCH"):
            site = session.scalars(select(Site).where(Site.code == code)).one()
            add_recipient_row(session, site, f"crc@{code.lower()}.example")
    return {
        "DATABASE_URL": world_db.url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none", "SMTP_SENDER": SENDER, "BASE_URL": "https://followup.example",
        "DIGEST_SKIP_ALL_CLEAR": "false",
    }


@pytest.fixture
def env(world_db: CommittedDb, smtp: SmtpServer) -> dict[str, str]:
    return make_env(world_db, smtp)


def followup(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def recorded(db: CommittedDb) -> int:
    with transaction(db.factory, write=False) as session:
        return session.scalar(select(func.count()).select_from(DigestSend)) or 0


def test_dry_run_prints_and_records_nothing(
    env: dict[str, str], world_db: CommittedDb, smtp: SmtpServer
) -> None:
    result = followup(env, "digest", "send", "--dry-run", "--site", "YC3H", "--date", "2026-03-02")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Subject: [followup] YC3H 2026-03-02 (Mon): 3 overdue visits" in out
    assert "To: crc@yc3h.example" in out
    assert "- 16 days overdue: YC3H-001 (UCART-SLE) D14" in out
    assert "YC3H 2026-03-02 (Mon): would send 1 message(s) to 1 recipient(s), 3 overdue" in out
    assert DOB.isoformat() not in out
    assert smtp.messages == [] and recorded(world_db) == 0


def test_send_once_then_already_sent_then_force(
    env: dict[str, str], world_db: CommittedDb, smtp: SmtpServer
) -> None:
    args = ("digest", "send", "--date", "2026-03-02")
    first = followup(env, *args)
    assert first.exit_code == 0, first.output
    assert "PAR1 2026-03-02 (Mon): no recipients" in first.stdout
    assert "WTCH 2026-03-02 (Mon): sent 1 message(s) to 1 recipient(s), 1 overdue" in first.stdout
    assert "YC3H 2026-03-02 (Mon): sent 1 message(s) to 1 recipient(s), 3 overdue" in first.stdout
    assert len(smtp.messages) == 2 and recorded(world_db) == 2
    again = followup(env, *args)
    assert again.exit_code == 0 and "YC3H 2026-03-02 (Mon): already sent" in again.stdout
    assert len(smtp.messages) == 2
    forced = followup(env, *args, "--site", "YC3H", "--force")
    assert forced.exit_code == 0 and "YC3H 2026-03-02 (Mon): sent" in forced.stdout
    assert len(smtp.messages) == 3 and recorded(world_db) == 2


def test_outage_exits_non_zero_naming_the_sites_and_the_next_run_sends(
    env: dict[str, str], world_db: CommittedDb, smtp: SmtpServer
) -> None:
    smtp.stop()
    failed = followup(env, "digest", "send", "--date", "2026-03-02")
    assert failed.exit_code == 1
    assert "error: digest not sent for site(s) WTCH, YC3H" in failed.stderr
    assert "YC3H 2026-03-02 (Mon): FAILED: SMTP 127.0.0.1:" in failed.stdout
    assert recorded(world_db) == 0
    smtp.start()
    retried = followup(env, "digest", "send", "--date", "2026-03-02")
    assert retried.exit_code == 0, retried.output
    assert len(smtp.messages) == 2 and recorded(world_db) == 2


def test_a_retry_after_a_dropped_connection_sends_only_the_messages_not_accepted(
    env: dict[str, str], world_db: CommittedDb, smtp: SmtpServer
) -> None:
    with transaction(world_db.factory) as session:
        site = session.scalars(select(Site).where(Site.code == "YC3H")).one()
        add_recipient_row(session, site, "mm@yc3h.example", "CART-HSCT-MM")
    smtp.inbox.drop_after = 1  # YC3H's first message is accepted, then the line drops
    args = ("digest", "send", "--date", "2026-03-02", "--site", "YC3H")
    failed = followup(env, *args)
    assert failed.exit_code == 1
    assert "error: digest not sent for site(s) YC3H" in failed.stderr
    smtp.inbox.drop_after = None
    retried = followup(env, *args)
    assert retried.exit_code == 0, retried.output
    assert [r.rcpt_tos for r in smtp.inbox.received] == [
        ["crc@yc3h.example"], ["mm@yc3h.example"]
    ]
    assert "(1 of 2 message(s) accepted; the next run sends the others)" in failed.stdout
    assert (
        "YC3H 2026-03-02 (Mon): sent 1 message(s) to 1 recipient(s), 3 overdue;"
        " 1 message(s) sent by an earlier run"
    ) in retried.stdout
    again = followup(env, *args)
    assert "YC3H 2026-03-02 (Mon): already sent" in again.stdout
    assert len(smtp.messages) == 2


def test_unknown_site_and_bad_date(env: dict[str, str]) -> None:
    unknown = followup(env, "digest", "send", "--site", "NOPE")
    assert unknown.exit_code == 1 and "error: unknown site NOPE" in unknown.stderr
    bad = followup(env, "digest", "send", "--date", "2026-02-30")
    assert bad.exit_code == 2 and "--date" in bad.stderr


def test_default_date_is_the_sites_today_whatever_the_server_time_zone(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    """A separate process whose own clock is in Los Angeles (16 hours behind Shanghai).

    The database plays no part in this, so SQLite alone keeps the test quick.
    """
    world = committed_world("sqlite", tmp_path)
    env = make_env(next(world), smtp)
    before = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    child = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()",
         "digest", "send", "--dry-run", "--site", "YC3H"],
        env={**os.environ, **env, "TZ": "America/Los_Angeles"}, cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=False,
    )
    after = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert child.returncode == 0, child.stderr
    labels = {f"Subject: [followup] YC3H {iso_with_weekday(day)}:" for day in (before, after)}
    assert any(label in child.stdout for label in labels), child.stdout
    world.close()
