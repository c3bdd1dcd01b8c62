"""The study page's download links: the API's exports, for a signed-in browser."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord
from tests.helpers_exports import fhir_bundle, fhir_resources, odm_schema
from tests.helpers_web import Seeded, seed_rich, stand_at
from tests.web.helpers import sign_in

STUDY = "/studies/UCART-SLE"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed_rich(session)
    session.commit()  # a refused download rolls back its own work only
    stand_at(client)
    return seeded


def links(page: str) -> list[str]:
    return re.findall(r'href="(/studies/UCART-SLE/exports/[^"]+)" download', page)


def subjects_of(body: bytes) -> list[str]:
    rows = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    return sorted({row["subject_id"] for row in rows})


def test_a_coordinator_downloads_its_sites_subjects_from_the_study_page(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    found = links(client.get(STUDY).text)
    assert found == [f"{STUDY}/exports/csv", f"{STUDY}/exports/odm",
                     f"{STUDY}/exports/sdtm", f"{STUDY}/exports/fhir"]  # one site: no per-site
    response = client.get(found[0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="UCART-SLE-')
    assert subjects_of(response.content) == ["YC-001", "YC-002", "YC-003"]
    odm = client.get(found[1])
    assert odm.headers["content-type"] == "application/xml"
    schema = odm_schema()
    assert schema.validate(etree.fromstring(odm.content)), schema.error_log
    fhir = client.get(found[3])
    assert fhir.headers["content-type"] == "application/fhir+json"
    assert sorted(r["identifier"][0]["value"]
                  for r in fhir_resources(fhir_bundle(fhir.content), "ResearchSubject")) == [
        "YC-001", "YC-002", "YC-003"]
    audited = session.scalars(
        select(AuditRecord.key).where(AuditRecord.action == "study.exported",
                                      AuditRecord.actor == "coord-yc3h").order_by(AuditRecord.id)
    ).all()
    assert audited == ["csv", "odm", "fhir"]
    # Another site's subjects are not the coordinator's to take.
    assert client.get(f"{STUDY}/exports/csv?site=WTCH").status_code == 404


def test_an_admin_has_a_link_per_site_too(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    found = links(client.get(STUDY).text)
    assert found == [f"{STUDY}/exports/{f}{site}" for site in ("", "?site=WTCH", "?site=YC3H")
                     for f in ("csv", "odm", "sdtm", "fhir")]
    assert subjects_of(client.get(found[4]).content) == ["WT-001", "WT-002"]
    assert subjects_of(client.get(found[0]).content) == [
        "WT-001", "WT-002", "YC-001", "YC-002", "YC-003"]
