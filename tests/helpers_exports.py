"""Both seed studies with history to export: visits done, late, corrected, missed,
unscheduled, lifecycle events, a transfer, and a reason that looks like a formula."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from pydantic import BaseModel
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


def fhir_bundle(body: bytes) -> dict[str, Any]:
    """The export parsed, after validating the Bundle and each of its resources with the
    FHIR R4B models of ``fhir.resources`` (R4B is R4 for every resource the export uses)."""
    data: dict[str, Any] = json.loads(body)
    assert_codes(Bundle.model_validate(data))
    for item in data["entry"]:
        resource = item["resource"]
        assert_codes(get_fhir_model_class(resource["resourceType"]).model_validate(resource))
        if resource["resourceType"] == "Appointment":  # invariants app-2 and app-3
            assert ("start" in resource) == ("end" in resource), resource
            assert "start" in resource or resource["status"] in (
                "proposed", "cancelled", "waitlist"), resource
    return data


def assert_codes(model: BaseModel, path: str = "") -> None:
    """Every code of a required binding is one its value set lists (the models carry the
    lists as ``enum_values`` but do not check them; ``+`` marks a list cut short, and each
    code the export writes must then be among those shown)."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        allowed = extra.get("enum_values")
        if allowed is not None and value is not None:
            assert value in allowed, f"{path}{name}: {value!r} not in {allowed}"
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                assert_codes(item, f"{path}{name}.")


def fhir_resources(data: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"]
            if e["resource"]["resourceType"] == resource_type]
