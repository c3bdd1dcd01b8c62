"""The worklist service on a real database: SQL statuses, urgency order, pages, zones."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import InvalidRequest, NotFound
from app.schedule.status import State, Status, visit_status
from app.services.worklist.counts import status_counts
from app.services.worklist.page import WorklistRow, worklist
from tests.helpers_worklist import MM, SLE, add_expanded_subject, add_site, add_subject, add_visit
from tests.helpers_worklist import load_seeds as load

TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 4, tzinfo=UTC)  # noon in Shanghai, still 1 March everywhere here
ADMIN = SYSTEM


@pytest.fixture
def seeded(session: Session) -> Session:
    load(session)
    return session


def everything(session: Session, actor: Actor = ADMIN, *, now: datetime = NOW,
               **kwargs: Any) -> list[WorklistRow]:
    """Every row, read page by page (checks the cursor on the way)."""
    rows: list[WorklistRow] = []
    cursor = None
    while True:
        page = worklist(session, actor=actor, cursor=cursor, now=now, **kwargs)
        rows += page.rows
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def test_sql_status_matches_visit_status_for_every_case(seeded: Session) -> None:
    subject = add_subject(seeded, SLE, "YC3H", "GRID-1")
    expected: dict[str, Status] = {}
    windows = [(0, 0), (2, 3)]
    states = list(State)
    for n, (shift, (before, after), state, optional) in enumerate(
        itertools.product(range(-14, 16), windows, states, [False, True])
    ):
        target = TODAY + timedelta(days=shift)
        actual = None
        if state is State.COMPLETED:
            actual = target + timedelta(days=(n % 7) - 3)
        code = f"V{n}"
        add_visit(seeded, subject, code, target=target, before=before, after=after,
                  state=state.value, optional=optional, actual=actual, flush=False)
        expected[code] = visit_status(
            state=state, window_start=target - timedelta(days=before),
            window_end=target + timedelta(days=after), actual_date=actual, optional=optional,
            today=TODAY, upcoming_days=7,
        ).status
    add_visit(seeded, subject, "UNDATED", target=None, state="pending")
    expected["UNDATED"] = Status.PENDING
    add_visit(seeded, subject, "NODATES", target=None, state="planned")
    expected["NODATES"] = Status.PENDING
    rows = everything(seeded, sites=["YC3H"], as_of=TODAY, limit=500)
    assert {r.visit: r.status for r in rows} == expected
    assert len(rows) == len(expected)


def test_days_overdue_early_and_late(seeded: Session) -> None:
    subject = add_subject(seeded, SLE, "YC3H", "S-1")
    add_visit(seeded, subject, "LATE", target=date(2026, 2, 20), before=2, after=2)
    add_visit(seeded, subject, "EARLY", target=date(2026, 2, 20), before=2, after=2,
              state="completed", actual=date(2026, 2, 15))
    add_visit(seeded, subject, "AFTER", target=date(2026, 2, 10), before=2, after=2,
              state="completed", actual=date(2026, 2, 14))
    rows = {r.visit: r for r in everything(seeded, as_of=TODAY)}
    assert rows["LATE"].status is Status.OVERDUE and rows["LATE"].days_overdue == 7
    assert rows["EARLY"].status is Status.COMPLETED_OUT_OF_WINDOW
    assert (rows["EARLY"].days_early, rows["EARLY"].days_late) == (3, None)
    assert (rows["AFTER"].days_early, rows["AFTER"].days_late) == (None, 2)
    assert rows["LATE"].as_of == TODAY


def test_urgency_order(seeded: Session) -> None:
    a = add_subject(seeded, SLE, "YC3H", "A")
    b = add_subject(seeded, MM, "MM01", "B")
    add_visit(seeded, a, "SCHED", target=TODAY + timedelta(days=40), before=3, after=3)
    add_visit(seeded, a, "UP-LATER", target=TODAY + timedelta(days=8), before=2, after=2)
    add_visit(seeded, b, "UP-SOON", target=TODAY + timedelta(days=5), before=2, after=2)
    add_visit(seeded, a, "DUE-LONG", target=TODAY + timedelta(days=1), before=3, after=10)
    add_visit(seeded, b, "DUE-SHORT", target=TODAY, before=3, after=1)
    add_visit(seeded, a, "OD-RECENT", target=TODAY - timedelta(days=3), before=1, after=1)
    add_visit(seeded, b, "OD-OLD", target=TODAY - timedelta(days=30), before=1, after=1)
    add_visit(seeded, a, "DONE", target=TODAY - timedelta(days=60), state="completed",
              actual=TODAY - timedelta(days=60))
    # Same window end as OD-OLD: ties are broken by visit id (insertion order here).
    add_visit(seeded, a, "OD-OLD-TIE", target=TODAY - timedelta(days=30), before=1, after=1)
    rows = everything(seeded, as_of=TODAY)
    assert [r.visit for r in rows] == [
        "OD-OLD", "OD-OLD-TIE", "OD-RECENT", "DUE-SHORT", "DUE-LONG", "UP-SOON", "UP-LATER",
        "DONE", "SCHED",
    ]
    assert [r.status for r in rows][:7] == [Status.OVERDUE] * 3 + [Status.DUE] * 2 + [
        Status.UPCOMING
    ] * 2


@pytest.mark.parametrize("as_of", [TODAY, None])
def test_pages_are_stable_and_complete(seeded: Session, as_of: date | None) -> None:
    add_site(seeded, "LDN", "Europe/London", studies=[SLE])
    for n in range(12):
        add_expanded_subject(seeded, SLE, ("YC3H", "WTCH", "LDN")[n % 3], f"P-{n:02}",
                             {"infusion": date(2025, 9, 1) + timedelta(days=9 * n),
                              "consent": date(2025, 8, 1)})
    # Without as_of, at 17:00 UTC: 2 March in Shanghai, 1 March in London.
    now = datetime(2026, 3, 1, 17, tzinfo=UTC)
    whole = worklist(seeded, actor=ADMIN, as_of=as_of, now=now, limit=500)
    assert whole.next_cursor is None
    assert {r.as_of for r in whole.rows} == ({TODAY} if as_of else {TODAY, date(2026, 3, 2)})
    for size in (4, 50):
        paged = everything(seeded, as_of=as_of, now=now, limit=size)
        assert paged == whole.rows
    keys = [(r.subject_id, r.visit) for r in whole.rows]
    assert len(keys) == len(set(keys)) == 12 * 11


def test_filters(seeded: Session) -> None:
    add_site(seeded, "LDN", "Europe/London", studies=[SLE])
    a = add_subject(seeded, SLE, "YC3H", "A")
    b = add_subject(seeded, SLE, "LDN", "B")
    c = add_subject(seeded, MM, "MM01", "C")
    for subject in (a, b, c):
        add_visit(seeded, subject, "OD", target=TODAY - timedelta(days=10))
        add_visit(seeded, subject, "DUE", target=TODAY, before=1, after=1)
        add_visit(seeded, subject, "MISS", target=TODAY - timedelta(days=40), state="missed")
        add_visit(seeded, subject, "LATER", target=TODAY + timedelta(days=60))

    def ids(**kwargs: Any) -> set[tuple[str, str]]:
        return {(r.subject_id, r.visit) for r in everything(seeded, as_of=TODAY, **kwargs)}

    assert ids(studies=[MM]) == {("C", v) for v in ("OD", "DUE", "MISS", "LATER")}
    assert ids(sites=["YC3H", "LDN"], statuses=[Status.OVERDUE]) == {("A", "OD"), ("B", "OD")}
    assert ids(statuses=[Status.MISSED, Status.DUE], studies=[SLE]) == {
        ("A", "MISS"), ("B", "MISS"), ("A", "DUE"), ("B", "DUE")
    }
    assert ids(statuses=[Status.SCHEDULED], sites=["MM01"]) == {("C", "LATER")}
    assert ids(date_from=TODAY - timedelta(days=10), date_to=TODAY, sites=["LDN"]) == {
        ("B", "OD"), ("B", "DUE")
    }
    assert ids(date_from=TODAY + timedelta(days=1), sites=["LDN"]) == {("B", "LATER")}
    assert ids(statuses=[Status.COMPLETED]) == set()


def test_each_site_has_its_own_today(seeded: Session) -> None:
    """At 16:30 UTC on 1 March it is already 2 March in Shanghai."""
    add_site(seeded, "UTC1", "UTC", studies=[SLE])
    sh = add_subject(seeded, SLE, "YC3H", "SH")
    utc = add_subject(seeded, SLE, "UTC1", "UT")
    for subject in (sh, utc):
        add_visit(seeded, subject, "D14", target=date(2026, 3, 1))  # window closes on 1 March
    before_midnight = datetime(2026, 3, 1, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    after_midnight = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 on 2 March there
    rows = {r.subject_id: r for r in everything(seeded, now=before_midnight)}
    assert rows["SH"].status is Status.DUE and rows["UT"].status is Status.DUE
    rows = {r.subject_id: r for r in everything(seeded, now=after_midnight)}
    assert rows["SH"].status is Status.OVERDUE and rows["SH"].as_of == date(2026, 3, 2)
    assert rows["SH"].days_overdue == 1
    assert rows["UT"].status is Status.DUE and rows["UT"].as_of == date(2026, 3, 1)
    assert [r.subject_id for r in everything(seeded, now=after_midnight)] == ["SH", "UT"]
    overdue = everything(seeded, now=after_midnight, statuses=[Status.OVERDUE])
    assert [r.subject_id for r in overdue] == ["SH"]
    # An explicit as_of applies to every site.
    rows = {r.subject_id: r for r in everything(seeded, now=after_midnight, as_of=TODAY)}
    assert rows["SH"].status is Status.DUE


def test_coordinator_sees_only_its_sites(seeded: Session) -> None:
    a = add_subject(seeded, SLE, "YC3H", "A")
    b = add_subject(seeded, SLE, "WTCH", "B")
    for subject in (a, b):
        add_visit(seeded, subject, "OD", target=TODAY - timedelta(days=3))
    nurse = Actor(name="nurse", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
    assert {r.subject_id for r in everything(seeded, nurse, as_of=TODAY)} == {"A"}
    with pytest.raises(NotFound, match="site WTCH not found"):
        worklist(seeded, actor=nurse, sites=["WTCH"], as_of=TODAY, now=NOW)
    monitor = Actor(name="mon", role=Role.MONITOR, studies=frozenset({MM}))
    assert everything(seeded, monitor, as_of=TODAY) == []
    with pytest.raises(NotFound, match="study UCART-SLE not found"):
        worklist(seeded, actor=monitor, studies=[SLE], as_of=TODAY, now=NOW)
    counts = status_counts(seeded, actor=nurse, as_of=TODAY, now=NOW)
    assert [(c.site, c.study, c.overdue) for c in counts] == [("YC3H", SLE, 1)]


def test_bad_arguments(seeded: Session) -> None:
    for cursor in ("x", "!!!", "W10", "WzEsOSwiMjAyNi0wMS0wMSIsMV0"):
        with pytest.raises(InvalidRequest, match="cursor"):
            worklist(seeded, actor=ADMIN, cursor=cursor, now=NOW)
    with pytest.raises(InvalidRequest, match="limit"):
        worklist(seeded, actor=ADMIN, limit=0, now=NOW)
    with pytest.raises(InvalidRequest, match="from"):
        worklist(seeded, actor=ADMIN, date_from=TODAY, date_to=TODAY - timedelta(days=1),
                 now=NOW)


def test_status_counts(seeded: Session) -> None:
    a = add_subject(seeded, SLE, "YC3H", "A")
    b = add_subject(seeded, SLE, "YC3H", "B")
    for subject in (a, b):
        add_visit(seeded, subject, "OD", target=TODAY - timedelta(days=3))
        add_visit(seeded, subject, "OPT", target=TODAY - timedelta(days=3), optional=True)
        add_visit(seeded, subject, "DUE", target=TODAY, before=2, after=2)
        add_visit(seeded, subject, "UP", target=TODAY + timedelta(days=8), before=2, after=2)
        add_visit(seeded, subject, "FAR", target=TODAY + timedelta(days=200))
    add_visit(seeded, a, "OD2", target=TODAY - timedelta(days=300))
    counts = status_counts(seeded, actor=ADMIN, as_of=TODAY, now=NOW)
    table = {(c.site, c.study): (c.overdue, c.due, c.upcoming) for c in counts}
    assert table == {
        ("MM01", MM): (0, 0, 0),
        ("WTCH", SLE): (0, 0, 0),
        ("YC3H", SLE): (3, 2, 2),
    }
    assert status_counts(seeded, actor=ADMIN, sites=["MM01"], as_of=TODAY,
                         now=NOW)[0].site == "MM01"
    # The counts agree with the worklist itself.
    rows = everything(seeded, as_of=TODAY, statuses=[Status.OVERDUE, Status.DUE, Status.UPCOMING])
    assert len(rows) == 3 + 2 + 2
