"""The audit trail: a subject's whole story, filters, paging, who may read it, append-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.models import AuditRecord
from app.schedule.lifecycle import EventType
from app.services.subjects.anchors import set_anchor
from app.services.subjects.events import record_event
from app.services.visits import complete_visit
from tests.helpers_access import MM, MM_SITE, OTHER_SLE_SITE, SLE, SLE_SITE, new_token
from tests.helpers_subjects import EDC, NOW, bearer, enrol_mm, enrol_sle, load_seed_studies

HISTORY = "/api/v1/studies/{study}/subjects/{subject}/history"


def build_story(session: Session) -> None:
    """Enrolment, re-anchoring, a completion, its correction and death of one subject."""
    enrol_sle(session, "S-001", infusion=date(2026, 1, 10), actual=False)
    set_anchor(session, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 1, 12),
               actual=True, reason="infusion postponed two days (fever)", actor=EDC, now=NOW)
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 1, 26), actor=EDC, now=NOW)
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 1, 27), correction=True,
                   reason="wrong date transcribed from the CRF", actor=EDC, now=NOW)
    record_event(session, study=SLE, subject_id="S-001", type=EventType.DEATH,
                 day=date(2026, 2, 20), actor=EDC, now=NOW)


@pytest.fixture
def story(session: Session) -> dict[str, str]:
    load_seed_studies(session)
    build_story(session)
    enrol_sle(session, "S-002", site=OTHER_SLE_SITE)
    enrol_mm(session, "MM-001")
    tokens = {
        "admin": new_token(session, "admin", name="root"),
        "edc": new_token(session, "edc", studies=(SLE,), name="rave"),
        "nurse": new_token(session, "coordinator", sites=(SLE_SITE,), name="nurse"),
        "other-nurse": new_token(session, "coordinator", sites=(MM_SITE,), name="mm-nurse"),
        "monitor": new_token(session, "monitor", studies=(SLE,), name="cra"),
        "site-monitor": new_token(session, "monitor", studies=(SLE,), sites=(OTHER_SLE_SITE,),
                                  name="cra-wtch"),
        "mm-monitor": new_token(session, "monitor", studies=(MM,), name="cra-mm"),
    }
    session.commit()
    return tokens


def get(client: TestClient, url: str, token: str, **params: Any) -> Any:
    response = client.get(url, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_subjects_history_tells_every_step_with_before_after_and_reason(
    client: TestClient, story: dict[str, str]
) -> None:
    page = get(client, HISTORY.format(study=SLE, subject="S-001"), story["nurse"])
    entries = page["items"]
    assert page["next_cursor"] is None
    # The infusion made actual completes D0, the visit that records it (one fact, one
    # entry): its own record, right after the anchor's.
    assert [(e["action"], e["key"]) for e in entries] == [
        ("subject.enrolled", "S-001"), ("anchor.corrected", "infusion"),
        ("visit.completed", "D0"), ("visit.completed", "D14"), ("visit.corrected", "D14"),
        ("event.recorded", "death"),
    ]
    for entry in entries:
        assert (entry["actor"], entry["role"]) == ("test-edc", "edc")
        assert (entry["study"], entry["site"], entry["subject_id"]) == (SLE, SLE_SITE, "S-001")
        at = datetime.fromisoformat(entry["at"])
        assert at.utcoffset() == timedelta(0)
    enrolled, anchor, d0, completed, corrected, death = entries
    assert d0["after"]["actual_date"] == "2026-01-12"
    assert enrolled["before"] is None and enrolled["after"]
    assert anchor["key"] == "infusion"
    assert anchor["before"] == {"date": "2026-01-10", "actual": False}
    assert anchor["after"]["date"] == "2026-01-12" and anchor["after"]["actual"] is True
    assert anchor["reason"] == "infusion postponed two days (fever)"
    assert completed["key"] == "D14" and completed["reason"] is None
    assert completed["after"]["actual_date"] == "2026-01-26"
    assert corrected["before"]["actual_date"] == "2026-01-26"
    assert corrected["after"]["actual_date"] == "2026-01-27"
    assert corrected["reason"] == "wrong date transcribed from the CRF"
    assert death["entity"] == "event" and "death" in str(death["after"])


def test_history_is_404_for_subjects_the_token_does_not_see(
    client: TestClient, story: dict[str, str]
) -> None:
    url = HISTORY.format(study=SLE, subject="S-001")
    for who in ("other-nurse", "mm-monitor", "site-monitor"):
        response = client.get(url, headers=bearer(story[who]))
        assert response.status_code == 404, who
        assert response.headers["content-type"] == "application/problem+json"
    missing = client.get(HISTORY.format(study=SLE, subject="S-999"), headers=bearer(story["admin"]))
    assert missing.status_code == 404
    # Same answer for "exists elsewhere" and "does not exist": nothing is revealed.
    hidden = client.get(url, headers=bearer(story["other-nurse"]))
    absent = client.get(HISTORY.format(study=SLE, subject="S-999"),
                        headers=bearer(story["other-nurse"]))
    assert hidden.json()["type"] == absent.json()["type"]
    for who in ("admin", "edc", "nurse", "monitor"):
        assert client.get(url, headers=bearer(story[who])).status_code == 200, who


@pytest.mark.parametrize("who", ["edc", "nurse", "other-nurse"])
def test_only_admin_and_monitor_read_the_whole_trail(
    client: TestClient, story: dict[str, str], who: str
) -> None:
    response = client.get("/api/v1/audit", headers=bearer(story[who]))
    assert response.status_code == 403
    assert client.get("/api/v1/audit").status_code == 401


def test_a_monitor_sees_only_its_studies_and_never_token_administration(
    client: TestClient, story: dict[str, str]
) -> None:
    everything = get(client, "/api/v1/audit", story["admin"], limit=500)["items"]
    assert {e["study"] for e in everything} >= {SLE, MM, None}
    assert any(e["action"] == "token.created" for e in everything)

    sle = get(client, "/api/v1/audit", story["monitor"], limit=500)["items"]
    assert sle and {e["study"] for e in sle} == {SLE}
    assert {e["subject_id"] for e in sle} >= {"S-001", "S-002"}
    mm = get(client, "/api/v1/audit", story["mm-monitor"], limit=500)["items"]
    assert {e["study"] for e in mm} == {MM} and "S-001" not in {e["subject_id"] for e in mm}
    # Asking for another study is not an error, just empty.
    assert get(client, "/api/v1/audit", story["mm-monitor"], study=SLE)["items"] == []
    # A monitor narrowed to a site sees that site's subjects and study-wide records only.
    narrow = get(client, "/api/v1/audit", story["site-monitor"], limit=500)["items"]
    assert {e["site"] for e in narrow} <= {OTHER_SLE_SITE, None}
    assert "S-002" in {e["subject_id"] for e in narrow}
    assert "S-001" not in {e["subject_id"] for e in narrow}


def test_filters(client: TestClient, story: dict[str, str]) -> None:
    admin = story["admin"]
    one = get(client, "/api/v1/audit", admin, study=SLE, subject_id="S-001")["items"]
    assert len(one) == 6
    corrected = get(client, "/api/v1/audit", admin, action="visit.corrected")["items"]
    assert [(e["subject_id"], e["key"]) for e in corrected] == [("S-001", "D14")]
    by_site = get(client, "/api/v1/audit", admin, site=OTHER_SLE_SITE)["items"]
    assert by_site and {e["site"] for e in by_site} == {OTHER_SLE_SITE}
    by_actor = get(client, "/api/v1/audit", admin, actor="system")["items"]
    assert by_actor and {e["actor"] for e in by_actor} == {"system"}
    assert get(client, "/api/v1/audit", admin, actor="nobody")["items"] == []

    # Time range: everything was recorded within the last minutes.
    total = len(get(client, "/api/v1/audit", admin, limit=500)["items"])
    now = datetime.now(UTC)
    since = get(client, "/api/v1/audit", admin, limit=500,
                **{"from": (now - timedelta(hours=1)).isoformat()})["items"]
    assert len(since) == total
    until = get(client, "/api/v1/audit", admin, **{"to": (now - timedelta(hours=1)).isoformat()})
    assert until["items"] == []
    shanghai = get(client, "/api/v1/audit", admin, limit=500,
                   **{"from": (now - timedelta(hours=1)).astimezone().isoformat(),
                      "to": (now + timedelta(hours=1)).isoformat()})["items"]
    assert len(shanghai) == total
    empty = client.get("/api/v1/audit", headers=bearer(admin),
                       params={"from": now.isoformat(), "to": now.isoformat()})
    assert empty.status_code == 422 and "to must be after from" in empty.text


def test_keyset_pages_cover_the_trail_once_in_both_orders(
    client: TestClient, story: dict[str, str]
) -> None:
    admin = story["admin"]
    full = [e["id"] for e in get(client, "/api/v1/audit", admin, limit=500)["items"]]
    assert full == sorted(full) and len(full) > 7
    for order, expected in (("asc", full), ("desc", full[::-1])):
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "order": order}
            if cursor:
                params["cursor"] = cursor
            page = get(client, "/api/v1/audit", admin, **params)
            seen += [e["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
    misspelt = client.get("/api/v1/audit", params={"subject": "S-001"}, headers=bearer(admin))
    assert misspelt.status_code == 422 and "unknown query parameter(s): subject" in misspelt.text
    bad = client.get("/api/v1/audit", params={"cursor": "bm9wZQ"}, headers=bearer(admin))
    assert bad.status_code == 422 and bad.json()["detail"] == "cursor is not one this API returned"


def test_history_pages_too(client: TestClient, story: dict[str, str]) -> None:
    url = HISTORY.format(study=SLE, subject="S-001")
    first = get(client, url, story["admin"], limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = get(client, url, story["admin"], limit=10, cursor=first["next_cursor"])
    assert [e["action"] for e in first["items"] + rest["items"]][-1] == "event.recorded"
    assert len(rest["items"]) == 4 and rest["next_cursor"] is None


def test_token_changes_over_the_api_are_in_the_trail(
    client: TestClient, story: dict[str, str]
) -> None:
    admin = story["admin"]
    client.post("/api/v1/tokens", json={"role": "monitor", "studies": [MM], "name": "late"},
                headers=bearer(admin))
    client.delete("/api/v1/tokens/late", headers=bearer(admin))
    trail = get(client, "/api/v1/audit", admin, order="desc", limit=2)["items"]
    assert [(e["action"], e["key"], e["actor"]) for e in trail] == [
        ("token.revoked", "late", "root"), ("token.created", "late", "root"),
    ]


REWRITES = {
    "update": ("both", "UPDATE audit_records SET reason = 'rewritten' WHERE id = :id"),
    "delete": ("both", "DELETE FROM audit_records WHERE id = :id"),
    "upsert": ("both", "INSERT INTO audit_records (id, at, actor, role, action, entity, reason)"
                       " VALUES (:id, CURRENT_TIMESTAMP, 'x', 'admin', 'test.row', 'test', 'r')"
                       " ON CONFLICT (id) DO UPDATE SET reason = 'rewritten'"),
    "insert or replace": ("sqlite", "INSERT OR REPLACE INTO audit_records"
                                    " (id, at, actor, role, action, entity, reason) VALUES"
                                    " (:id, CURRENT_TIMESTAMP, 'x', 'admin', 'test.row', 'test',"
                                    " 'rewritten')"),
    "replace into": ("sqlite", "REPLACE INTO audit_records (id, at, actor, role, action, entity,"
                               " reason) VALUES (:id, CURRENT_TIMESTAMP, 'x', 'admin',"
                               " 'test.row', 'test', 'rewritten')"),
    "update or replace": ("sqlite", "UPDATE OR REPLACE audit_records SET reason = 'rewritten'"
                                    " WHERE id = :id"),
    "merge": ("postgresql", "MERGE INTO audit_records a USING (SELECT CAST(:id AS INTEGER) AS id)"
                            " s ON a.id = s.id WHEN MATCHED THEN UPDATE SET reason = 'rewritten'"),
    "truncate": ("postgresql", "TRUNCATE audit_records"),
}


@pytest.mark.parametrize("form", sorted(REWRITES))
def test_audit_rows_cannot_be_rewritten_in_the_database(engine: Engine, form: str) -> None:
    """Outside the application too: every statement form that would change or remove a
    record is refused by the database itself (triggers on both backends)."""
    backend, statement = REWRITES[form]
    if backend not in ("both", engine.dialect.name):
        pytest.skip(f"{form} is not {engine.dialect.name} SQL")
    with engine.connect() as conn:
        outer = conn.begin()
        record_id = conn.execute(text(
            "INSERT INTO audit_records (at, actor, role, action, entity)"
            " VALUES (CURRENT_TIMESTAMP, 'x', 'admin', 'test.row', 'test') RETURNING id"
        )).scalar_one()
        savepoint = conn.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement), {"id": record_id})
        savepoint.rollback()
        rows = conn.execute(
            select(AuditRecord.id, AuditRecord.reason).where(AuditRecord.action == "test.row")
        ).all()
        assert [tuple(row) for row in rows] == [(record_id, None)]
        outer.rollback()


def test_plain_inserts_still_append(engine: Engine) -> None:
    with engine.connect() as conn:
        outer = conn.begin()
        for _ in range(2):
            conn.execute(text(
                "INSERT INTO audit_records (at, actor, role, action, entity)"
                " VALUES (CURRENT_TIMESTAMP, 'x', 'admin', 'test.row', 'test')"
            ))
        count = conn.execute(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "test.row")
        ).scalar()
        assert count == 2
        outer.rollback()
