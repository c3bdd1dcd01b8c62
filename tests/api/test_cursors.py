"""Page cursors: what the API hands out pages on; anything else is one 422 invalid-cursor.

Forged cursors with ids past the integer range of the database used to reach the query
(a 500 on SQLite past 2**63 and on PostgreSQL past 2**31).
"""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.services.pagination import decode_cursor, encode_cursor
from app.services.subjects.anchors import set_anchor
from tests.helpers_access import SLE, new_token
from tests.helpers_subjects import EDC, NOW, assert_problem, bearer, enrol_sle, load_seed_studies

LISTS = (
    f"/api/v1/studies/{SLE}/subjects",
    "/api/v1/audit",
    f"/api/v1/studies/{SLE}/subjects/S-001/history",
    "/api/v1/visits",
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = (
    "bm9wZQ",  # "nope"
    _b64(b"a123"),  # the audit trail's earlier layout
    _b64(f"s{2**63 + 1}".encode()),  # the earlier layouts with ids past the integer range
    _b64(f"a{2**31}".encode()),
    encode_cursor("subjects", 2**63 + 1),
    encode_cursor("audit", 2**31),
    encode_cursor("worklist", 0, "2026-01-01", 2**40),
    encode_cursor("audit", -1),
    encode_cursor("worklist", 9, "2026-01-01", 1),  # no such urgency class
    encode_cursor("worklist", 0, "2026-02-30", 1),  # no such day
    _b64(json.dumps(["subjects", True]).encode()),
    _b64(json.dumps(["subjects", 1.5]).encode()),
    _b64(json.dumps({"subjects": 1}).encode()),
    _b64(b"\xff\xfe"),
    "!!!",
    "x" * 200,
)


@pytest.fixture
def admin(session: Session) -> str:
    load_seed_studies(session)
    enrol_sle(session, "S-001", infusion=date(2026, 1, 10), actual=False)
    set_anchor(session, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 1, 10),
               actual=True, actor=EDC, now=NOW)  # a second record in its history
    enrol_sle(session, "S-002")
    token = new_token(session, "admin", name="root")
    session.commit()
    return token


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("cursor", FORGED)
def test_a_cursor_the_api_did_not_hand_out_is_422_invalid_cursor(
    client: TestClient, admin: str, url: str, cursor: str
) -> None:
    response = client.get(url, params={"cursor": cursor, "limit": 1}, headers=bearer(admin))
    body = assert_problem(response, 422, "invalid-cursor")
    assert body["detail"] == "cursor is not one this API returned"


@pytest.mark.parametrize("url", LISTS)
def test_one_lists_cursor_is_refused_by_another(
    client: TestClient, admin: str, url: str
) -> None:
    cursors = {}
    for other in LISTS:
        page = client.get(other, params={"limit": 1}, headers=bearer(admin)).json()
        cursors[other] = page["next_cursor"]
    assert all(cursors.values()), cursors
    own = client.get(url, params={"limit": 1, "cursor": cursors[url]}, headers=bearer(admin))
    assert own.status_code == 200
    for other, cursor in cursors.items():
        same_kind = _kind(other) == _kind(url)
        response = client.get(url, params={"limit": 1, "cursor": cursor}, headers=bearer(admin))
        assert response.status_code == (200 if same_kind else 422), (other, response.text)


def _kind(url: str) -> str:
    # The whole trail and one subject's history page through the same records.
    return "audit" if url.startswith("/api/v1/audit") or url.endswith("/history") else url


def test_the_codec_round_trips_and_refuses_other_kinds() -> None:
    cursor = encode_cursor("worklist", 2, "2026-03-01", 2**31 - 1)
    assert decode_cursor("worklist", cursor, int, str, int) == (2, "2026-03-01", 2**31 - 1)
    for kind, shape in (("audit", (int, str, int)), ("worklist", (int, int, int)),
                        ("worklist", (int, str))):
        with pytest.raises(Exception, match="cursor is not one this API returned"):
            decode_cursor(kind, cursor, *shape)
