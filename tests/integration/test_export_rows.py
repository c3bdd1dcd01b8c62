"""The export reader: chunk by chunk in subject order, scoped, statuses by each site's date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.schedule.lifecycle import Lifecycle
from app.schedule.status import Status
from app.services.exports.odm import odm_lines
from app.services.exports.rows import export_scope, subject_chunks
from tests.helpers_exports import seed_history
from tests.helpers_subjects import NOW, SLE, enrol_sle


def test_subjects_come_a_chunk_at_a_time_in_subject_order(session: Session) -> None:
    seed_history(session)
    scope = export_scope(session, study=SLE, site=None, actor=SYSTEM, now=NOW)
    chunks = list(subject_chunks(session, scope, chunk=2))
    assert [[s.subject_id for s in c] for c in chunks] == [["S-001", "S-002"], ["S-003"]]
    s1, s2, s3 = (s for c in chunks for s in c)
    assert (s1.lifecycle, s2.lifecycle, s3.lifecycle) == (
        Lifecycle.ACTIVE, Lifecycle.WITHDRAWN, Lifecycle.ACTIVE)
    assert s3.site == "WTCH" and {v.site for v in s3.visits} == {"YC3H", "WTCH"}
    d28 = next(v for v in s1.visits if v.code == "D28")
    assert d28.status is Status.MISSED and d28.reason is not None
    assert all(v.change is None for c in chunks for s in c for v in s.visits)  # not asked


def test_the_status_follows_each_sites_own_date(session: Session) -> None:
    """At 16:30 UTC on 4 March it is already 5 March in Shanghai: a visit whose window
    closes on 4 March is overdue by a day at the site, where the UTC date says due."""
    seed_history(session)
    enrol_sle(session, "S-009", infusion=date(2026, 2, 16))  # D14 window 28 Feb-4 March
    coordinator = Actor(name="c", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
    late = datetime(2026, 3, 4, 16, 30, tzinfo=UTC)
    scope = export_scope(session, study=SLE, site=None, actor=coordinator, now=late)
    subjects = [s for c in subject_chunks(session, scope) for s in c]
    assert [s.subject_id for s in subjects] == ["S-001", "S-009"]
    d14 = next(v for v in subjects[1].visits if v.code == "D14")
    assert d14.window_end == date(2026, 3, 4)
    assert (d14.status, d14.days_overdue) == (Status.OVERDUE, 1)


def test_odm_is_written_a_chunk_at_a_time(session: Session) -> None:
    seed_history(session)
    scope = export_scope(session, study=SLE, site=None, actor=SYSTEM, now=NOW)
    pieces = list(odm_lines(session, scope))
    # The head (metadata, admin data), the ClinicalData start, one chunk, its end, the end.
    assert len(pieces) == 5 and pieces[-1] == "</ODM>\n"
    assert pieces[1].startswith("<ClinicalData ") and pieces[3] == "</ClinicalData>\n"
