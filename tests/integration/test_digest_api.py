"""The digest preview and the recipients over the API (tokens, scoping, problem+json)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Subject
from tests.helpers_digest import (
    DOB,
    MM,
    SLE,
    World,
    add_visit,
    bearer,
    build_world,
    make_token,
)

DIGEST = "/api/v1/sites/{site}/digest"
RECIPIENTS = "/api/v1/sites/{site}/recipients"


@pytest.fixture
def world(session: Session) -> World:
    world = build_world(session)
    # Committed (to a SAVEPOINT): a request that fails rolls back only its own work.
    session.commit()
    return world


def token(session: Session, role: str, **scope: list[str]) -> dict[str, str]:
    raw = make_token(session, role, **scope)
    session.commit()
    return bearer(raw)


@pytest.fixture
def admin(session: Session, world: World) -> dict[str, str]:
    return token(session, "admin")


def test_digest_preview_as_json(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(DIGEST.format(site="YC3H"), params={"date": "2026-03-02"},
                          headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["site"], body["date"], body["date_label"]) == ("YC3H", "2026-03-02",
                                                                "2026-03-02 (Mon)")
    assert body["subject"] == "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits"
    assert [(r["subject_id"], r["visit_code"], r["days_overdue"]) for r in body["overdue"]] == [
        ("YC3H-001", "D14", 16), ("YC3H-002", "D28", 4), ("YC3H-003", "M3", 1)
    ]
    assert [r["visit_code"] for r in body["due"]] == ["D28", "M6", "M3"]
    assert [r["opens_in_days"] for r in body["upcoming"]] == [4, 7]
    assert [s["line"] for s in body["studies"]] == [
        f"{MM}: 1 overdue, 1 due, 1 coming up", f"{SLE}: 2 overdue, 2 due, 1 coming up"
    ]
    assert body["worklist_url"] == "http://testserver/worklist?site=YC3H"
    assert body["all_clear"] is False
    assert (body["newly_missed"], body["previous_digest"], body["missed_after"]) == (
        [], None, "2026-02-23")
    assert DOB.isoformat() not in response.text


def test_digest_preview_lists_the_newly_missed(
    client: TestClient, session: Session, world: World, admin: dict[str, str]
) -> None:
    subject = session.scalars(select(Subject).where(Subject.subject_id == "YC3H-001")).one()
    add_visit(session, subject, "W1", date(2026, 2, 1), date(2026, 2, 5)).missed_from = \
        date(2026, 3, 1)
    session.commit()
    body = client.get(DIGEST.format(site="YC3H"), params={"date": "2026-03-02"},
                      headers=admin).json()
    assert [(r["visit_code"], r["missed_from"], r["days_overdue"]) for r in body["newly_missed"]
            ] == [("W1", "2026-03-01", 25)]
    assert "W1" not in [r["visit_code"] for r in body["overdue"]]
    assert body["subject"] == "[followup] YC3H 2026-03-02 (Mon): 3 overdue visits, 1 newly missed"
    assert [s["newly_missed"] for s in body["studies"]] == [0, 1]


def test_default_date_is_today_at_the_site(client: TestClient, admin: dict[str, str]) -> None:
    before = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    body = client.get(DIGEST.format(site="YC3H"), headers=admin).json()
    after = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert body["date"] in {before, after}


def test_digest_scoping(client: TestClient, session: Session, world: World) -> None:
    other_site = token(session, "coordinator", sites=["WTCH"])
    hidden = client.get(DIGEST.format(site="YC3H"), params={"date": "2026-03-02"},
                        headers=other_site)
    assert hidden.status_code == 404
    assert hidden.headers["content-type"].startswith("application/problem+json")
    own = client.get(DIGEST.format(site="WTCH"), params={"date": "2026-03-02"},
                     headers=other_site)
    assert own.status_code == 200, own.text
    assert [r["subject_id"] for r in own.json()["overdue"]] == ["WTCH-001"]
    edc_mm = token(session, "edc", studies=[MM])
    body = client.get(DIGEST.format(site="YC3H"), params={"date": "2026-03-02"},
                      headers=edc_mm).json()
    rows = body["overdue"] + body["due"] + body["upcoming"]
    assert {r["study"] for r in rows} == {MM} and [s["study"] for s in body["studies"]] == [MM]
    assert client.get(DIGEST.format(site="NOPE"), headers=edc_mm).status_code == 404
    assert client.get(DIGEST.format(site="YC3H")).status_code == 401


@pytest.mark.parametrize("value", ["2026-02-30", "1899-12-31", "20260302", "yesterday"])
def test_bad_dates_are_422(client: TestClient, admin: dict[str, str], value: str) -> None:
    response = client.get(DIGEST.format(site="YC3H"), params={"date": value}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "query.date"


def test_recipients_admin_only_and_audited(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    url = RECIPIENTS.format(site="YC3H")
    created = client.post(url, json={"email": "CRC@YC3H.example"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json() == {"site": "YC3H", "email": "CRC@yc3h.example", "study": None}
    filtered = client.post(url, json={"email": "mm@yc3h.example", "study": MM}, headers=admin)
    assert filtered.status_code == 201
    assert client.post(url, json={"email": "CRC@yc3h.example"}, headers=admin).status_code == 409
    listed = client.get(url, headers=admin).json()
    assert [(r["email"], r["study"]) for r in listed] == [
        ("CRC@yc3h.example", None), ("mm@yc3h.example", MM)
    ]

    coordinator = token(session, "coordinator", sites=["YC3H"])
    assert client.get(url, headers=coordinator).status_code == 403
    assert client.post(url, json={"email": "x@y.example"}, headers=coordinator).status_code == 403

    gone = client.delete(f"{url}/mm@yc3h.example", params={"study": MM}, headers=admin)
    assert gone.status_code == 204
    again = client.delete(f"{url}/mm@yc3h.example", params={"study": MM}, headers=admin)
    assert again.status_code == 404
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.entity == "digest_recipient")
        .order_by(AuditRecord.id)
    ).all()
    assert actions == ["digest.recipient_added", "digest.recipient_added",
                       "digest.recipient_removed"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "not-an-address"}, 422),
        ({"email": "a@b.example", "study": "NOPE"}, 404),
        ({"email": "a@b.example", "extra": 1}, 422),
        ({"email": "a@b.example", "study": "bad code!"}, 422),
    ],
)
def test_recipient_refusals(client: TestClient, admin: dict[str, str],
                            body: dict[str, object], status: int) -> None:
    response = client.post(RECIPIENTS.format(site="YC3H"), json=body, headers=admin)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
