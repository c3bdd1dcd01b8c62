"""GET /studies/{study}/exports/sdtm: the CDISC SDTM SV and TV domains of a study, as CSV
and SAS transport (XPT v5) files in one streamed ZIP, scoped and audited; the XPT files
read back with the library that wrote them."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pyreadstat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord
from tests.helpers_exports import seed_history
from tests.helpers_subjects import NOW, SLE, bearer, make_token, stand_at

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
