"""/api/v1/sites: visible sites, admin changes (audited), links to studies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, StudySite
from app.problems import PROBLEM_JSON
from tests.helpers_worklist import (
    MM,
    SLE,
    add_site,
    add_subject,
    add_visit,
    bearer,
    load_seeds,
    make_token,
    stand_at,
)


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    load_seeds(session)
    return bearer(make_token(session, "admin"))


def audit(session: Session, action: str) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def test_list_and_read(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    items = client.get("/api/v1/sites", headers=admin).json()["items"]
    assert [(s["code"], s["time_zone"], s["studies"]) for s in items] == [
        ("MM01", "Asia/Shanghai", [MM]),
        ("WTCH", "Asia/Shanghai", [SLE]),
        ("YC3H", "Asia/Shanghai", [SLE]),
    ]
    site = client.get("/api/v1/sites/YC3H", headers=admin).json()
    assert site["name"] == "Yancheng Third People's Hospital"
    assert site["digest_time"] == "07:00" and site["studies"] == [SLE]
    assert datetime.fromisoformat(site["created_at"]).utcoffset() == timedelta(0)


def test_scoping(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    nurse = bearer(make_token(session, "coordinator", sites=["YC3H"]))
    assert [s["code"] for s in client.get("/api/v1/sites", headers=nurse).json()["items"]] == [
        "YC3H"
    ]
    assert client.get("/api/v1/sites/WTCH", headers=nurse).status_code == 404
    monitor = bearer(make_token(session, "monitor", studies=[MM]))
    assert [s["code"] for s in client.get("/api/v1/sites", headers=monitor).json()["items"]] == [
        "MM01"
    ]
    response = client.get("/api/v1/sites/YC3H", headers=monitor)
    assert response.status_code == 404
    assert response.json()["detail"] == "site YC3H not found"


def test_create_site(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    body = {"code": "LDN1", "name": "London", "time_zone": "Europe/London",
            "digest_time": "06:30"}
    response = client.post("/api/v1/sites", json=body, headers=admin)
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/sites/LDN1"
    assert {k: response.json()[k] for k in body} == body
    assert response.json()["studies"] == []
    [record] = audit(session, "site.created")[-1:]
    assert (record.site_code, record.after) == (
        "LDN1", {"name": "London", "time_zone": "Europe/London", "digest_time": "06:30"}
    )
    again = client.post("/api/v1/sites", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/already-exists"
    default = client.post("/api/v1/sites", headers=admin,
                          json={"code": "NYC", "name": "New York", "time_zone": "America/New_York"})
    assert default.json()["digest_time"] == "07:00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"digest_time": "25:00"}, "digest_time"),
        ({"digest_time": "7:00"}, "digest_time"),
        ({"code": " SH"}, "code"),
        ({"code": "X" * 41}, "code"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_refuses_bad_input(
    client: TestClient, admin: dict[str, str], change: dict[str, str], field: str
) -> None:
    body = {"code": "SH02", "name": "Renji", "time_zone": "Asia/Shanghai", **change}
    response = client.post("/api/v1/sites", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert any(e["location"].endswith(field) for e in response.json()["errors"])


def test_only_an_admin_changes_sites(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    body = {"code": "SH02", "name": "Renji", "time_zone": "Asia/Shanghai"}
    for role, sites, studies in [("edc", (), (SLE,)), ("monitor", (), (SLE,)),
                                 ("coordinator", ("YC3H",), ())]:
        token = bearer(make_token(session, role, sites=sites, studies=studies))
        assert client.post("/api/v1/sites", json=body, headers=token).status_code == 403
        patched = client.patch("/api/v1/sites/YC3H", json={"name": "x"}, headers=token)
        assert patched.status_code == 403
        assert patched.json()["type"] == "/problems/forbidden"
        assert client.put(f"/api/v1/studies/{MM}/sites/YC3H", headers=token).status_code == 403
    assert client.get("/api/v1/sites/SH02", headers=admin).status_code == 404


def test_update_site(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    response = client.patch("/api/v1/sites/YC3H", headers=admin,
                            json={"time_zone": "Asia/Urumqi", "digest_time": "08:15"})
    assert response.status_code == 200
    assert (response.json()["time_zone"], response.json()["digest_time"]) == (
        "Asia/Urumqi", "08:15"
    )
    [record] = audit(session, "site.updated")
    assert record.before == {"time_zone": "Asia/Shanghai", "digest_time": "07:00"}
    assert record.after == {"time_zone": "Asia/Urumqi", "digest_time": "08:15"}
    # Nothing changes, nothing is audited.
    same = client.patch("/api/v1/sites/YC3H", headers=admin, json={"digest_time": "08:15"})
    assert same.status_code == 200
    assert client.patch("/api/v1/sites/YC3H", headers=admin, json={}).status_code == 200
    assert len(audit(session, "site.updated")) == 1
    assert client.patch("/api/v1/sites/NOPE", headers=admin, json={}).status_code == 404
    bad = client.patch("/api/v1/sites/YC3H", headers=admin, json={"time_zone": "Nowhere/X"})
    assert bad.status_code == 422


def test_time_zone_decides_what_is_overdue(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    """At 20:00 UTC on 1 March it is 2 March in Shanghai but 1 March in New York."""
    subject = add_subject(session, SLE, "YC3H", "TZ-1")
    add_visit(session, subject, "D14", target=date(2026, 3, 1))
    session.commit()
    stand_at(client, datetime(2026, 3, 1, 20, tzinfo=UTC))
    before = client.get("/api/v1/visits?site=YC3H", headers=admin).json()["items"]
    assert [r["status"] for r in before] == ["overdue"]
    client.patch("/api/v1/sites/YC3H", headers=admin, json={"time_zone": "America/New_York"})
    after = client.get("/api/v1/visits?site=YC3H", headers=admin).json()["items"]
    assert [(r["status"], r["as_of"]) for r in after] == [("due", "2026-03-01")]


def test_link_site_to_study(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    add_site(session, "LDN1", "Europe/London")
    session.commit()
    first = client.put(f"/api/v1/studies/{SLE}/sites/LDN1", headers=admin)
    assert first.status_code == 201
    assert first.json() == {"study": SLE, "site": "LDN1", "created": True}
    again = client.put(f"/api/v1/studies/{SLE}/sites/LDN1", headers=admin)
    assert again.status_code == 200 and again.json()["created"] is False
    assert len(audit(session, "site.linked")) == 1
    assert client.get("/api/v1/sites/LDN1", headers=admin).json()["studies"] == [SLE]
    edc = bearer(make_token(session, "edc", studies=[SLE]))
    assert "LDN1" in [s["code"] for s in client.get("/api/v1/sites", headers=edc).json()["items"]]
    links = session.scalars(select(StudySite)).all()
    assert len(links) == 4
    for url in ("/api/v1/studies/NOPE/sites/LDN1", f"/api/v1/studies/{SLE}/sites/NOPE"):
        response = client.put(url, headers=admin)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON


def test_a_body_that_is_not_json_text_is_a_problem(
    client: TestClient, admin: dict[str, str]
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    for body, status in [(b"\xd8\x00\x00", 400), (b"{not json", 422)]:
        response = client.post("/api/v1/sites", content=body, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
