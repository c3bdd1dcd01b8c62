"""GET /api/v1/visits and /visits/summary over HTTP: filters, order, pages, zones, access."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.problems import PROBLEM_JSON
from tests.helpers_worklist import (
    MM,
    SLE,
    add_expanded_subject,
    add_site,
    add_subject,
    add_visit,
    bearer,
    load_seeds,
    make_token,
    stand_at,
)

TODAY = date(2026, 3, 1)
NOON_IN_SHANGHAI = datetime(2026, 3, 1, 4, tzinfo=UTC)


@pytest.fixture
def world(session: Session, client: TestClient) -> dict[str, str]:
    """Three sites (two in Shanghai, one in London) with a few visits of each kind."""
    load_seeds(session)
    add_site(session, "LDN", "Europe/London", studies=[SLE])
    subjects = {
        "A": add_subject(session, SLE, "YC3H", "A"),
        "B": add_subject(session, SLE, "WTCH", "B"),
        "C": add_subject(session, MM, "MM01", "C"),
        "L": add_subject(session, SLE, "LDN", "L"),
    }
    for subject in subjects.values():
        add_visit(session, subject, "OD", target=TODAY - timedelta(days=5), before=1, after=1)
        add_visit(session, subject, "DUE", target=TODAY, before=2, after=2)
        add_visit(session, subject, "UP", target=TODAY + timedelta(days=6), before=2, after=2)
        add_visit(session, subject, "DONE", target=TODAY - timedelta(days=30),
                  state="completed", actual=TODAY - timedelta(days=30))
        add_visit(session, subject, "LATE", target=TODAY - timedelta(days=60), before=2,
                  after=2, state="completed", actual=TODAY - timedelta(days=50))
        add_visit(session, subject, "MISS", target=TODAY - timedelta(days=20), state="missed")
        add_visit(session, subject, "FAR", target=TODAY + timedelta(days=90), before=7, after=7)
    stand_at(client, NOON_IN_SHANGHAI)
    return {
        "admin": make_token(session, "admin"),
        "nurse": make_token(session, "coordinator", sites=["YC3H"]),
        "edc": make_token(session, "edc", studies=[MM]),
        "monitor": make_token(session, "monitor", studies=[SLE]),
    }


def get(client: TestClient, token: str, url: str = "/api/v1/visits", **params: Any) -> Any:
    response = client.get(url, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def keys(body: Any) -> list[tuple[str, str]]:
    return [(r["subject_id"], r["visit"]) for r in body["items"]]


def test_row_shape_and_urgency_order(client: TestClient, world: dict[str, str]) -> None:
    body = get(client, world["admin"], site=["YC3H"])
    assert body["next_cursor"] is None
    assert [r["status"] for r in body["items"]] == [
        "overdue", "due", "upcoming", "completed_out_of_window", "completed", "missed",
        "scheduled",
    ]
    assert body["items"][0] == {
        "study": SLE, "subject_id": "A", "site": "YC3H", "visit": "OD", "name": "Visit OD",
        "phase": "main", "kind": "clinic", "target_date": "2026-02-24",
        "window_start": "2026-02-23", "window_end": "2026-02-25", "status": "overdue",
        "as_of": "2026-03-01", "days_overdue": 4, "days_early": None, "days_late": None,
        "days_from_target": None, "actual_date": None, "missed_from": None,
    }
    late = body["items"][3]  # then the rest by target date
    assert (late["days_late"], late["days_from_target"], late["actual_date"]) == (
        8, 10, "2026-01-10")
    done = body["items"][4]
    assert (done["status"], done["days_late"], done["days_from_target"]) == (
        "completed", None, 0)
    everyone = get(client, world["admin"])
    statuses = [r["status"] for r in everyone["items"]]
    assert statuses[:4] == ["overdue"] * 4 and statuses[4:8] == ["due"] * 4


def test_filters(client: TestClient, world: dict[str, str]) -> None:
    admin = world["admin"]
    assert keys(get(client, admin, status="overdue", site=["YC3H", "MM01"])) == [
        ("A", "OD"), ("C", "OD")
    ]
    assert set(keys(get(client, admin, study=MM))) == {
        ("C", v) for v in ("OD", "DUE", "UP", "DONE", "LATE", "MISS", "FAR")
    }
    both = get(client, admin, status=["missed", "completed_out_of_window"], site="LDN")
    assert keys(both) == [("L", "LATE"), ("L", "MISS")]
    window = get(client, admin, site="WTCH", **{"from": "2026-02-20", "to": "2026-03-10"})
    assert keys(window) == [("B", "OD"), ("B", "DUE"), ("B", "UP")]
    assert keys(get(client, admin, site="WTCH", status="scheduled")) == [("B", "FAR")]
    later = get(client, admin, site="WTCH", as_of="2026-05-25")
    assert [r["status"] for r in later["items"]][:4] == ["overdue"] * 3 + ["due"]


def test_pagination_over_http(client: TestClient, session: Session, world: dict[str, str]) -> None:
    for n in range(6):
        add_expanded_subject(session, SLE, "YC3H", f"P{n}",
                             {"infusion": date(2025, 10, 1) + timedelta(days=7 * n),
                              "consent": date(2025, 9, 1)})
    session.commit()
    whole = get(client, world["admin"], limit=500)
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 9}
        if cursor:
            params["cursor"] = cursor
        page = get(client, world["admin"], **params)
        assert len(page["items"]) <= 9
        seen += keys(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == keys(whole)
    assert len(seen) == len(set(seen)) == 4 * 7 + 6 * 11


def test_shanghai_is_overdue_at_its_midnight(
    client: TestClient, session: Session, world: dict[str, str]
) -> None:
    """The Day 28 window closes on 1 March: overdue in Shanghai from 16:00 UTC that day."""
    sh = add_subject(session, SLE, "YC3H", "SH-1")
    ldn = add_subject(session, SLE, "LDN", "LDN-1")
    for subject in (sh, ldn):
        add_visit(session, subject, "D28", target=TODAY - timedelta(days=3), before=3, after=3)
    session.commit()
    only = {"status": ["overdue", "due"], "site": ["YC3H", "LDN"]}

    def state_at(instant: datetime) -> dict[str, tuple[str, str]]:
        stand_at(client, instant)
        rows = get(client, world["admin"], **only)["items"]
        return {r["subject_id"]: (r["status"], r["as_of"]) for r in rows if r["visit"] == "D28"}

    assert state_at(datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)) == {
        "SH-1": ("due", "2026-03-01"), "LDN-1": ("due", "2026-03-01")
    }
    assert state_at(datetime(2026, 3, 1, 16, 0, tzinfo=UTC)) == {
        "SH-1": ("overdue", "2026-03-02"), "LDN-1": ("due", "2026-03-01")
    }
    assert state_at(datetime(2026, 3, 2, 0, 0, tzinfo=UTC)) == {
        "SH-1": ("overdue", "2026-03-02"), "LDN-1": ("overdue", "2026-03-02")
    }
    summary = get(client, world["admin"], "/api/v1/visits/summary", site=["YC3H", "LDN"])
    stand_at(client, datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
    summary = get(client, world["admin"], "/api/v1/visits/summary", site=["YC3H", "LDN"])
    counts = {(c["site"], c["as_of"]): c["overdue"] for c in summary["items"]}
    assert counts == {("LDN", "2026-03-01"): 1, ("YC3H", "2026-03-02"): 2}


def test_access(client: TestClient, world: dict[str, str]) -> None:
    nurse = get(client, world["nurse"], limit=500)["items"]
    assert {r["site"] for r in nurse} == {"YC3H"} and len(nurse) == 7
    edc = get(client, world["edc"], limit=500)["items"]
    assert {(r["study"], r["site"]) for r in edc} == {(MM, "MM01")}
    monitor = get(client, world["monitor"], limit=500)["items"]
    assert {r["site"] for r in monitor} == {"YC3H", "WTCH", "LDN"}
    for token, params in [
        ("nurse", {"site": "WTCH"}),
        ("nurse", {"site": ["YC3H", "WTCH"]}),
        ("edc", {"study": SLE}),
        ("monitor", {"site": "MM01"}),
    ]:
        for url in ("/api/v1/visits", "/api/v1/visits/summary"):
            response = client.get(url, params=params, headers=bearer(world[token]))
            assert response.status_code == 404, (token, params)
            assert response.headers["content-type"] == PROBLEM_JSON
    assert client.get("/api/v1/visits").status_code == 401
    summary = get(client, world["nurse"], "/api/v1/visits/summary")
    assert summary["items"] == [{"site": "YC3H", "study": SLE, "as_of": "2026-03-01",
                                 "overdue": 1, "due": 1, "upcoming": 1,
                                 "missed_undocumented": 0}]
    assert summary["total"] == {"overdue": 1, "due": 1, "upcoming": 1,
                                "missed_undocumented": 0}


def test_summary(client: TestClient, world: dict[str, str]) -> None:
    body = get(client, world["admin"], "/api/v1/visits/summary")
    assert [(c["site"], c["study"]) for c in body["items"]] == [
        ("LDN", SLE), ("MM01", MM), ("WTCH", SLE), ("YC3H", SLE)
    ]
    assert body["total"] == {"overdue": 4, "due": 4, "upcoming": 4, "missed_undocumented": 0}
    later = get(client, world["admin"], "/api/v1/visits/summary", study=MM, as_of="2026-03-10")
    assert later["items"] == [{"site": "MM01", "study": MM, "as_of": "2026-03-10",
                               "overdue": 3, "due": 0, "upcoming": 0,
                               "missed_undocumented": 0}]


def test_derived_misses_are_their_own_status_filter_and_count(
    client: TestClient, session: Session, world: dict[str, str]
) -> None:
    """A visit counting as missed (derived) from 27 February: on 26 February it is still
    overdue; from the 27th it is missed_undocumented, with the date it began to count,
    listed after upcoming, filtered on its own and counted apart from overdue."""
    subject = add_subject(session, SLE, "WTCH", "M")
    gone = add_visit(session, subject, "GONE", target=TODAY - timedelta(days=10), before=1,
                     after=1)
    gone.missed_from = date(2026, 2, 27)
    session.commit()
    admin = world["admin"]
    body = get(client, admin, site="WTCH", as_of="2026-02-26", status="overdue")
    assert ("M", "GONE") in keys(body)
    body = get(client, admin, site="WTCH")
    assert [r["status"] for r in body["items"]][:4] == [
        "overdue", "due", "upcoming", "missed_undocumented"]
    row = body["items"][3]
    assert (row["visit"], row["missed_from"], row["days_overdue"]) == (
        "GONE", "2026-02-27", 9)
    assert keys(get(client, admin, status="missed_undocumented")) == [("M", "GONE")]
    assert ("M", "GONE") not in keys(get(client, admin, status="overdue"))
    summary = get(client, admin, "/api/v1/visits/summary", site="WTCH")
    assert summary["items"][0] | {"as_of": None} == {
        "site": "WTCH", "study": SLE, "as_of": None, "overdue": 1, "due": 1, "upcoming": 1,
        "missed_undocumented": 1}
    assert summary["total"]["missed_undocumented"] == 1


@pytest.mark.parametrize(
    ("params", "kind", "field"),
    [
        ({"status": "late"}, "validation-error", "query.status.0"),
        ({"limit": 0}, "validation-error", "query.limit"),
        ({"limit": 501}, "validation-error", "query.limit"),
        ({"limit": "ten"}, "validation-error", "query.limit"),
        ({"cursor": "!!"}, "invalid-cursor", None),
        ({"cursor": "abc"}, "invalid-cursor", None),
        ({"cursor": "x" * 201}, "validation-error", "query.cursor"),
        ({"from": "2026-13-01"}, "validation-error", "query.from"),
        ({"from": "0001-01-01"}, "validation-error", "query.from"),
        ({"to": "9999-12-31"}, "validation-error", "query.to"),
        ({"as_of": "yesterday"}, "validation-error", "query.as_of"),
        ({"as_of": "0001-01-01"}, "validation-error", "query.as_of"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "invalid-request", None),
        ({"site": " YC3H"}, "validation-error", "query.site.0"),
        ({"study": "x" * 41}, "validation-error", "query.study.0"),
    ],
)
def test_bad_parameters_are_problems(
    client: TestClient, session: Session, params: dict[str, Any], kind: str, field: str | None
) -> None:
    admin = make_token(session, "admin")
    response = client.get("/api/v1/visits", params=params, headers=bearer(admin))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"/problems/{kind}" and body["status"] == 422 and body["detail"]
    if field is not None:
        assert field in [e["location"] for e in body["errors"]]


def test_unknown_site_or_study(client: TestClient, world: dict[str, str]) -> None:
    response = client.get("/api/v1/visits?site=NOPE&site=YC3H", headers=bearer(world["admin"]))
    assert response.status_code == 404
    assert response.json()["detail"] == "site NOPE not found"
    response = client.get("/api/v1/visits/summary?study=NOPE", headers=bearer(world["admin"]))
    assert response.json()["detail"] == "study NOPE not found"
