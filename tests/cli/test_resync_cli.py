"""followup subjects resync: rows written before the derived misses (or before D0 recorded
the infusion) are brought in line, once.

A database "from before" is made by enrolling subjects with today's code and then
undoing in SQL what the new rules store: no missed_from, and a done visit whose window
is the one it had when it was recorded (before its anchor was corrected).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AnchorDateRow, AuditRecord, Subject, Visit
from app.services.visits import complete_visit
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import EDC, MM, NOW, SLE, enrol_mm, enrol_sle, load_seed_studies


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        # S-001: D0 and D14 (window 13..17 Feb) not done, D28 done on 1 March: both count
        # as missed from then. S-002: nothing done, nothing missed. MM-001: another study.
        enrol_sle(session, "S-001")
        complete_visit(session, study=SLE, subject_id="S-001", code="D28",
                       actual_date=date(2026, 3, 1), actor=EDC, now=NOW)
        enrol_sle(session, "S-002", infusion=date(2026, 2, 20))
        enrol_mm(session, "MM-001")
    with engine.begin() as conn:
        conn.execute(update(Visit).values(missed_from=None))
        # D28's window as it was stored before done visits were re-evaluated.
        s1 = select(Subject.id).where(Subject.subject_id == "S-001").scalar_subquery()
        conn.execute(update(Visit).where(Visit.subject_pk == s1, Visit.code == "D28").values(
            window_start=date(2026, 2, 1), window_end=date(2026, 2, 2)))
    engine.dispose()
    yield url
    drop_database(url)


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["subjects", "resync", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def stored(url: str) -> tuple[dict[tuple[str, str], tuple[date | None, date | None]], list[
        tuple[str | None, dict[str, object] | None]]]:
    """(subject, visit) -> (missed_from, window_end), and the resync audit records."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Subject.subject_id, Visit.code, Visit.missed_from, Visit.window_end)
            .join(Subject, Subject.id == Visit.subject_pk)
        ).all()
        audit = conn.execute(
            select(AuditRecord.subject_id, AuditRecord.after)
            .where(AuditRecord.action == "subject.resynced").order_by(AuditRecord.id)
        ).all()
    engine.dispose()
    return ({(s, c): (m, e) for s, c, m, e in rows}, [(s, a) for s, a in audit])


def test_resync_stores_the_derived_dates_once_and_audits_each_subject(database: str) -> None:
    code, out, err = invoke(database, "--batch", "2")
    assert code == 0, err
    assert out == "resynced 1 of 3 subject(s): 2 visit row(s) created or changed\n"
    # One progress line per batch of two subjects.
    assert err.splitlines() == ["resync: 2 subject(s) checked, 1 changed",
                                "resync: 3 subject(s) checked, 1 changed"]
    visits, audit = stored(database)
    missed = {key: m for key, (m, _) in visits.items() if m is not None}
    # D0 was completed at enrolment by its actual infusion: only D14 is left to miss.
    assert missed == {("S-001", "D14"): date(2026, 3, 1)}
    assert visits[("S-001", "D28")] == (None, date(2026, 3, 4))  # window 26 Feb..4 Mar
    assert visits[("S-002", "D28")][1] == date(2026, 3, 23)  # never touched
    assert [s for s, _ in audit] == ["S-001"]
    first = audit[0][1]
    assert first is not None and first["visits_created"] == []
    assert {c["code"]: c["after"] for c in first["visits_changed"]} == {  # type: ignore[union-attr, index]
        "D14": {"missed_from": "2026-03-01"},
        "D28": {"window_start": "2026-02-26", "window_end": "2026-03-04"},
    }
    again = invoke(database)
    assert again[:2] == (0, "nothing to change: the 3 subject(s) already agree with their"
                            " calendars\n")
    assert len(stored(database)[1]) == 1  # no new audit record


def test_resync_of_one_study(database: str) -> None:
    code, out, _ = invoke(database, "--study", MM)
    assert (code, out) == (0, f"nothing to change: the 1 subject(s) of {MM} already agree"
                              " with their calendars\n")
    assert stored(database)[0][("S-001", "D14")][0] is None


def test_resync_of_an_unknown_study_is_one_line_and_exit_1(database: str) -> None:
    code, out, err = invoke(database, "--study", "NOPE")
    assert (code, out, err) == (1, "", "error: study NOPE not found\n")


