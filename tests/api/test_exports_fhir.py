"""GET /studies/{study}/exports/fhir: an HL7 FHIR R4 Bundle of a study, scoped by the
token, streamed, validated with the FHIR models of ``fhir.resources``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.exports.fhir import fhir_pieces
from app.services.exports.rows import export_scope
from tests.helpers_exports import fhir_bundle, fhir_resources, seed_history
from tests.helpers_subjects import MM, NOW, SLE, assert_problem, bearer, make_token, stand_at

URL = "/api/v1/studies/{study}/exports/fhir"


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
    session.commit()
    stand_at(client, NOW)
    return made


def bundle(client: TestClient, token: str, study: str, **query: str) -> dict[str, Any]:
    response = client.get(URL.format(study=study), headers=bearer(token), params=query)
    assert response.status_code == 200, response.text
    return fhir_bundle(response.content)


def subjects(data: dict[str, Any]) -> list[str]:
    return [r["identifier"][0]["value"] for r in fhir_resources(data, "ResearchSubject")]


def visits(data: dict[str, Any], subject: str) -> dict[str, dict[str, Any]]:
    """The Encounters and Appointments of a subject by visit code."""
    patient = next(e["fullUrl"] for e in data["entry"]
                   if e["resource"]["resourceType"] == "Patient"
                   and e["resource"]["identifier"][0]["value"] == subject)
    out = {}
    for r in fhir_resources(data, "Encounter"):
        if r["subject"]["reference"] == patient:
            out[r["type"][0]["coding"][0]["code"]] = r
    for r in fhir_resources(data, "Appointment"):
        if r["participant"][0]["actor"]["reference"] == patient:
            out[r["serviceType"][0]["coding"][0]["code"]] = r
    return out


def our_status(resource: dict[str, Any]) -> str:
    return str(resource["extension"][0]["valueCoding"]["code"])


@pytest.mark.parametrize("study", [SLE, MM])
def test_fhir_bundle_of_each_seed_study_with_history_is_valid(
    client: TestClient, tokens: Tokens, study: str
) -> None:
    response = client.get(URL.format(study=study), headers=bearer(tokens.admin))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{study}-20260301.json"')
    data = fhir_bundle(response.content)
    assert data["resourceType"] == "Bundle" and data["type"] == "collection"
    assert data["timestamp"] == "2026-03-01T04:00:00Z"
    assert subjects(data) == (["S-001", "S-002", "S-003"] if study == SLE
                              else ["MM-001", "MM-002"])
    # Every reference to a resource of the Bundle resolves inside it.
    urls = {e["fullUrl"] for e in data["entry"]}
    assert len(urls) == len(data["entry"])
    text = response.content.decode("utf-8")
    referenced = {part.split('"')[0] for part in text.split('"reference":"')[1:]}
    assert referenced and referenced <= urls
    # One resource per visit of each calendar, with the status the API computes.
    for subject in subjects(data):
        calendar = client.get(f"/api/v1/studies/{study}/subjects/{subject}",
                              headers=bearer(tokens.admin)).json()["visits"]
        found = visits(data, subject)
        assert sorted(found) == sorted(v["code"] for v in calendar)
        for visit in calendar:
            assert our_status(found[visit["code"]]) == visit["status"], (subject, visit)


def test_fhir_statuses_map_visits_and_lifecycles(client: TestClient, tokens: Tokens) -> None:
    data = bundle(client, tokens.admin, SLE)
    s001 = visits(data, "S-001")
    d14 = s001["D14"]
    assert d14["resourceType"] == "Encounter" and d14["status"] == "finished"
    assert d14["period"] == {"start": "2026-02-16", "end": "2026-02-16"}  # the corrected date
    d28 = s001["D28"]
    assert (d28["resourceType"], d28["status"], our_status(d28)) == (
        "Appointment", "noshow", "missed")
    assert d28["comment"].startswith("=HYPERLINK")  # JSON has no formulas to neutralise
    assert d28["requestedPeriod"] == [{"start": "2026-02-26", "end": "2026-03-04"}]
    assert d28["start"] == "2026-02-25T16:00:00Z"  # Shanghai's midnight
    m3 = s001["M3"]
    assert (m3["resourceType"], m3["status"]) == ("Appointment", "proposed")
    assert "start" not in m3 and m3["requestedPeriod"][0]["start"] == "2026-04-24"
    assert s001["UNS-1"]["resourceType"] == "Encounter"
    s002 = visits(data, "S-002")
    assert (s002["M3"]["status"], our_status(s002["M3"])) == ("cancelled", "cancelled")
    by_subject = {r["identifier"][0]["value"]: r for r in fhir_resources(data, "ResearchSubject")}
    assert by_subject["S-001"]["status"] == "on-study"
    assert by_subject["S-002"]["status"] == "withdrawn"
    assert by_subject["S-002"]["period"] == {"start": "2026-01-05", "end": "2026-02-20"}
    mm = bundle(client, tokens.admin, MM)
    by_subject = {r["identifier"][0]["value"]: r for r in fhir_resources(mm, "ResearchSubject")}
    assert by_subject["MM-002"]["status"] == "off-study"
    assert by_subject["MM-002"]["period"]["end"] == "2025-06-01"
    patients = {r["identifier"][0]["value"]: r for r in fhir_resources(mm, "Patient")}
    assert patients["MM-002"]["deceasedDateTime"] == "2025-06-01"
    assert set(patients["MM-001"]) == {"resourceType", "id", "identifier"}  # nothing else


def test_fhir_plan_definition_times_each_visit_from_its_anchor(
    client: TestClient, tokens: Tokens
) -> None:
    data = bundle(client, tokens.admin, SLE)
    (study,) = fhir_resources(data, "ResearchStudy")
    assert {"system": "https://clinicaltrials.gov", "value": "NCT07274059",
            "use": "secondary"} in study["identifier"]
    (plan,) = fhir_resources(data, "PlanDefinition")
    assert study["protocol"][0]["reference"] == next(
        e["fullUrl"] for e in data["entry"] if e["resource"] is plan or e["resource"] == plan)
    actions = {a["id"]: a for a in plan["action"]}
    assert "anchor-infusion" in actions
    d14 = actions["visit-D14"]["relatedAction"][0]
    assert d14["actionId"] == "anchor-infusion" and d14["relationship"] == "after"
    assert d14["offsetDuration"]["value"] == 14 and d14["offsetDuration"]["code"] == "d"
    assert d14["extension"][0]["valueRange"]["low"]["value"] == 12
    assert d14["extension"][0]["valueRange"]["high"]["value"] == 16
    m3 = actions["visit-M3"]
    assert m3["relatedAction"][0]["offsetDuration"]["code"] == "mo"
    assert m3["extension"][0]["valueRange"]["low"]["value"] == -7
    assert actions["visit-D0"]["relatedAction"][0]["relationship"] == "concurrent"


def test_fhir_export_is_scoped_like_the_others(client: TestClient, tokens: Tokens) -> None:
    assert subjects(bundle(client, tokens.yc3h, SLE)) == ["S-001"]
    wtch = bundle(client, tokens.wtch, SLE)
    assert subjects(wtch) == ["S-002", "S-003"]
    assert [r["identifier"][0]["value"] for r in fhir_resources(wtch, "Location")] == ["WTCH"]
    # S-003's visits before its transfer name its former site by identifier only.
    former = [v["location"][0]["location"] for v in visits(wtch, "S-003").values()
              if v["resourceType"] == "Encounter"]
    assert all("reference" not in loc for loc in former if loc.get("display") == "YC3H")
    assert subjects(bundle(client, tokens.admin, SLE, site="WTCH")) == ["S-002", "S-003"]
    assert subjects(bundle(client, tokens.monitor, SLE)) == ["S-001", "S-002", "S-003"]
    for token, study, query in ((tokens.monitor, MM, {}), (tokens.yc3h, MM, {}),
                                (tokens.yc3h, SLE, {"site": "WTCH"})):
        response = client.get(URL.format(study=study), headers=bearer(token), params=query)
        assert_problem(response, 404, "not-found")


def test_fhir_bundle_is_written_a_chunk_of_subjects_at_a_time(session: Session) -> None:
    seed_history(session)
    scope = export_scope(session, study=SLE, site=None, actor=SYSTEM, now=NOW)
    pieces = list(fhir_pieces(session, scope, chunk=2))
    head, *chunks, tail = pieces
    assert '"resourceType":"ResearchStudy"' in head and '"Patient"' not in head
    assert [piece.count('"resourceType":"ResearchSubject"') for piece in chunks] == [2, 1]
    assert tail == "\n]}\n"
    whole = fhir_bundle("".join(pieces).encode("utf-8"))
    assert whole == fhir_bundle("".join(fhir_pieces(session, scope)).encode("utf-8"))
