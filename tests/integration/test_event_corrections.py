"""Correcting or removing an event re-evaluates everything; re-consent; completion by the
calendar; who is still on study in the worklist (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.errors import NotFound, ReasonRequired, SubjectEnded
from app.models import Subject, Visit
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import EventType, Lifecycle
from app.services.studies import load_schedule
from app.services.subjects.enrolment import enrol
from app.services.subjects.events import correct_event, record_event, remove_event
from app.services.subjects.listing import list_subjects
from app.services.visits import complete_visit, mark_missed
from app.services.worklist.counts import status_counts
from app.services.worklist.page import worklist
from tests.helpers_subjects import (
    EDC,
    NOW,
    SLE,
    audit_of,
    completing_sle_text,
    enrol_sle,
    load_seed_studies,
)

# SLE, infusion 10 January 2026: D14 window 22-26 January, D28 4-10 February.
INFUSION = date(2026, 1, 10)


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def _states(session: Session, subject_id: str = "S-001") -> dict[str, str]:
    session.expire_all()
    return dict(session.execute(
        select(Visit.code, Visit.state).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject_id)
    ).tuples().all())


def _lifecycle(session: Session, subject_id: str = "S-001") -> str | None:
    session.expire_all()
    return session.scalar(select(Subject.lifecycle).where(Subject.subject_id == subject_id))


def _withdraw(session: Session, day: date, subject_id: str = "S-001") -> int:
    _, event = record_event(session, study=SLE, subject_id=subject_id,
                            type=EventType.WITHDRAWAL, day=day, actor=EDC, now=NOW)
    return event.id


def test_correcting_an_event_date_re_evaluates_the_calendar(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    event = _withdraw(seeded, date(2026, 1, 20))
    assert _states(seeded)["D14"] == "cancelled"
    correct_event(seeded, study=SLE, subject_id="S-001", event_id=event,
                  day=date(2026, 2, 1), reason="the letter was dated 1 February",
                  actor=EDC, now=NOW)
    # The same calendar as a withdrawal recorded on 1 February in the first place.
    _withdraw(seeded, date(2026, 2, 1), "S-002")
    assert _states(seeded) == _states(seeded, "S-002")
    assert _states(seeded)["D14"] == "planned"  # its window had closed: missed, derived
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert record.action == "event.corrected" and record.key == "withdrawal"
    assert record.before == {"id": event, "date": "2026-01-20"}
    assert record.after is not None and record.after["date"] == "2026-02-01"
    assert record.reason == "the letter was dated 1 February"


def test_a_correction_must_fit_the_other_facts_and_give_a_reason(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 1, 24), actor=EDC, now=NOW)
    event = _withdraw(seeded, date(2026, 2, 1))
    with pytest.raises(SubjectEnded, match="visit D14 was done on 2026-01-24, after the"):
        correct_event(seeded, study=SLE, subject_id="S-001", event_id=event,
                      day=date(2026, 1, 20), reason="typo", actor=EDC, now=NOW)
    with pytest.raises(ReasonRequired):
        correct_event(seeded, study=SLE, subject_id="S-001", event_id=event,
                      day=date(2026, 2, 2), reason=" ", actor=EDC, now=NOW)
    with pytest.raises(NotFound):
        correct_event(seeded, study=SLE, subject_id="S-001", event_id=event + 1000,
                      day=date(2026, 2, 2), reason="typo", actor=EDC, now=NOW)
    before = len(audit_of(seeded, SLE, "S-001"))
    correct_event(seeded, study=SLE, subject_id="S-001", event_id=event,
                  day=date(2026, 2, 1), reason="unchanged", actor=EDC, now=NOW)
    assert len(audit_of(seeded, SLE, "S-001")) == before  # nothing changed, nothing written


def test_removing_an_ending_event_puts_the_subject_back_on_study(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    planned = _states(seeded)
    event = _withdraw(seeded, date(2026, 1, 20))
    assert _lifecycle(seeded) == "withdrawn"
    with pytest.raises(ReasonRequired):
        remove_event(seeded, study=SLE, subject_id="S-001", event_id=event, reason=None,
                     actor=EDC, now=NOW)
    remove_event(seeded, study=SLE, subject_id="S-001", event_id=event,
                 reason="recorded on the wrong subject", actor=EDC, now=NOW)
    assert _lifecycle(seeded) == "active" and _states(seeded) == planned
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert record.action == "event.removed" and record.reason == "recorded on the wrong subject"
    assert record.before is not None
    assert {k: record.before[k] for k in ("type", "date", "lifecycle")} == {
        "type": "withdrawal", "date": "2026-01-20", "lifecycle": "withdrawn"}
    assert record.after is not None and record.after["lifecycle"] == "active"


def test_the_latest_reconsent_is_the_consent_version(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    for day, version in ((date(2026, 2, 20), "3.0"), (date(2026, 1, 20), "2.0")):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.RECONSENT,
                     day=day, value=version, actor=EDC, now=NOW)
    listed = {s.subject_id: s.consent_version
              for s in list_subjects(seeded, study=SLE, actor=EDC).items}
    assert listed == {"S-001": "3.0", "S-002": None}


def _load_completing_study(session: Session) -> str:
    code = "DONE-SLE"
    load_schedule(session, text=completing_sle_text(code), source="done.yaml", actor=SYSTEM)
    session.flush()
    return code


def test_the_protocol_may_complete_a_subject_whose_schedule_is_done(seeded: Session) -> None:
    study = _load_completing_study(seeded)
    for subject_id in ("S-001", "S-002"):
        enrol(seeded, study=study, subject_id=subject_id, site="YC3H",
              consent_date=date(2024, 1, 2), date_of_birth=date(1980, 5, 1),
              anchors={"infusion": AnchorDate(date(2024, 1, 10))}, actor=SYSTEM, now=NOW)
    optional = set(seeded.scalars(select(Visit.code).where(Visit.optional.is_(True))))
    codes = [c for c, state in _states(seeded).items()
             if state == "planned" and c not in optional]
    for code in codes[:-1]:
        mark_missed(seeded, study=study, subject_id="S-001", code=code, reason="not seen",
                    actor=SYSTEM, now=NOW)
    assert _lifecycle(seeded) == "active"
    mark_missed(seeded, study=study, subject_id="S-001", code=codes[-1], reason="not seen",
                actor=SYSTEM, now=NOW)
    assert _lifecycle(seeded) == "completed"  # derived: no event recorded
    assert audit_of(seeded, study, "S-001")[-1].action == "visit.missed"
    # Still on study by default: only S-002's visits.
    default = worklist(seeded, actor=SYSTEM, studies=[study], now=NOW, limit=500).rows
    assert {r.subject_id for r in default} == {"S-002"}
    done = worklist(seeded, actor=SYSTEM, studies=[study], lifecycles={Lifecycle.COMPLETED},
                    now=NOW, limit=500).rows
    assert {r.subject_id for r in done} == {"S-001"}
    # A derived completion ends nothing: a later fact is still accepted.
    record_event(seeded, study=study, subject_id="S-001", type=EventType.PROGRESSION,
                 day=date(2026, 2, 1), actor=SYSTEM, now=NOW)
    assert _lifecycle(seeded) == "completed"
    # In a protocol without the setting, the same calendar leaves the subject active.
    enrol_sle(seeded, "S-003", consent=date(2024, 1, 2), infusion=date(2024, 1, 10))
    for code in codes:
        mark_missed(seeded, study=SLE, subject_id="S-003", code=code, reason="not seen",
                    actor=EDC, now=NOW)
    assert _lifecycle(seeded, "S-003") == "active"
    record_event(seeded, study=SLE, subject_id="S-003", type=EventType.STUDY_COMPLETED,
                 day=date(2026, 2, 1), actor=EDC, now=NOW)
    assert _lifecycle(seeded, "S-003") == "completed"


def test_the_worklist_shows_subjects_still_on_study_by_default(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    _withdraw(seeded, date(2026, 2, 1), "S-002")  # D14 closed before: missed, not documented
    shown = {r.subject_id for r in worklist(seeded, actor=EDC, now=NOW, limit=500).rows}
    assert shown == {"S-001"}
    ended = worklist(seeded, actor=EDC, lifecycles={Lifecycle.WITHDRAWN}, now=NOW,
                     limit=500).rows
    assert {r.subject_id for r in ended} == {"S-002"}
    assert "missed_undocumented" in {r.status.value for r in ended}
    everyone = worklist(seeded, actor=EDC, lifecycles=None, now=NOW, limit=500).rows
    assert {r.subject_id for r in everyone} == {"S-001", "S-002"}
    # The counts follow the same subjects. Standing on 24 January, S-002's D14 (window
    # 22-26 January; missed only from the withdrawal on) is due like S-001's.
    def due(lifecycles: frozenset[Lifecycle] | None) -> int:
        counts = status_counts(seeded, actor=EDC, sites=["YC3H"], studies=[SLE],
                               lifecycles=lifecycles, as_of=date(2026, 1, 24), now=NOW)
        return sum(c.due for c in counts)

    assert (due(None), due(frozenset({Lifecycle.ACTIVE})),
            due(frozenset({Lifecycle.WITHDRAWN}))) == (2, 1, 1)
    assert due(frozenset({Lifecycle.ACTIVE})) == sum(
        c.due for c in status_counts(seeded, actor=EDC, sites=["YC3H"], studies=[SLE],
                                     as_of=date(2026, 1, 24), now=NOW))  # the default
