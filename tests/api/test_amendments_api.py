"""The amendment routes: load a version (or only validate it), diff, impact, apply."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_amendments import NOW, V2, subjects_in_every_state
from tests.helpers_subjects import (
    SLE,
    assert_problem,
    bearer,
    load_seed_studies,
    make_token,
    seed_text,
    stand_at,
)

VERSIONS = f"/api/v1/studies/{SLE}/versions"


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    subjects_in_every_state(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "admin", name="root"))
    session.commit()
    return token


def _loaded_versions(client: TestClient, admin: dict[str, str]) -> list[str]:
    body = client.get(f"/api/v1/studies/{SLE}", headers=admin).json()
    return [v["version"] for v in body["versions"]]


def test_validate_only_lists_every_problem_with_line_and_column(
    client: TestClient, admin: dict[str, str]
) -> None:
    broken = V2.replace("at: day 84", "at: 84 dayz").replace("window: 3 days", "window: -3 days")
    response = client.post(f"{VERSIONS}?validate_only=true", headers=admin,
                           json={"text": broken, "source": "ucart-sle-2.0.yaml"})
    body = assert_problem(response, 422, "invalid-schedule")
    lines = broken.splitlines()
    assert len(body["errors"]) == len(body["problems"]) >= 2
    for error in body["errors"]:
        assert set(error) == {"line", "column", "field", "message"}
    at = next(e for e in body["errors"] if e["field"].endswith(".at"))
    assert lines[at["line"] - 1].strip() == "at: 84 dayz" and at["column"] == 9
    assert "is not a duration" in at["message"]
    window = next(e for e in body["errors"] if ".window" in e["field"])
    assert "-3 days" in lines[window["line"] - 1]
    assert body["problems"][0].startswith("ucart-sle-2.0.yaml:")
    # Nothing was written, valid or not.
    ok = client.post(f"{VERSIONS}?validate_only=true", headers=admin, json={"text": V2})
    assert (ok.status_code, ok.json()) == (200, {"study": SLE, "version": "2.0",
                                                 "result": "valid"})
    assert _loaded_versions(client, admin) == ["1.1"]


def test_load_a_version_with_the_rules_of_the_command(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    first = client.post(VERSIONS, headers=admin, json={"text": V2, "source": "v2.yaml"})
    assert (first.status_code, first.json()["result"]) == (201, "loaded")
    again = client.post(VERSIONS, headers=admin, json={"text": V2})
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    assert _loaded_versions(client, admin) == ["1.1", "2.0"]
    # Loaded is not active: the study still enrols on 1.1.
    assert client.get(f"/api/v1/studies/{SLE}", headers=admin).json()["version"] == "1.1"
    other = V2.replace("window: 1 day", "window: 2 days")
    for query in ("", "?validate_only=true"):
        assert_problem(client.post(VERSIONS + query, headers=admin, json={"text": other}),
                       409, "version-conflict")
    assert_problem(client.post("/api/v1/studies/CART-HSCT-MM/versions", headers=admin,
                               json={"text": V2}), 422, "invalid-request")
    edc = bearer(make_token(session, "edc", studies=[SLE]))
    session.commit()
    assert_problem(client.post(VERSIONS, headers=edc, json={"text": V2}), 403, "forbidden")
    assert seed_text("ucart-sle.yaml") != V2


def test_diff_and_impact(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post(VERSIONS, headers=admin, json={"text": V2}).status_code == 201
    diff = client.get(f"{VERSIONS}/2.0/diff?from=1.1", headers=admin)
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert body["amendment"] == {"number": 1, "date": "2027-03-15", "summary": body[
        "amendment"]["summary"], "reconsent": True, "consent_version": "2.0"}
    assert {"section": "visit", "code": "M9", "change": "removed", "field": None,
            "before": "timing 9 months from infusion; window -14 days / +14 days",
            "after": None} in body["changes"]
    assert_problem(client.get(f"{VERSIONS}/2.0/diff?from=0.9", headers=admin), 404,
                   "not-found")
    assert client.get(f"{VERSIONS}/2.0/diff", headers=admin).status_code == 422

    impact = client.get(f"/api/v1/studies/{SLE}/subjects/MID/amendment-impact?to=2.0",
                        headers=admin).json()
    m3 = next(v for v in impact["visits"] if v["code"] == "M3")
    assert m3["effects"] == ["moved", "out_of_window"] and m3["actual_date"] == "2026-05-08"
    assert m3["before"]["window_end"] == "2026-05-08"
    assert m3["after"]["window_end"] == "2026-05-03"
    assert impact["blocked"] is None
    blocked = client.get(f"/api/v1/studies/{SLE}/subjects/RC/amendment-impact?to=2.0",
                         headers=admin).json()
    assert blocked["blocked"] == "amendment 1 needs re-consent to consent version 2.0"


def test_move_a_subject(client: TestClient, session: Session, admin: dict[str, str]) -> None:
    assert client.post(VERSIONS, headers=admin, json={"text": V2}).status_code == 201
    url = f"/api/v1/studies/{SLE}/subjects/NS/protocol-version"
    calendar_url = f"/api/v1/studies/{SLE}/subjects/NS"
    before = client.get(calendar_url, headers=admin).json()
    dry = client.post(url, headers=admin,
                      json={"version": "2.0", "reason": "amendment 1", "dry_run": True})
    assert dry.status_code == 200 and dry.json()["outcome"] == "dry_run"
    assert client.get(calendar_url, headers=admin).json() == before

    keyed = {**admin, "Idempotency-Key": "move-NS-1"}
    body = {"version": "2.0", "reason": "amendment 1"}
    applied = client.post(url, headers=keyed, json=body)
    assert applied.status_code == 200 and applied.json()["outcome"] == "applied"
    replay = client.post(url, headers=keyed, json=body)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == applied.json()
    again = client.post(url, headers=admin, json=body)
    assert again.json()["outcome"] == "already" and again.json()["impact"]["visits"] == []
    visits = {v["code"]: v for v in client.get(calendar_url, headers=admin).json()["visits"]}
    assert visits["M9"]["status"] == "cancelled"
    assert visits["D7"]["target_date"] == "2026-07-08"
    history = client.get(f"{calendar_url}/history", headers=admin)
    assert history.status_code == 200, history.text
    amended = [r for r in history.json()["items"] if r["action"] == "subject.amended"]
    assert len(amended) == 1 and amended[0]["reason"] == "amendment 1"

    assert_problem(client.post(f"/api/v1/studies/{SLE}/subjects/RC/protocol-version",
                               headers=admin, json=body), 409, "conflict")
    edc = bearer(make_token(session, "edc", studies=[SLE]))
    session.commit()
    assert_problem(client.post(f"/api/v1/studies/{SLE}/subjects/MID/protocol-version",
                               headers=edc, json=body), 403, "forbidden")
