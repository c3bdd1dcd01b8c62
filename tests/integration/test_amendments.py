"""Amendments: the diff of the SLE seed and its amendment 1, and moving subjects in every
state to it (dry run, apply, re-apply), on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.errors import Conflict, Forbidden, NotFound, ReasonRequired
from app.models import AuditRecord, Subject, Visit
from app.schedule.amendment import Change, ChangeKind, Section
from app.schedule.calendar import EndpointStatus
from app.schedule.impact import Effect
from app.schedule.status import State
from app.services.amendments.apply import Outcome, apply_amendment
from app.services.amendments.preview import diff_versions, impacts, subject_amendment_impact
from app.services.studies import load_schedule
from tests.helpers_amendments import NOW, V2, reconsent, subjects_in_every_state
from tests.helpers_subjects import EDC, SLE, audit_of, load_seed_studies


@pytest.fixture
def amended(session: Session) -> Session:
    load_seed_studies(session)
    load_schedule(session, text=V2, source="ucart-sle-2.0.yaml", actor=SYSTEM)
    session.flush()
    return session


def _rows(session: Session, subject_id: str) -> dict[str, Visit]:
    subject = session.scalars(select(Subject).where(Subject.subject_id == subject_id)).one()
    return {v.code: v for v in session.scalars(
        select(Visit).where(Visit.subject_pk == subject.id))}


def _snapshot(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    return [
        (v.subject_pk, v.code, v.state, v.target_date, v.window_start, v.window_end,
         v.actual_date, v.reason)
        for v in session.scalars(select(Visit).order_by(Visit.id))
    ] + [(s.subject_id, s.protocol_version_id) for s in session.scalars(select(Subject))]


def test_the_diff_of_the_seed_and_its_amendment(amended: Session) -> None:
    diff = diff_versions(amended, study=SLE, from_version="1.1", to_version="2.0", actor=SYSTEM)
    assert (diff.from_version, diff.to_version) == ("1.1", "2.0")
    assert diff.amendment is not None and diff.amendment.number == 1
    assert diff.amendment.reconsent and diff.amendment.approved == date(2027, 3, 15)
    visits = set(diff.of(Section.VISIT))
    assert Change(Section.VISIT, "D7", ChangeKind.ADDED, None, None,
                  "timing day 7 from infusion; window -1 day / +1 day") in visits
    assert Change(Section.VISIT, "M9", ChangeKind.REMOVED, None,
                  "timing 9 months from infusion; window -14 days / +14 days", None) in visits
    assert Change(Section.VISIT, "M3", ChangeKind.RETIMED, "timing",
                  "3 months from infusion", "day 84 from infusion") in visits
    assert Change(Section.VISIT, "D14", ChangeKind.WINDOW, "window",
                  "-2 days / +2 days", "-3 days / +3 days") in visits
    assert Change(Section.VISIT, "D14", ChangeKind.CHANGED, "assessments",
                  "AE", "AE, SLEDAI") in visits
    assert diff.of(Section.ENDPOINT) == (Change(
        Section.ENDPOINT, "DORIS", ChangeKind.RETIMED, "at", "6 months, 12 months, 24 months",
        "6 months, 12 months, 18 months, 24 months"),)
    assert diff.of(Section.PERIOD) == () and diff.of(Section.VOCABULARY) == ()
    # Nothing else: the unchanged visits are not listed.
    assert {c.code for c in visits} == {"D7", "D14", "M3", "M9"}
    back = diff_versions(amended, study=SLE, from_version="2.0", to_version="1.1", actor=SYSTEM)
    assert Change(Section.VISIT, "D7", ChangeKind.REMOVED, None,
                  "timing day 7 from infusion; window -1 day / +1 day", None) in back.changes
    with pytest.raises(NotFound):
        diff_versions(amended, study=SLE, from_version="1.1", to_version="9", actor=SYSTEM)


def test_the_impact_on_subjects_in_every_state_writes_nothing(amended: Session) -> None:
    subjects_in_every_state(amended)
    before = _snapshot(amended)
    found = {a.subject_id: a for a in impacts(amended, study=SLE, to_version="2.0",
                                              actor=SYSTEM, now=NOW)}
    assert list(found) == ["NS", "MID", "WD", "RC"]
    assert _snapshot(amended) == before

    ns = {v.code: v for v in found["NS"].impact.visits}
    assert found["NS"].impact.blocked is None
    assert ns["D7"].effects == (Effect.APPEARS,) and ns["D7"].after is not None
    assert ns["D7"].after.target == date(2026, 7, 8)
    assert ns["M3"].effects == (Effect.MOVED,)
    assert ns["M3"].before is not None and ns["M3"].before.target == date(2026, 10, 1)
    assert ns["M3"].after is not None and ns["M3"].after.target == date(2026, 9, 23)
    assert ns["D14"].after is not None and ns["D14"].after.window_end == date(2026, 7, 18)
    assert ns["M9"].effects == (Effect.CANCELLED,) and ns["M9"].state_after is State.CANCELLED
    assert {e.code for e in found["NS"].impact.endpoints} == {"DORIS@18 months"}

    mid = {v.code: v for v in found["MID"].impact.visits}
    assert mid["M3"].effects == (Effect.MOVED, Effect.OUT_OF_WINDOW)
    assert mid["M3"].state_before is mid["M3"].state_after is State.COMPLETED
    assert mid["M3"].actual_date == date(2026, 5, 8)
    assert "D28" not in mid  # missed, and not moved by the amendment
    assert mid["D14"].effects == (Effect.MOVED,)  # only its window widens
    assert mid["D7"].effects == (Effect.APPEARS,)
    doris18 = next(e for e in found["MID"].impact.endpoints if e.code == "DORIS@18 months")
    assert doris18.status_after is EndpointStatus.SCHEDULED

    wd = {v.code: v for v in found["WD"].impact.visits}
    assert found["WD"].impact.blocked is None  # withdrawn: nothing ahead to consent to
    assert "M9" not in wd  # already cancelled by the withdrawal: nothing changes
    assert found["RC"].impact.blocked == (
        "amendment 1 needs re-consent to consent version 2.0")


def test_apply_moves_subjects_and_keeps_every_recorded_fact(amended: Session) -> None:
    subjects_in_every_state(amended)
    mid_before = {c: (r.state, r.actual_date, list(r.assessments), r.reason)
                  for c, r in _rows(amended, "MID").items()}
    for subject_id in ("NS", "MID", "WD"):
        done = apply_amendment(amended, study=SLE, subject_id=subject_id, to_version="2.0",
                               reason="amendment 1 approved by the ethics committee",
                               actor=SYSTEM, now=NOW)
        assert done.outcome is Outcome.APPLIED
    amended.expire_all()

    ns = _rows(amended, "NS")
    assert ns["M9"].state == "cancelled" and ns["M9"].reason == "removed by amendment 1"
    assert ns["D7"].state == "planned" and ns["D7"].target_date == date(2026, 7, 8)
    assert ns["M3"].target_date == date(2026, 9, 23)
    assert ns["D14"].window_start == date(2026, 7, 12)

    mid = _rows(amended, "MID")
    for code, (state, actual, assessments, reason) in mid_before.items():
        if code != "M9":  # the one visit the amendment removed
            assert (mid[code].state, mid[code].actual_date, list(mid[code].assessments)) == (
                state, actual, assessments), code
            if state in ("completed", "missed"):
                assert mid[code].reason == reason, code
    assert mid["D28"].reason == "patient unwell"
    assert mid["M3"].window_end == date(2026, 5, 3) and mid["M3"].state == "completed"
    assert mid["M9"].state == "cancelled"

    wd = _rows(amended, "WD")
    assert wd["M9"].state == "cancelled" and wd["M9"].reason == "withdrawal on 2026-03-01"

    records = [r for r in audit_of(amended, SLE, "MID") if r.action == "subject.amended"]
    assert len(records) == 1
    record = records[0]
    assert record.before == {"version": "1.1"} and record.after is not None
    assert record.after["version"] == "2.0" and record.after["amendment"] == 1
    assert record.reason == "amendment 1 approved by the ethics committee"
    assert record.after["visits_cancelled"] == ["M9"]
    m3 = next(v for v in record.after["visits"] if v["code"] == "M3")
    assert m3["effects"] == ["moved", "out_of_window"]
    assert record.at == NOW

    with pytest.raises(Conflict, match="re-consent"):
        apply_amendment(amended, study=SLE, subject_id="RC", to_version="2.0", reason="r",
                        actor=SYSTEM, now=NOW)
    reconsent(amended, "RC", date(2026, 5, 30))
    assert apply_amendment(amended, study=SLE, subject_id="RC", to_version="2.0", reason="r",
                           actor=SYSTEM, now=NOW).outcome is Outcome.APPLIED


def test_re_applying_is_a_no_op(amended: Session) -> None:
    subjects_in_every_state(amended)
    apply_amendment(amended, study=SLE, subject_id="NS", to_version="2.0", reason="a1",
                    actor=SYSTEM, now=NOW)
    before = _snapshot(amended)
    audits = amended.scalar(select(AuditRecord.id).order_by(AuditRecord.id.desc()).limit(1))
    again = apply_amendment(amended, study=SLE, subject_id="NS", to_version="2.0",
                            reason="a1", actor=SYSTEM, now=NOW)
    assert again.outcome is Outcome.ALREADY and not again.amendment.impact.changes_anything
    assert _snapshot(amended) == before
    assert amended.scalar(
        select(AuditRecord.id).order_by(AuditRecord.id.desc()).limit(1)) == audits


def test_a_dry_run_and_the_refusals(amended: Session) -> None:
    subjects_in_every_state(amended)
    before = _snapshot(amended)
    dry = apply_amendment(amended, study=SLE, subject_id="RC", to_version="2.0", reason="r",
                          actor=SYSTEM, now=NOW, dry_run=True)
    assert dry.outcome is Outcome.DRY_RUN and dry.amendment.impact.blocked is not None
    assert _snapshot(amended) == before
    with pytest.raises(Forbidden):
        apply_amendment(amended, study=SLE, subject_id="NS", to_version="2.0", reason="r",
                        actor=EDC, now=NOW)
    with pytest.raises(ReasonRequired):
        apply_amendment(amended, study=SLE, subject_id="NS", to_version="2.0", reason=" ",
                        actor=SYSTEM, now=NOW)
    with pytest.raises(NotFound):
        subject_amendment_impact(amended, study=SLE, subject_id="NS", to_version="3.0",
                                 actor=SYSTEM, now=NOW)
