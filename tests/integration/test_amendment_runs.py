"""Moving every subject of a study in one transaction (the pages' signed "Apply this
amendment"): subjects waiting for their re-consent are skipped and listed, each subject
moved gets its own audit record with the signature, a second run moves nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import Forbidden, ReasonRequired
from app.models import AuditRecord
from app.services.amendments.preview import subjects_to_move
from app.services.amendments.run import Blocked, apply_to_study
from app.services.studies import load_schedule
from app.signatures import Meaning, Signature
from tests.helpers_amendments import NOW, V2, subjects_in_every_state
from tests.helpers_subjects import SLE, load_seed_studies

SIGNED = Signature(Meaning.APPROVED, "Dr Ana Admin", "ana.admin", NOW)


@pytest.fixture
def amended(session: Session) -> Session:
    load_seed_studies(session)
    load_schedule(session, text=V2, source="ucart-sle-2.0.yaml", actor=SYSTEM)
    subjects_in_every_state(session)
    session.flush()
    return session


def test_a_run_moves_every_subject_it_may_and_signs_each_record(amended: Session) -> None:
    assert subjects_to_move(amended, study=SLE, to_version="2.0", actor=SYSTEM) == 4
    run = apply_to_study(amended, study=SLE, to_version="2.0", reason="Amendment 1",
                         actor=SYSTEM, now=NOW, signature=SIGNED)
    assert [a.subject_id for a in run.moved] == ["NS", "MID", "WD"]
    assert run.blocked == (Blocked("RC", "amendment 1 needs re-consent to consent version "
                                         "2.0"),)
    assert run.summary == f"{SLE} 2.0: 3 subject(s) moved, 0 already on it, 1 blocked"
    mid = next(a for a in run.moved if a.subject_id == "MID")
    assert {v.code for v in mid.impact.visits if v.effects} >= {"D7", "M3", "M9"}
    records = list(amended.scalars(select(AuditRecord).where(
        AuditRecord.action == "subject.amended").order_by(AuditRecord.id)))
    assert [r.subject_id for r in records] == ["NS", "MID", "WD"]
    for record in records:
        assert record.after is not None and record.reason == "Amendment 1"
        assert record.after["signature"] == SIGNED.as_audit()
        assert record.after["signature"]["meaning"] == "approved by"
    assert subjects_to_move(amended, study=SLE, to_version="2.0", actor=SYSTEM) == 1

    again = apply_to_study(amended, study=SLE, to_version="2.0", reason="Amendment 1",
                           actor=SYSTEM, now=NOW)
    assert again.summary == f"{SLE} 2.0: 0 subject(s) moved, 3 already on it, 1 blocked"
    assert len(list(amended.scalars(select(AuditRecord.id).where(
        AuditRecord.action == "subject.amended")))) == 3


def test_a_run_needs_an_admin_and_a_reason(amended: Session) -> None:
    coordinator = Actor(name="c", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
    with pytest.raises(Forbidden):
        apply_to_study(amended, study=SLE, to_version="2.0", reason="x", actor=coordinator,
                       now=NOW)
    with pytest.raises(ReasonRequired):
        apply_to_study(amended, study=SLE, to_version="2.0", reason="  ", actor=SYSTEM,
                       now=NOW)
    assert subjects_to_move(amended, study=SLE, to_version="2.0", actor=SYSTEM) == 4
