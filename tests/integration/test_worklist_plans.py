"""The worklist's queries use the partial indexes on PostgreSQL's and SQLite's real plans.

A plan depends on the table's size on disk as well as on its rows: every row another test
inserted and rolled back stays in the table as a dead tuple until a vacuum, and enough of
them tip the planner over to a sequential scan. So each test here gets a new database of
its own (the ``engine`` below overrides the shared one of tests/conftest.py), and its plan
no longer depends on which tests ran before it in the same process (under pytest-xdist,
a different set on every run).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select
from sqlalchemy.orm import Session

from app import migrate
from app.access import SYSTEM
from app.db import make_engine
from app.models import Site, Visit
from app.schedule.status import Status
from app.services.digest.content import build_site_digest
from app.services.worklist.counts import status_counts
from app.services.worklist.page import worklist
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import NOW
from tests.helpers_worklist import SLE, add_site, add_subject
from tests.helpers_worklist import load_seeds as load

TODAY = date(2026, 3, 1)
ADMIN = SYSTEM


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def seeded(session: Session) -> Session:
    load(session)
    return session


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("SELECT") and "FROM visits" in statement:
            seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    yield seen
    event.remove(connection, "before_cursor_execute", capture)


def plan_text(connection: Connection, statement: str, parameters: Any) -> str:
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)
    rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
    return "\n".join(str(row[0]) for row in rows)


@pytest.fixture
def busy(seeded: Session, connection: Connection) -> Session:
    """Two sites with a realistic mix: many visits done or far ahead, a few urgent ones,
    and fresh planner statistics, so plans are those of a real database."""
    add_site(seeded, "UTC1", "UTC", studies=[SLE])
    rows = []
    for site in ("YC3H", "UTC1"):
        subject = add_subject(seeded, SLE, site, f"BUSY-{site}")
        plan = [("done", -700 + n // 3, "completed") for n in range(600)]
        plan += [("ahead", 100 + n // 3, "planned") for n in range(600)]
        plan += [("urgent", -20 + n, "planned") for n in range(30)]
        for n, (kind, shift, state) in enumerate(plan):
            target = TODAY + timedelta(days=shift)
            rows.append({
                "subject_pk": subject.id, "study_id": subject.study_id,
                "site_id": subject.site_id, "code": f"{kind}-{n}", "name": kind,
                "phase": "main", "kind": "clinic", "optional": False, "unscheduled": False,
                "state": state, "target_date": target,
                "window_start": target - timedelta(days=2),
                "window_end": target + timedelta(days=2),
                "upcoming_from": target - timedelta(days=9),
                "actual_date": target if state == "completed" else None,
                # The urgent visits whose window closed over 5 days ago count as missed
                # (derived) three days after it closed; the others are still overdue.
                "missed_from": (target + timedelta(days=5)
                                if kind == "urgent" and shift < -7 else None),
                "provisional": False, "assessments": [],
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            })
    seeded.execute(insert(Visit), rows)
    seeded.flush()
    connection.exec_driver_sql("ANALYZE visits")
    return seeded


@pytest.mark.parametrize(
    ("status", "indexes"),
    [
        (Status.OVERDUE, ("ix_visits_open_site_window_end",)),
        # Either range answers "due" (window_start <= today <= window_end).
        (Status.DUE, ("ix_visits_open_site_window_end", "ix_visits_open_site_window_start")),
        (Status.UPCOMING, ("ix_visits_open_site_window_start",)),
        (Status.MISSED_UNDOCUMENTED, ("ix_visits_open_site_missed_from",)),
    ],
)
def test_urgent_classes_use_the_partial_indexes(
    busy: Session,
    connection: Connection,
    statements: list[tuple[str, Any]],
    status: Status,
    indexes: tuple[str, ...],
) -> None:
    statements.clear()
    # Sites on two local dates (one query per date), then one site.
    page = worklist(busy, actor=ADMIN, statuses=[status], now=datetime(2026, 3, 1, 17, tzinfo=UTC))
    assert page.rows and {row.status for row in page.rows} == {status}
    worklist(busy, actor=ADMIN, statuses=[status], sites=["YC3H"], as_of=TODAY, now=NOW)
    assert len(statements) == 3
    for statement, parameters in list(statements):
        plan = plan_text(connection, statement, parameters)
        assert any(index in plan for index in indexes), plan


def test_status_counts_use_the_window_start_and_missed_from_indexes(
    busy: Session, connection: Connection, statements: list[tuple[str, Any]]
) -> None:
    statements.clear()
    counts = status_counts(busy, actor=ADMIN, sites=["YC3H"], as_of=TODAY, now=NOW)
    assert counts[0].overdue > 0 and counts[0].missed_undocumented > 0
    assert len(statements) == 2
    windows, missed = (plan_text(connection, *statement) for statement in statements)
    assert "ix_visits_open_site_window_start" in windows, windows
    assert "ix_visits_open_site_missed_from" in missed, missed


def test_the_digest_reads_newly_missed_visits_on_the_missed_from_index(
    busy: Session, connection: Connection, statements: list[tuple[str, Any]]
) -> None:
    site = busy.scalars(select(Site).where(Site.code == "YC3H")).one()
    statements.clear()
    digest = build_site_digest(busy, site=site, local_date=TODAY, base_url="http://x")
    assert digest.newly_missed and digest.overdue
    # The sections' query computes statuses (a CASE); the newly missed one does not.
    missed = [s for s in statements if "missed_from >" in s[0] and "CASE" not in s[0]]
    assert len(missed) == 1
    plan = plan_text(connection, *missed[0])
    assert "ix_visits_open_site_missed_from" in plan, plan
