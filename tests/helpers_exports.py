"""Both seed studies with history to export: visits done, late, corrected, missed,
unscheduled, lifecycle events, a transfer, and a reason that looks like a formula."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lxml import etree
from sqlalchemy.orm import Session

from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, mark_missed, record_unscheduled
from tests.helpers_subjects import EDC, MM, NOW, SLE, enrol_mm, enrol_sle, load_seed_studies

ODM_DIR = Path(__file__).resolve().parent / "data" / "standards" / "odm-1.3.2"
ODM_NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
FORMULA = '=HYPERLINK("http://evil.invalid","click")'


def odm_schema() -> etree.XMLSchema:
    """The official ODM 1.3.2 schema, read from the copy in the repository (no network)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(ODM_DIR / "ODM1-3-2.xsd"), parser))


def seed_history(session: Session) -> None:
    """SLE: S-001 (YC3H) done, late then corrected, missed, unscheduled; S-002 (WTCH)
    withdrawn; S-003 (YC3H) transferred to WTCH. MM: MM-001 in complete remission, then
    transplanted; MM-002 dead."""
    load_seed_studies(session)
    enrol_sle(session, "S-001", infusion=date(2026, 2, 1))
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 2, 19), actor=EDC, now=NOW)
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 2, 16), correction=True, reason="typo in the date",
                   actor=EDC, now=NOW)
    mark_missed(session, study=SLE, subject_id="S-001", code="D28", reason=FORMULA,
                actor=EDC, now=NOW)
    record_unscheduled(session, study=SLE, subject_id="S-001", day=date(2026, 2, 25),
                       name="Rash check", actor=EDC, now=NOW)
    enrol_sle(session, "S-002", site="WTCH", infusion=date(2026, 2, 10))
    record_event(session, study=SLE, subject_id="S-002", type=EventType.WITHDRAWAL,
                 day=date(2026, 2, 20), actor=EDC, now=NOW)
    enrol_sle(session, "S-003", infusion=date(2026, 2, 5))
    record_event(session, study=SLE, subject_id="S-003", type=EventType.TRANSFER,
                 day=date(2026, 2, 22), value="WTCH", actor=EDC, now=NOW)
    enrol_mm(session, "MM-001")
    record_event(session, study=MM, subject_id="MM-001", type=EventType.RESPONSE,
                 day=date(2025, 5, 5), value="CR", actor=EDC, now=NOW)
    enrol_mm(session, "MM-002")
    record_event(session, study=MM, subject_id="MM-002", type=EventType.DEATH,
                 day=date(2025, 6, 1), actor=EDC, now=NOW)
    session.flush()