@pytest.fixture(params=BACKENDS)
def before_records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Subjects stored before D0 recorded the infusion, made by writing their rows back.

    R-1: infusion actual on 1 Feb, D0 still to do. R-2: infusion planned, D0 done on
    2 Feb. R-3: infusion actual on 1 Feb, D0 done on 3 Feb (they disagree)."""
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        enrol_sle(session, "R-1")
        enrol_sle(session, "R-2", actual=False)
        enrol_sle(session, "R-3")
    with engine.begin() as conn:
        for subject, values in (
            ("R-1", {"state": "planned", "actual_date": None, "assessments": [],
                     "recorded_at": None}),
            ("R-2", {"state": "completed", "actual_date": date(2026, 2, 2),
                     "assessments": ["AE"], "recorded_at": NOW}),
            ("R-3", {"actual_date": date(2026, 2, 3)}),
        ):
            pk = select(Subject.id).where(Subject.subject_id == subject).scalar_subquery()
            conn.execute(update(Visit).where(Visit.subject_pk == pk, Visit.code == "D0")
                         .values(**values))
    engine.dispose()
    yield url
    drop_database(url)


def _records(url: str) -> tuple[dict[str, tuple[str, date | None, list[str]]],
                                dict[str, tuple[date, bool]], list[tuple[Any, ...]]]:
    """D0 of each subject, its infusion, and the audit records written after enrolment."""
    engine = make_engine(url)
    with engine.connect() as conn:
        d0 = conn.execute(
            select(Subject.subject_id, Visit.state, Visit.actual_date, Visit.assessments)
            .join(Subject, Subject.id == Visit.subject_pk).where(Visit.code == "D0")).all()
        infusion = conn.execute(
            select(Subject.subject_id, AnchorDateRow.date, AnchorDateRow.actual)
            .join(Subject, Subject.id == AnchorDateRow.subject_pk)
            .where(AnchorDateRow.name == "infusion")).all()
        audit = conn.execute(
            select(AuditRecord.subject_id, AuditRecord.action, AuditRecord.key,
                   AuditRecord.before, AuditRecord.after, AuditRecord.reason)
            .where(AuditRecord.action != "subject.enrolled", AuditRecord.subject_id.is_not(None))
            .order_by(AuditRecord.id)).all()
    engine.dispose()
    return ({s: (st, d, list(a or [])) for s, st, d, a in d0},
            {s: (d, a) for s, d, a in infusion}, [tuple(r) for r in audit])


def test_resync_enters_the_other_half_of_one_fact_and_reports_disagreements(
    before_records: str,
) -> None:
    code, out, err = invoke(before_records)
    assert code == 0, err
    lines = out.splitlines()
    # R-2's visits move with its infusion, confirmed a day after its planned date.
    assert lines == [
        "resynced 2 of 3 subject(s): 11 visit row(s) created or changed",
        "one fact, one entry: 1 visit(s) completed from their actual anchor, 1 anchor(s) set"
        " from their completed visit",
        f"left as it is, to correct by hand: {SLE}/R-3: anchor infusion is actual on"
        " 2026-02-01 but visit D0 was completed on 2026-02-03",
    ]
    d0, infusion, audit = _records(before_records)
    assert d0 == {"R-1": ("completed", date(2026, 2, 1), ["AE"]),
                  "R-2": ("completed", date(2026, 2, 2), ["AE"]),
                  "R-3": ("completed", date(2026, 2, 3), ["AE"])}
    assert infusion == {"R-1": (date(2026, 2, 1), True), "R-2": (date(2026, 2, 2), True),
                        "R-3": (date(2026, 2, 1), True)}
    changes = [(s, action, key, reason) for s, action, key, _, _, reason in audit
               if action != "subject.resynced"]
    assert changes == [
        ("R-1", "visit.completed", "D0",
         "resync: completed on the actual date of anchor infusion, which this visit records"),
        ("R-2", "anchor.confirmed", "infusion",
         "resync: visit D0, which records this anchor, was completed on this date"),
    ]
    anchor = next(r for r in audit if r[1] == "anchor.confirmed")
    assert (anchor[3], anchor[4]) == ({"date": "2026-02-01", "actual": False},
                                      {"date": "2026-02-02", "actual": True})
    # A second run changes nothing, and still says what disagrees.
    again = invoke(before_records)
    assert again[0] == 0 and again[1].splitlines() == [
        "nothing to change: the 3 subject(s) already agree with their calendars", lines[-1]]
    assert _records(before_records)[2] == audit
