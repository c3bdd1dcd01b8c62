"""GET /studies/{study}/exports/sdtm: the CDISC SDTM SV and TV domains of a study, as CSV
and SAS transport (XPT v5) files in one streamed ZIP, scoped and audited; the XPT files
read back with the library that wrote them."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pyreadstat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import EventType
from app.schedule.usdm import import_usdm
from app.services.exports import ExportFormat, start_export
from app.services.exports.rows import export_scope
from app.services.exports.sdtm import sdtm_members
from app.services.exports.sdtm_xpt import clip
from app.services.studies import load_schedule
from app.services.subjects.enrolment import enrol
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, record_unscheduled
from tests.helpers_exports import seed_history
from tests.helpers_subjects import NOW, SLE, bearer, make_token, seed_text, stand_at

URL = "/api/v1/studies/{study}/exports/sdtm"


class Tokens:
    def __init__(self, session: Session) -> None:
        self.admin = make_token(session, "admin", name="export-admin")
        self.wtch = make_token(session, "coordinator", ["WTCH"], name="coord-wtch")


@pytest.fixture
def tokens(session: Session, client: TestClient) -> Tokens:
    seed_history(session)
    made = Tokens(session)
    session.commit()
    stand_at(client, NOW)
    return made


def archive(client: TestClient, token: str, **query: str) -> zipfile.ZipFile:
    response = client.get(URL.format(study=SLE), headers=bearer(token), params=query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].endswith('-20260301.zip"')
    return zipfile.ZipFile(io.BytesIO(response.content))


def rows(zipped: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(zipped.read(name).decode("utf-8"), newline="")))


def test_sv_holds_the_visits_that_took_place_numbered_with_sdtm_study_days(
    client: TestClient, tokens: Tokens
) -> None:
    zipped = archive(client, tokens.admin)
    assert zipped.namelist() == ["sv.csv", "tv.csv", "sv.xpt", "tv.xpt"]
    assert zipped.testzip() is None
    sv = [r for r in rows(zipped, "sv.csv") if r["USUBJID"] == "S-001"]
    # Infusion on 1 Feb (Day 1 in SDTM, Day 0 in the protocol's own convention); D14
    # corrected to 16 Feb, D28 missed (no record), an unscheduled visit on 25 Feb.
    assert [(r["VISITNUM"], r["VISIT"], r["VISITDY"], r["EPOCH"], r["SVSTDTC"], r["SVENDTC"],
             r["SVSTDY"], r["SVENDY"], r["SVUPDES"]) for r in sv] == [
        ("3", "UCAR-T infusion", "1", "TREATMENT", "2026-02-01", "2026-02-01", "1", "1", ""),
        ("4", "Day 14 clinic visit", "15", "FOLLOW-UP", "2026-02-16", "2026-02-16", "16", "16",
         ""),
        ("4.01", "UNSCHEDULED UNS-1", "", "FOLLOW-UP", "2026-02-25", "2026-02-25", "25", "25",
         "Rash check"),
    ]
    assert {(r["STUDYID"], r["DOMAIN"]) for r in sv} == {(SLE, "SV")}


def test_tv_is_the_protocol_and_the_xpt_files_read_back(
    client: TestClient, tokens: Tokens, tmp_path: Path
) -> None:
    zipped = archive(client, tokens.admin)
    tv = rows(zipped, "tv.csv")
    assert [(r["VISITNUM"], r["VISIT"], r["VISITDY"], r["TVSTRL"]) for r in tv[:4]] == [
        ("1", "Rest day after lymphodepletion (Day -2)", "-2", "day -2 from infusion"),
        ("2", "Rest day after lymphodepletion (Day -1)", "-1", "day -1 from infusion"),
        ("3", "UCAR-T infusion", "1", "day 0 from infusion"),
        ("4", "Day 14 clinic visit", "15", "day 14 from infusion"),
    ]
    for name, domain, records in (("sv.xpt", "SV", rows(zipped, "sv.csv")), ("tv.xpt", "TV", tv)):
        path = tmp_path / name
        path.write_bytes(zipped.read(name))
        frame, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == domain
        assert list(frame.columns) == list(records[0])
        assert len(frame) == len(records)
        assert list(frame["DOMAIN"]) == [domain] * len(records)
        assert [f"{n:g}" for n in frame["VISITNUM"]] == [r["VISITNUM"] for r in records]
        assert list(frame["VISIT"]) == [r["VISIT"] for r in records]
    assert meta.column_names_to_labels["VISITNUM"] == "Visit Number"


def test_scoped_to_the_callers_sites_and_audited(
    client: TestClient, session: Session, tokens: Tokens
) -> None:
    zipped = archive(client, tokens.wtch)
    assert sorted({r["USUBJID"] for r in rows(zipped, "sv.csv")}) == ["S-002", "S-003"]
    session.expire_all()
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "study.exported")).one()
    assert (record.actor, record.study_code, record.key) == ("coord-wtch", SLE, "sdtm")


PILOT = Path(__file__).resolve().parents[1] / "data" / "standards" / "usdm-4" / (
    "CDISC_Pilot_Study.json")
PILOT_SITES = '\nsites:\n  - code: "701"\n    name: Pilot site 701\n'


def test_the_cdisc_pilot_round_trip_from_usdm_to_sv(session: Session) -> None:
    """USDM in (the CDISC pilot), subjects and visits recorded, SDTM SV out: the visit
    numbers follow the protocol, the dates are the recorded ones, and the study days
    count from the dose (Day 1), the day before it being Day -1."""
    study = "H2Q-MC-LZZT"
    imported = import_usdm(PILOT.read_text(encoding="utf-8"), source=PILOT.name)
    load_schedule(session, text=imported.yaml + PILOT_SITES, source="pilot.yaml", actor=SYSTEM)
    dose = date(2026, 1, 12)
    for subject in ("01-701-1015", "01-701-1023"):
        enrol(session, study=study, subject_id=subject, site="701", consent_date=date(2025, 12, 1),
              date_of_birth=date(1950, 1, 1), anchors={"dose": AnchorDate(dose, actual=False)},
              actor=SYSTEM, now=NOW)
    recorded = {"E3": dose, "E1": dose - timedelta(days=14), "E2": dose - timedelta(days=1),
                "E4": dose + timedelta(days=15)}
    for code, day in recorded.items():
        complete_visit(session, study=study, subject_id="01-701-1015", code=code,
                       actual_date=day, actor=SYSTEM, now=NOW)
    record_unscheduled(session, study=study, subject_id="01-701-1015",
                       day=dose + timedelta(days=20), name="Skin reaction", actor=SYSTEM, now=NOW)
    session.flush()
    export = start_export(session, study=study, format=ExportFormat.SDTM, site=None,
                          actor=SYSTEM, now=NOW)
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(export.body(session))))
    sv = rows(zipped, "sv.csv")
    assert [(r["USUBJID"], r["VISITNUM"], r["VISIT"], r["VISITDY"], r["EPOCH"], r["SVSTDTC"],
             r["SVSTDY"], r["SVUPDES"]) for r in sv] == [
        ("01-701-1015", "1", "Screening 1", "-14", "SCREENING", "2025-12-29", "-14", ""),
        ("01-701-1015", "2", "Screening 2", "-2", "SCREENING", "2026-01-11", "-1", ""),
        ("01-701-1015", "3", "Baseline", "1", "TREATMENT", "2026-01-12", "1", ""),
        ("01-701-1015", "4", "Week 2", "15", "FOLLOW-UP", "2026-01-27", "16", ""),
        ("01-701-1015", "4.01", "UNSCHEDULED UNS-1", "", "FOLLOW-UP", "2026-02-01", "21",
         "Skin reaction"),
    ]
    tv = rows(zipped, "tv.csv")
    assert [(r["VISITNUM"], r["VISIT"], r["VISITDY"]) for r in tv[:5]] == [
        ("1", "Screening 1", "-14"), ("2", "Screening 2", "-2"), ("3", "Baseline", "1"),
        ("4", "Week 2", "15"), ("5", "Week 4", "29")]
    assert {r["STUDYID"] for r in sv + tv} == {study}


def test_sv_csv_is_written_a_chunk_of_subjects_at_a_time(session: Session) -> None:
    seed_history(session)
    scope = export_scope(session, study=SLE, site=None, actor=SYSTEM, now=NOW)
    members = sdtm_members(session, scope, chunk=1)
    name, pieces = next(members)
    assert name == "sv.csv"
    header = next(pieces)
    assert header.startswith(b"STUDYID,DOMAIN,USUBJID,VISITNUM,")
    # One piece per subject (S-001, S-002, S-003), each read when the last was sent.
    assert [piece.split(b",")[2] for piece in pieces] == [b"S-001", b"S-002", b"S-003"]


def test_sv_xpt_written_a_chunk_at_a_time_says_what_sv_csv_says(
    session: Session, tmp_path: Path
) -> None:
    """A chunk per subject: ``sv.xpt`` reads back as ``sv.csv`` row for row, a missing
    number as an empty cell, a description over 200 bytes cut there in the XPT only."""
    seed_history(session)
    long_name = "Skin check: " + "é" * 120  # 252 bytes
    record_unscheduled(session, study=SLE, subject_id="S-003", day=date(2026, 2, 27),
                       name=long_name, actor=SYSTEM, now=NOW)
    session.flush()
    scope = export_scope(session, study=SLE, site=None, actor=SYSTEM, now=NOW)
    files = {name: b"".join(pieces) for name, pieces in sdtm_members(session, scope, chunk=1)}
    (tmp_path / "sv.xpt").write_bytes(files["sv.xpt"])
    frame, meta = pyreadstat.read_xport(str(tmp_path / "sv.xpt"))
    records = list(csv.DictReader(io.StringIO(files["sv.csv"].decode("utf-8"), newline="")))
    assert len({r["USUBJID"] for r in records}) == 3 and len(records) == len(frame) > 3
    assert len(files["sv.xpt"]) % 80 == 0
    numeric = {"VISITNUM", "VISITDY", "SVSTDY", "SVENDY"}
    assert [[("" if math.isnan(v) else f"{v:g}") if k in numeric else v
             for k, v in row.items()] for row in frame.to_dict("records")] == [
        [r[k] if k != "SVUPDES" else clip(r[k]) for k in r] for r in records]
    assert frame["VISITDY"].isna().any()  # the unscheduled visits have no planned day
    assert [r["SVUPDES"] for r in records if r["USUBJID"] == "S-003"][-1] == long_name
    assert list(frame["SVUPDES"])[-1] == "Skin check: " + "é" * 94  # 200 bytes
    assert meta.variable_storage_width["SVUPDES"] == 200
    assert meta.variable_storage_width["USUBJID"] == len("S-001")


def test_usubjid_follows_the_protocols_template_with_the_enrolment_site(
    session: Session
) -> None:
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", "code: SDTM-SLE").replace(
        "  anchor_day: 0", '  anchor_day: 0\n  usubjid: "{study}-{site}-{subject}"')
    load_schedule(session, text=text, source="sdtm-sle.yaml", actor=SYSTEM)
    for subject in ("001", "002"):
        enrol(session, study="SDTM-SLE", subject_id=subject, site="YC3H",
              consent_date=date(2026, 1, 5), date_of_birth=date(1980, 5, 1),
              anchors={"infusion": AnchorDate(date(2026, 2, 1))}, actor=SYSTEM, now=NOW)
    # A transfer moves the subject, not its identifier.
    record_event(session, study="SDTM-SLE", subject_id="002", type=EventType.TRANSFER,
                 day=date(2026, 2, 10), value="WTCH", actor=SYSTEM, now=NOW)
    session.flush()
    export = start_export(session, study="SDTM-SLE", format=ExportFormat.SDTM, site=None,
                          actor=SYSTEM, now=NOW)
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(export.body(session))))
    assert [(r["USUBJID"], r["VISIT"]) for r in rows(zipped, "sv.csv")] == [
        ("SDTM-SLE-YC3H-001", "UCAR-T infusion"), ("SDTM-SLE-YC3H-002", "UCAR-T infusion")]
