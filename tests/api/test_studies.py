"""GET /api/v1/studies and /studies/{study}: what a token may see, and the protocol."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.problems import PROBLEM_JSON
from app.services.studies import activate_version, load_schedule
from tests.helpers_worklist import (
    MM,
    SCHEDULES,
    SLE,
    add_site,
    add_subject,
    bearer,
    load_seeds,
    make_token,
)


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    load_seeds(session)
    return bearer(make_token(session, "admin"))


def test_list_studies(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    add_subject(session, SLE, "YC3H", "A")
    add_subject(session, SLE, "WTCH", "B")
    response = client.get("/api/v1/studies", headers=admin)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [s["code"] for s in items] == [MM, SLE]
    sle = items[1]
    assert sle == {
        "code": SLE,
        "title": sle["title"],
        "registry_id": "NCT07274059",
        "version": "1.1",
        "target_enrolment": 48,
        "enrolled": 2,
        "sites": ["WTCH", "YC3H"],
    }
    assert items[0]["enrolled"] == 0 and items[0]["target_enrolment"] == 30


def test_tokens_see_their_studies_only(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    add_site(session, "BOTH", "UTC", studies=[SLE, MM])
    cases = {
        ("coordinator", ("YC3H",), ()): [SLE],
        ("coordinator", ("BOTH",), ()): [MM, SLE],
        ("edc", (), (MM,)): [MM],
        ("monitor", (), (SLE,)): [SLE],
    }
    for (role, sites, studies), expected in cases.items():
        token = bearer(make_token(session, role, sites=sites, studies=studies))
        listed = client.get("/api/v1/studies", headers=token).json()["items"]
        assert [s["code"] for s in listed] == expected, role
        hidden = {MM, SLE} - set(expected)
        for code in hidden:
            response = client.get(f"/api/v1/studies/{code}", headers=token)
            assert response.status_code == 404
            assert response.json()["detail"] == f"study {code} not found"
    # A coordinator sees only its own sites among a study's sites.
    nurse = bearer(make_token(session, "coordinator", sites=["YC3H"]))
    assert client.get("/api/v1/studies", headers=nurse).json()["items"][0]["sites"] == ["YC3H"]
    detail = client.get(f"/api/v1/studies/{SLE}", headers=nurse).json()
    assert [s["code"] for s in detail["sites"]] == ["YC3H"]


def test_protocol_of_the_sle_study(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(f"/api/v1/studies/{SLE}", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["version"], body["anchor_day"]) == (SLE, "1.1", 0)
    assert body["age"] == {"min": 18, "max": 75}
    assert body["time_zone"] == "Asia/Shanghai" and body["upcoming_days"] == 7
    assert [a["name"] for a in body["anchors"]] == ["infusion", "consent"]
    codes = [v["code"] for v in body["visits"]]
    assert codes == ["D-2", "D-1", "D0", "D14", "D28", "M3", "M6", "M9", "M12", "M18", "M24"]
    d_minus_2 = body["visits"][0]
    assert d_minus_2["optional"] is True and d_minus_2["kind"] == "inpatient"
    m3 = body["visits"][5]
    assert m3 == {
        "code": "M3",
        "name": "Month 3 clinic visit",
        "phase": "main",
        "kind": "clinic",
        "optional": False,
        "timing": "3 months from infusion",
        "anchor": "infusion",
        "after_visit": None,
        "window_before_days": 7,
        "window_after_days": 7,
        "graded": True,
        "due_until_next": False,
        "stops_at_progression": False,
        "assessments": ["AE", "SLEDAI", "DORIS"],
        "records": None,
    }
    assert body["visits"][2]["records"] == "infusion"  # D0 is the infusion's entry
    assert body["visits"][3]["timing"] == "day 14 from infusion"
    assert body["phases"] == []
    assert body["endpoints"] == [{
        "code": "DORIS",
        "name": "DORIS remission (drug-free maintenance)",
        "anchor": "infusion",
        "assessment": "DORIS",
        "time_points": ["6 months", "12 months", "24 months"],
        "window_before_days": 14,
        "window_after_days": 14,
        "satisfied_by": None,
    }]
    assert [(p["code"], p["start"], p["end"]) for p in body["periods"]] == [
        ("INPATIENT", "day 0", "day 7"),
        ("NEAR-SITE", "day 0", "day 28"),
        ("AE-WINDOW", "day 0", "3 months"),
    ]
    assert [(s["code"], s["time_zone"]) for s in body["sites"]] == [
        ("WTCH", "Asia/Shanghai"), ("YC3H", "Asia/Shanghai")
    ]
    assert [v["version"] for v in body["versions"]] == ["1.1"]
    assert len(body["versions"][0]["content_hash"]) == 64


def test_conditional_phase_and_endpoints_of_the_myeloma_study(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = client.get(f"/api/v1/studies/{MM}", headers=admin).json()
    assert body["phases"] == [{
        "code": "HSCT",
        "name": "Allogeneic HSCT after complete remission",
        "anchor": "transplant",
        "anchored_on_event": False,
        "condition": {"event": "response", "values": ["CR", "sCR"]},
        "closes_on": ["progression"],
        "stops_at_progression": False,
    }]
    hsct = [v for v in body["visits"] if v["phase"] == "HSCT"]
    assert [v["code"] for v in hsct] == [
        "HSCT-D0", "HSCT-D14", "HSCT-D28", "HSCT-D100", "HSCT-M6", "HSCT-M12"
    ]
    assert hsct[1]["anchor"] == "transplant" and hsct[1]["timing"] == "day 14 from transplant"
    assert [e["code"] for e in body["endpoints"]] == ["ORR", "PFS", "OS"]
    assert body["endpoints"][2]["satisfied_by"] == ["M6", "M12", "M18", "M24"]
    m2 = next(v for v in body["visits"] if v["code"] == "M2")
    assert m2["stops_at_progression"] is True


def test_the_protocol_lists_the_values_each_event_may_carry(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    mm = client.get(f"/api/v1/studies/{MM}", headers=admin).json()
    assert list(mm["event_values"]) == ["response"]
    assert mm["event_values"]["response"][:2] == [
        {"value": "sCR", "label": "Stringent complete response"},
        {"value": "CR", "label": "Complete response"},
    ]
    assert [t["value"] for t in mm["event_values"]["response"]] == [
        "sCR", "CR", "VGPR", "PR", "MR", "SD", "PD"]
    sle = client.get(f"/api/v1/studies/{SLE}", headers=admin).json()
    assert [t["value"] for t in sle["event_values"]["response"]] == ["DORIS", "LLDAS", "ACTIVE"]
    # A protocol that declares none lists none: any code is accepted.
    text = (SCHEDULES / "ucart-sle.yaml").read_text("utf-8")
    start, end = text.index("event_values:"), text.index("visits:")
    free_text = (text[:start] + text[end:]).replace("code: UCART-SLE", "code: FREE-SLE")
    load_schedule(session, text=free_text, source="free.yaml", actor=SYSTEM)
    free = client.get("/api/v1/studies/FREE-SLE", headers=admin).json()
    assert free["event_values"] == {}


def test_a_new_version_becomes_current_once_activated(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    text = (SCHEDULES / "ucart-sle.yaml").read_text("utf-8")
    amended = text.replace('version: "1.1"', 'version: "1.2"').replace(
        "target_enrolment: 48", "target_enrolment: 60"
    )
    load_schedule(session, text=amended, source="ucart-sle-1.2.yaml", actor=SYSTEM)
    body = client.get(f"/api/v1/studies/{SLE}", headers=admin).json()
    assert body["version"] == "1.1"
    activate_version(session, study=SLE, version="1.2", actor=SYSTEM)
    body = client.get(f"/api/v1/studies/{SLE}", headers=admin).json()
    assert body["version"] == "1.2" and body["target_enrolment"] == 60
    assert [v["version"] for v in body["versions"]] == ["1.1", "1.2"]
    assert [v["active"] for v in body["versions"]] == [False, True]
    listed = client.get("/api/v1/studies", headers=admin).json()["items"]
    assert next(s for s in listed if s["code"] == SLE)["version"] == "1.2"


def test_errors_are_problems(client: TestClient, admin: dict[str, str]) -> None:
    cases = [
        ("/api/v1/studies/NOPE", admin, 404, "/problems/not-found"),
        ("/api/v1/studies/%20UCART-SLE", admin, 422, "/problems/validation-error"),
        ("/api/v1/studies/" + "X" * 41, admin, 422, "/problems/validation-error"),
        ("/api/v1/studies", {}, 401, "/problems/not-authenticated"),
        ("/api/v1/studies", bearer("fu_not-a-token"), 401, "/problems/not-authenticated"),
    ]
    for url, headers, status, kind in cases:
        response = client.get(url, headers=headers)
        assert response.status_code == status, url
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"] == kind
        assert response.json()["status"] == status
