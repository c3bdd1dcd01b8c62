"""The FHIR export's pure parts on plain values: ids and full URLs, the status mappings,
the schedule as a PlanDefinition (relatedAction offsets and acceptable ranges), and a
subject's resources, each valid for the FHIR R4B models of ``fhir.resources``."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.access import SYSTEM
from app.schedule.dates import Offset
from app.schedule.lifecycle import EventType, Lifecycle
from app.schedule.loader import parse_protocol
from app.schedule.plan import VisitDef, build_plan
from app.schedule.status import Status
from app.services.exports.fhir import SiteRefs, subject_entries
from app.services.exports.fhir_base import (
    ACCEPTABLE_RANGE_EXT,
    RESEARCH_SUBJECT_STATUS,
    VISIT_MAPPING,
    Ref,
    Resource,
    fhir_id,
    uuid5,
)
from app.services.exports.fhir_plan import (
    location,
    plan_definition,
    related_action,
    research_study,
)
from app.services.exports.rows import (
    ExportEvent,
    ExportScope,
    ExportSite,
    ExportSubject,
    ExportVersion,
    ExportVisit,
)
from tests.helpers_exports import assert_codes
from tests.helpers_subjects import seed_text

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
SCOPE = ExportScope(actor=SYSTEM, study="CART-HSCT-MM", study_id=1, title="CAR-T then allo-HSCT",
                    registry_id=None, site=None, now=AT)
SITES = SiteRefs(frozenset({"MM01"}), {"MM01": "Asia/Shanghai"})
VISIT = ExportVisit(
    code="D14", name="Day 14 visit", phase="main", kind="clinic", optional=False,
    unscheduled=False, site="MM01", status=Status.SCHEDULED, target_date=date(2026, 2, 15),
    window_start=date(2026, 2, 13), window_end=date(2026, 2, 17), actual_date=None,
    days_early=None, days_late=None, days_from_target=None, days_overdue=None, reason=None,
    change=None,
)


def valid(item: dict[str, Any]) -> dict[str, Any]:
    """The resource of a Bundle entry, once its model accepts it (and its codes)."""
    resource: dict[str, Any] = item["resource"]
    json.dumps(resource)  # plain JSON, nothing the standard library cannot write
    assert_codes(get_fhir_model_class(resource["resourceType"]).model_validate(resource))
    return resource


def mm_plan_version() -> ExportVersion:
    text = seed_text("cart-allo-hsct-rrmm.yaml")
    return ExportVersion(1, "1.0", AT, build_plan(parse_protocol(text, source="mm.yaml")))


def test_ids_are_ours_when_fhir_allows_them_and_hashed_otherwise() -> None:
    assert fhir_id("UCART-SLE", "S-001", "D14") == "UCART-SLE.S-001.D14"
    odd = fhir_id("UCART-SLE", "S 001/é", "D14")
    assert odd.startswith("h.") and len(odd) <= 64 and odd == fhir_id("UCART-SLE", "S 001/é",
                                                                        "D14")
    assert odd != fhir_id("UCART-SLE", "S 002/é", "D14")
    assert fhir_id("x" * 70).startswith("h.")


def test_full_urls_are_uuids_that_depend_only_on_type_and_id() -> None:
    one = Ref("Encounter", "A.1").full_url
    namespace = uuid.UUID("5d1f0b6e-1b7c-4f0e-9a55-6f6c6c6f7775")
    for name in ("Encounter/A.1", "Patient/é", ""):
        assert uuid5(name) == str(uuid.uuid5(namespace, name))
    assert one == f"urn:uuid:{uuid5('Encounter/A.1')}"
    assert one.startswith("urn:uuid:") and len(one) == len("urn:uuid:") + 36
    assert one == Ref("Encounter", "A.1").full_url
    assert one != Ref("Appointment", "A.1").full_url


def test_every_visit_status_and_lifecycle_has_its_fhir_status() -> None:
    assert set(VISIT_MAPPING) == set(Status)
    assert set(RESEARCH_SUBJECT_STATUS) == set(Lifecycle)
    done = {s for s, m in VISIT_MAPPING.items() if m.resource is Resource.ENCOUNTER}
    assert done == {Status.COMPLETED, Status.COMPLETED_OUT_OF_WINDOW}
    assert VISIT_MAPPING[Status.MISSED].status == "noshow"
    assert VISIT_MAPPING[Status.NOT_APPLICABLE].status == "cancelled"
    assert RESEARCH_SUBJECT_STATUS[Lifecycle.WITHDRAWN] == "withdrawn"


def visit_def(offset: Offset, before: int, after: int, **changes: Any) -> VisitDef:
    base = mm_plan_version().plan.by_code["D14"]
    return replace(base, offset=offset, before_days=before, after_days=after, **changes)


@pytest.mark.parametrize(("offset", "before", "after", "expected"), [
    (Offset(days=14), 2, 3, {"relationship": "after", "value": 14, "code": "d",
                             "range": (12, 17)}),
    (Offset(days=-2), 1, 0, {"relationship": "before", "value": 2, "code": "d",
                             "range": (2, 3)}),
    (Offset(days=0), 1, 2, {"relationship": "concurrent", "range": (-1, 2)}),
    (Offset(months=3), 7, 7, {"relationship": "after", "value": 3, "code": "mo"}),
    (Offset(days=7), 0, 0, {"relationship": "after", "value": 7, "code": "d"}),
])
def test_related_action_gives_the_offset_and_its_acceptable_range(
    offset: Offset, before: int, after: int, expected: dict[str, Any]
) -> None:
    related = related_action(visit_def(offset, before, after))
    assert related["actionId"] == "anchor-infusion"
    assert related["relationship"] == expected["relationship"]
    if "value" in expected:
        assert (related["offsetDuration"]["value"], related["offsetDuration"]["code"]) == (
            expected["value"], expected["code"])
    else:
        assert "offsetDuration" not in related
    if "range" in expected:
        (extension,) = related["extension"]
        assert extension["url"] == ACCEPTABLE_RANGE_EXT
        bounds = extension["valueRange"]
        assert (bounds["low"]["value"], bounds["high"]["value"]) == expected["range"]
    else:
        assert "extension" not in related


def test_a_visit_timed_from_another_visit_relates_to_that_visits_action() -> None:
    related = related_action(visit_def(Offset(days=7), 0, 0, anchor=None, after_visit="D0"))
    assert related["actionId"] == "visit-D0"


def test_the_study_its_sites_and_its_schedule_are_valid_resources() -> None:
    version = mm_plan_version()
    sites = [ExportSite("MM01", "Single centre")]
    study = valid(research_study(replace(SCOPE, registry_id="NCT00000000"), [version], sites))
    assert study["identifier"][1] == {"use": "secondary", "system": "https://clinicaltrials.gov",
                                      "value": "NCT00000000"}
    assert valid(location(sites[0]))["name"] == "Single centre"
    plan = valid(plan_definition(SCOPE, version))
    ids = [a["id"] for a in plan["action"]]
    assert ids[:2] == ["anchor-infusion", "anchor-transplant"]
    assert ids[2:] == [f"visit-{v.code}" for v in version.plan.visits]
    by_id = {a["id"]: a for a in plan["action"]}
    # Every action is timed from an action of the plan.
    assert {r["actionId"] for a in plan["action"] for r in a.get("relatedAction", [])} <= set(ids)
    hsct = by_id["visit-HSCT-D14"]
    assert hsct["relatedAction"][0]["actionId"] == "anchor-transplant"
    assert hsct["requiredBehavior"] == "could"  # only if the phase opens
    assert by_id["visit-D14"]["requiredBehavior"] == "must"
    assert by_id["visit-M6"]["extension"][0]["valueRange"]["high"]["value"] == 14


def test_a_subjects_visits_become_encounters_and_appointments() -> None:
    visits = (
        replace(VISIT, code="D0", status=Status.COMPLETED, actual_date=date(2026, 2, 1),
                kind="inpatient"),
        replace(VISIT, code="D7", status=Status.MISSED, reason="fever"),
        replace(VISIT, code="D14", status=Status.DUE),
        replace(VISIT, code="D28", status=Status.CANCELLED),
        replace(VISIT, code="HSCT-D0", status=Status.PENDING, target_date=None,
                window_start=None, window_end=None),
        replace(VISIT, code="M3", status=Status.MISSED_UNDOCUMENTED, target_date=None,
                window_start=None, window_end=None, site="GONE"),
    )
    subject = ExportSubject(
        subject_id="MM-002", site="MM01", lifecycle=Lifecycle.DIED,
        consent_date=date(2026, 1, 5), protocol_version="1.0", enrolled_at=AT, visits=visits,
        enrolment=None, events=(ExportEvent(3, EventType.DEATH, date(2026, 2, 20), None),),
    )
    entries = subject_entries(SCOPE, subject, SITES)
    resources = [valid(e) for e in entries]
    patient, research_subject, *calendar = resources
    assert patient == {"resourceType": "Patient", "id": "CART-HSCT-MM.MM-002",
                       "identifier": [{"system": "urn:followup:fhir:CART-HSCT-MM:subject",
                                       "value": "MM-002"}],
                       "deceasedDateTime": "2026-02-20"}
    assert research_subject["status"] == "off-study"
    assert research_subject["period"] == {"start": "2026-01-05", "end": "2026-02-20"}
    assert research_subject["individual"]["reference"] == entries[0]["fullUrl"]
    shown = [(r["resourceType"], r["status"]) for r in calendar]
    assert shown == [("Encounter", "finished"), ("Appointment", "noshow"),
                     ("Appointment", "proposed"), ("Appointment", "cancelled"),
                     ("Appointment", "proposed"), ("Appointment", "cancelled")]
    d0, d7, d14, _, pending, undated = calendar
    assert d0["class"]["code"] == "IMP" and d0["period"]["start"] == "2026-02-01"
    assert d7["comment"] == "fever"
    assert (d7["start"], d7["end"]) == ("2026-02-12T16:00:00Z", "2026-02-17T16:00:00Z")
    assert d14["requestedPeriod"] == [{"start": "2026-02-13", "end": "2026-02-17"}]
    assert "start" not in d14
    assert "requestedPeriod" not in pending
    # A site outside the export is named by its identifier, not referenced.
    assert undated["participant"][1]["actor"] == {
        "identifier": {"system": "urn:followup:fhir:site", "value": "GONE"}, "display": "GONE"}
    assert undated["extension"][0]["valueCoding"]["code"] == "missed_undocumented"
