"""The export writers on plain values: CSV cells and quoting, XML escaping, an ODM
document built from a seed protocol's plan, valid against the official schema."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from lxml import etree

from app.access import SYSTEM
from app.schedule.lifecycle import EventType, Lifecycle
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.status import Status
from app.services.exports.csv_out import BOM, COLUMNS, csv_lines, neutralise
from app.services.exports.odm import subject_data
from app.services.exports.odm_meta import admin_data, global_variables, metadata_version
from app.services.exports.rows import (
    Change,
    ExportEvent,
    ExportScope,
    ExportSite,
    ExportSubject,
    ExportVersion,
    ExportVisit,
)
from app.services.exports.xml_text import clean, tag, text
from tests.helpers_exports import ODM_DIR, ODM_NS, odm_schema
from tests.helpers_subjects import seed_text

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


BASE = ExportVisit(
        code="D14", name="Day 14 clinic visit", phase="main", kind="clinic", optional=False,
        unscheduled=False, site="YC3H", status=Status.COMPLETED_OUT_OF_WINDOW,
        target_date=date(2026, 2, 15), window_start=date(2026, 2, 13),
        window_end=date(2026, 2, 17), actual_date=date(2026, 2, 11), days_early=2,
        days_late=None, days_from_target=-4, days_overdue=None, reason=None, change=None,
)


def visit(code: str = "D14", **changes: Any) -> ExportVisit:
    return replace(BASE, code=code, **changes)


def subject(*visits: ExportVisit, subject_id: str = "S-001") -> ExportSubject:
    return ExportSubject(subject_id=subject_id, site="YC3H", lifecycle=Lifecycle.WITHDRAWN,
                         consent_date=date(2026, 1, 5), protocol_version="1.1",
                         enrolled_at=AT, visits=visits, enrolment=None,
                         events=(ExportEvent(7, EventType.WITHDRAWAL, date(2026, 2, 20), None),))


def read_csv(pieces: list[str]) -> list[dict[str, str]]:
    document = "".join(pieces)
    assert document.startswith(BOM)
    return list(csv.DictReader(io.StringIO(document.removeprefix(BOM), newline="")))


@pytest.mark.parametrize("raw", ["=1+2", "+1", "-1+A1", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_text_cell_starting_like_a_formula_is_neutralised(raw: str) -> None:
    assert neutralise(raw) == "'" + raw


@pytest.mark.parametrize("raw", ["missed: =1", "Day 14", "", "'quoted"])
def test_other_text_is_left_alone(raw: str) -> None:
    assert neutralise(raw) == raw


def test_csv_has_a_row_per_visit_with_numbers_left_numbers_and_formulas_neutralised() -> None:
    formula = '=HYPERLINK("http://evil.invalid","x")'
    pieces = list(csv_lines("UCART-SLE", iter([
        [subject(visit(), visit("D28", status=Status.MISSED, actual_date=None, days_early=None,
                                days_from_target=None, reason=formula))],
        [subject(subject_id="S-002")],  # no visit row: still one line
    ])))
    assert len(pieces) == 3  # the header, then one piece per chunk
    rows = read_csv(pieces)
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["subject_id"], r["visit_code"]) for r in rows] == [
        ("S-001", "D14"), ("S-001", "D28"), ("S-002", "")]
    first = rows[0]
    assert first["lifecycle"] == "withdrawn" and first["status"] == "completed_out_of_window"
    assert first["days_early"] == "2" and first["days_from_target"] == "-4"  # a number
    assert first["actual_date"] == "2026-02-11" and first["optional"] == "no"
    assert rows[1]["reason"] == "'" + formula
    assert "\r\n" in pieces[1]


def test_xml_text_is_escaped_and_characters_xml_cannot_carry_are_replaced() -> None:
    assert text("A", 'a<b & "c"\x01') == '<A>a&lt;b &amp; "c"\ufffd</A>'
    assert tag("A", {"V": '"<&>\n', "N": None}) == '<A V="&quot;&lt;&amp;&gt;&#10;"/>'
    assert clean("ok\tok\n") == "ok\tok\n"
    assert etree.fromstring(tag("A", {"V": "\x00"}, text("B", "\x1f<")).encode()) is not None


def odm_document(subjects: list[ExportSubject]) -> bytes:
    plan = build_plan(parse_protocol(seed_text("ucart-sle.yaml"), source="ucart-sle.yaml"))
    scope = ExportScope(actor=SYSTEM, study="UCART-SLE", study_id=1, title="A <title> & more",
                        registry_id=None, site=None, now=AT)
    version = ExportVersion(1, "1.1", AT, plan)
    sites = [ExportSite("YC3H", "Yancheng")]
    scheduled = frozenset(v.code for v in plan.visits)
    body = "".join(subject_data(s, scheduled=scheduled, sites=frozenset({"YC3H"}))
                   for s in subjects)
    return (
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="F.1"'
        ' CreationDateTime="2026-03-01T04:00:00+00:00" ODMVersion="1.3.2">'
        f'<Study OID="ST.UCART-SLE">{global_variables(scope)}{metadata_version(version)}</Study>'
        f'{admin_data(scope, ["test-edc"], sites, [version])}'
        f'<ClinicalData StudyOID="ST.UCART-SLE" MetaDataVersionOID="MDV.1.1">{body}'
        '</ClinicalData></ODM>'
    ).encode()


def test_the_validator_accepts_the_valid_example_and_rejects_the_invalid_one() -> None:
    schema = odm_schema()
    assert schema.validate(etree.parse(str(ODM_DIR / "MetaData_Dave_1_3_2_valid.xml")))
    invalid = etree.parse(str(ODM_DIR / "Hypercholesterolemia_FH_CRF_claims_1_3_2_INVALID.xml"))
    assert not schema.validate(invalid)


def test_an_odm_document_of_the_seed_protocol_is_valid() -> None:
    change = Change(actor="test-edc", at=AT, action="visit.corrected", site="YC3H",
                    reason="typo <in> the date")
    document = odm_document([subject(
        visit(change=change, reason='said "no" & <left>\n'),
        visit("UNS-1", unscheduled=True, phase="unscheduled", window_start=None,
              window_end=None),
        visit("OLD", status=Status.CANCELLED),  # a code the plan no longer has
    )])
    root = etree.fromstring(document)
    schema = odm_schema()
    assert schema.validate(root), schema.error_log
    events = root.findall(".//odm:StudyEventData", ODM_NS)
    assert [(e.get("StudyEventOID"), e.get("StudyEventRepeatKey")) for e in events] == [
        ("SE.D14", None), ("SE.UNSCHEDULED", "UNS-1"), ("SE.UNSCHEDULED", "OLD"),
        ("SE.LIFECYCLE", "7")]
    assert root.findtext(".//odm:ReasonForChange", namespaces=ODM_NS) == "typo <in> the date"
    reason = root.find(".//odm:ItemData[@ItemOID='IT.VISIT.REASON']", ODM_NS)
    assert reason is not None and reason.get("Value") == 'said "no" & <left>\n'
    order = [r.get("StudyEventOID") for r in root.findall(".//odm:StudyEventRef", ODM_NS)]
    assert order[:5] == ["SE.D-2", "SE.D-1", "SE.D0", "SE.D14", "SE.D28"]
    assert order[-2:] == ["SE.UNSCHEDULED", "SE.LIFECYCLE"]


def test_a_document_out_of_order_is_refused_by_the_schema() -> None:
    """The validation is worth something: the same document with the SiteRef before the
    AuditRecord (the wrong order) is invalid."""
    change = Change(actor="test-edc", at=AT, action="subject.enrolled", site="YC3H",
                    reason=None)
    document = odm_document([
        ExportSubject(subject_id="S-001", site="YC3H", lifecycle=Lifecycle.ACTIVE,
                      consent_date=date(2026, 1, 5), protocol_version="1.1", enrolled_at=AT,
                      visits=(visit(),), enrolment=change)])
    schema = odm_schema()
    assert schema.validate(etree.fromstring(document)), schema.error_log
    site_ref = '<SiteRef LocationOID="LOC.YC3H"/>'
    swapped = document.decode().replace(site_ref, "").replace(
        '<SubjectData SubjectKey="S-001">', '<SubjectData SubjectKey="S-001">' + site_ref)
    assert swapped != document.decode()
    assert not schema.validate(etree.fromstring(swapped.encode()))
