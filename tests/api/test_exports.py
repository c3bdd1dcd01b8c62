"""GET /studies/{study}/exports/{format}: CSV and CDISC ODM 1.3.2 files of a study, scoped
by the token, streamed, audited; ODM validated against the official schema."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor, Role
from app.models import AuditRecord
from app.services.visits import complete_visit
from tests.helpers_exports import FORMULA, ODM_NS, odm_schema, seed_history
from tests.helpers_subjects import MM, NOW, SLE, assert_problem, bearer, make_token, stand_at

URL = "/api/v1/studies/{study}/exports/{format}"


class Tokens:
    def __init__(self, session: Session) -> None:
        self.admin = make_token(session, "admin", name="export-admin")
        self.yc3h = make_token(session, "coordinator", ["YC3H"], name="coord-yc3h")
        self.wtch = make_token(session, "coordinator", ["WTCH"], name="coord-wtch")
        self.monitor = make_token(session, "monitor", studies=[SLE], name="monitor-sle")


@pytest.fixture
def tokens(session: Session, client: TestClient) -> Tokens:
    seed_history(session)
    made = Tokens(session)
    session.commit()  # what a refused request rolls back is its own work only
    stand_at(client, NOW)
    return made


def get(client: TestClient, token: str, study: str, format: str, **query: str) -> bytes:
    response = client.get(URL.format(study=study, format=format), headers=bearer(token),
                          params=query)
    assert response.status_code == 200, response.text
    return response.content


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def subjects_in(body: bytes) -> list[str]:
    return sorted({row["subject_id"] for row in csv_rows(body)})


@pytest.mark.parametrize("study", [SLE, MM])
def test_odm_of_each_seed_study_with_history_is_valid(
    client: TestClient, tokens: Tokens, study: str
) -> None:
    response = client.get(URL.format(study=study, format="odm"), headers=bearer(tokens.admin))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{study}-20260301.xml"')
    root = etree.fromstring(response.content)
    schema = odm_schema()
    assert schema.validate(root), schema.error_log
    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    keys = [s.get("SubjectKey") for s in root.findall(".//odm:SubjectData", ODM_NS)]
    assert keys == (["S-001", "S-002", "S-003"] if study == SLE else ["MM-001", "MM-002"])
    # Every visit's event is defined in the metadata the data names.
    defined = {d.get("OID") for d in root.findall(".//odm:StudyEventDef", ODM_NS)}
    used = {e.get("StudyEventOID") for e in root.findall(".//odm:StudyEventData", ODM_NS)}
    assert used <= defined and "SE.D0" in used


def test_odm_carries_dates_statuses_and_the_audit_of_a_correction(
    client: TestClient, tokens: Tokens
) -> None:
    root = etree.fromstring(get(client, tokens.admin, SLE, "odm"))
    subject = root.find(".//odm:SubjectData[@SubjectKey='S-001']", ODM_NS)
    assert subject is not None
    d14 = subject.find("odm:StudyEventData[@StudyEventOID='SE.D14']", ODM_NS)
    assert d14 is not None
    items = {i.get("ItemOID"): i.get("Value") for i in d14.iterfind(".//odm:ItemData", ODM_NS)}
    assert items["IT.VISIT.DATE"] == "2026-02-16"  # the corrected date
    assert items["IT.VISIT.STATUS"] == "completed"
    assert d14.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=ODM_NS) == (
        "typo in the date")
    assert d14.find("odm:AuditRecord/odm:UserRef", ODM_NS).get("UserOID") == "USR.test-edc"  # type: ignore[union-attr]
    unscheduled = subject.find("odm:StudyEventData[@StudyEventOID='SE.UNSCHEDULED']", ODM_NS)
    assert unscheduled is not None and unscheduled.get("StudyEventRepeatKey") == "UNS-1"
    users = [u.get("OID") for u in root.findall("odm:AdminData/odm:User", ODM_NS)]
    assert users == ["USR.test-edc"]
    # The lifecycle events: S-002 withdrew, S-003 moved to WTCH.
    events = {
        s.get("SubjectKey"): [
            {i.get("ItemOID"): i.get("Value") for i in e.iterfind(".//odm:ItemData", ODM_NS)}
            for e in s.iterfind("odm:StudyEventData[@StudyEventOID='SE.LIFECYCLE']", ODM_NS)
        ]
        for s in root.iterfind(".//odm:SubjectData", ODM_NS)
    }
    assert events == {
        "S-001": [],
        "S-002": [{"IT.EVENT.TYPE": "withdrawal", "IT.EVENT.DATE": "2026-02-20"}],
        "S-003": [{"IT.EVENT.TYPE": "transfer", "IT.EVENT.DATE": "2026-02-22",
                   "IT.EVENT.VALUE": "WTCH"}],
    }


def test_csv_is_a_spreadsheet_file_with_statuses_as_the_api_computes_them(
    client: TestClient, tokens: Tokens
) -> None:
    response = client.get(URL.format(study=SLE, format="csv"), headers=bearer(tokens.admin))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="UCART-SLE-20260301.csv"')
    rows = csv_rows(response.content)
    by_visit = {(r["subject_id"], r["visit_code"]): r for r in rows}
    assert by_visit[("S-001", "D28")]["reason"] == "'" + FORMULA  # neutralised
    assert by_visit[("S-002", "M3")]["lifecycle"] == "withdrawn"
    for subject in ("S-001", "S-002", "S-003"):
        calendar = client.get(f"/api/v1/studies/{SLE}/subjects/{subject}",
                              headers=bearer(tokens.admin)).json()["visits"]
        for visit in calendar:
            row = by_visit[(subject, visit["code"])]
            assert row["status"] == visit["status"], (subject, visit["code"])
            for number in ("days_early", "days_late", "days_from_target", "days_overdue"):
                shown = "" if visit[number] is None else str(visit[number])
                assert row[number] == shown, (subject, visit["code"], number)
        assert len(calendar) == sum(1 for r in rows if r["subject_id"] == subject)
    assert {r["status"] for r in rows} >= {"completed", "missed", "cancelled", "scheduled"}


def test_a_coordinator_exports_only_its_sites_and_a_monitor_only_its_studies(
    client: TestClient, session: Session, tokens: Tokens
) -> None:
    # Another user's record about a subject of WTCH: named in WTCH's export only.
    other = Actor(name="edc-other", role=Role.EDC, studies=frozenset({SLE}))
    complete_visit(session, study=SLE, subject_id="S-003", code="D14",
                   actual_date=date(2026, 2, 19), actor=other, now=NOW)
    session.commit()
    # S-003 moved from YC3H to WTCH: it is WTCH's now.
    assert subjects_in(get(client, tokens.yc3h, SLE, "csv")) == ["S-001"]
    assert subjects_in(get(client, tokens.wtch, SLE, "csv")) == ["S-002", "S-003"]
    assert subjects_in(get(client, tokens.admin, SLE, "csv", site="WTCH")) == ["S-002", "S-003"]
    root = etree.fromstring(get(client, tokens.yc3h, SLE, "odm"))
    assert [s.get("SubjectKey") for s in root.iterfind(".//odm:SubjectData", ODM_NS)] == [
        "S-001"]
    assert [loc.get("OID") for loc in root.iterfind(".//odm:Location", ODM_NS)] == ["LOC.YC3H"]
    assert [u.get("OID") for u in root.iterfind(".//odm:User", ODM_NS)] == ["USR.test-edc"]
    root = etree.fromstring(get(client, tokens.wtch, SLE, "odm"))
    assert [u.get("OID") for u in root.iterfind(".//odm:User", ODM_NS)] == [
        "USR.edc-other", "USR.test-edc"]
    assert odm_schema().validate(root)
    assert subjects_in(get(client, tokens.monitor, SLE, "csv")) == ["S-001", "S-002", "S-003"]
    for token, study, query in ((tokens.monitor, MM, {}), (tokens.yc3h, MM, {}),
                                (tokens.yc3h, SLE, {"site": "WTCH"}),
                                (tokens.admin, SLE, {"site": "MM01"})):
        response = client.get(URL.format(study=study, format="csv"), headers=bearer(token),
                              params=query)
        assert_problem(response, 404, "not-found")


def test_an_export_is_audited_with_actor_study_format_and_site(
    client: TestClient, session: Session, tokens: Tokens
) -> None:
    get(client, tokens.wtch, SLE, "odm", site="WTCH")
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "study.exported")
    ).one()
    assert (record.actor, record.role, record.study_code, record.site_code, record.key) == (
        "coord-wtch", "coordinator", SLE, "WTCH", "odm")
    assert record.after == {"format": "odm", "site": "WTCH", "as_of": NOW.isoformat()}


def test_an_unknown_format_is_refused_clearly(
    client: TestClient, session: Session, tokens: Tokens
) -> None:
    assert_problem(client.get(URL.format(study=SLE, format="xlsx"),
                              headers=bearer(tokens.admin)), 422, "validation-error")
    assert session.scalars(
        select(AuditRecord).where(AuditRecord.action == "study.exported")).first() is None
