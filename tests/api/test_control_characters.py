"""Control characters in text the API takes: a 422 naming the field, never a 500.

A NUL in a site name, a note or a filter used to reach the database: PostgreSQL
refuses it (a 500), SQLite stored it. Every text input now refuses C0 controls and
DEL; notes and reasons still take tabs and line breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.schedule.text import MULTI_LINE_PATTERN, ONE_LINE_PATTERN
from app.settings import Settings
from tests.helpers_subjects import (
    NOW,
    SLE,
    assert_problem,
    bearer,
    enrolment_body,
    load_seed_studies,
    make_token,
    stand_at,
)

SUBJECT = f"/api/v1/studies/{SLE}/subjects/S-001"
CONTROLS = {"nul": "\x00", "esc": "\x1b", "del": "\x7f"}

# Every text input of the API: (error location, method, path, query, body). "{c}" in a
# value stands for the control character; the rest of the request is valid.
INPUTS: list[tuple[str, str, str, dict[str, str] | None, Any]] = [
    ("body.name", "POST", "/api/v1/sites", None,
     {"code": "SH02", "name": "Renji{c}Hospital", "time_zone": "Asia/Shanghai"}),
    ("body.name", "PATCH", "/api/v1/sites/YC3H", None, {"name": "Yancheng{c}Hospital"}),
    ("body.reason", "PUT", f"{SUBJECT}/anchors/infusion", None,
     {"date": "2026-02-03", "actual": True, "reason": "postponed{c}by two days"}),
    ("body.note", "POST", f"{SUBJECT}/events", None,
     {"type": "response", "date": "2026-02-20", "value": "DORIS", "note": "per{c}report"}),
    ("body.note", "PATCH", f"{SUBJECT}/events/1", None,
     {"note": "per{c}report", "reason": "typo"}),
    ("body.reason", "PATCH", f"{SUBJECT}/events/1", None,
     {"date": "2026-02-20", "reason": "typo{c}"}),
    ("query.reason", "DELETE", f"{SUBJECT}/events/1", {"reason": "wrong{c}subject"}, None),
    ("body.note", "POST", f"{SUBJECT}/visits/D14/completion", None,
     {"actual_date": "2026-02-16", "note": "seen by{c}Dr Li"}),
    ("body.reason", "POST", f"{SUBJECT}/visits/D14/completion", None,
     {"actual_date": "2026-02-16", "correction": True, "reason": "mistyped{c}"}),
    ("body.reason", "POST", f"{SUBJECT}/visits/D14/missed", None,
     {"reason": "hospitalised{c}elsewhere"}),
    ("body.name", "POST", f"{SUBJECT}/visits", None,
     {"date": "2026-02-20", "name": "Lupus{c}flare"}),
    ("body.note", "POST", f"{SUBJECT}/visits", None, {"date": "2026-02-20", "note": "flare{c}"}),
    ("body.email", "POST", "/api/v1/sites/YC3H/recipients", None,
     {"email": "crc{c}@hospital.example"}),
    ("body.subject_id", "POST", f"/api/v1/studies/{SLE}/subjects", None,
     enrolment_body("S{c}002")),
    ("body.0.site", "POST", f"/api/v1/studies/{SLE}/subjects:batch", None,
     [enrolment_body("S-002", site="YC3H{c}")]),
    ("body.name", "POST", "/api/v1/tokens", None, {"role": "admin", "name": "root{c}2"}),
    ("body.display_name", "POST", "/api/v1/users", None,
     {"username": "li.wei", "display_name": "Dr{c}Li Wei", "role": "admin"}),
    ("body.email", "POST", "/api/v1/users", None,
     {"username": "li.wei", "display_name": "Dr Li Wei", "role": "admin",
      "email": "li{c}@hospital.example"}),
    ("body.display_name", "PATCH", "/api/v1/users/li.wei", None, {"display_name": "Dr{c}Li"}),
    ("body.email", "PATCH", "/api/v1/users/li.wei", None, {"email": "li{c}@hospital.example"}),
    ("body.text", "POST", f"/api/v1/studies/{SLE}/versions", None, {"text": "study:{c}"}),
    ("body.source", "POST", f"/api/v1/studies/{SLE}/versions", None,
     {"text": "study: {}", "source": "v2{c}.yaml"}),
    ("body.version", "POST", f"{SUBJECT}/protocol-version", None,
     {"version": "1.1{c}", "reason": "amendment 1"}),
    ("body.reason", "POST", f"{SUBJECT}/protocol-version", None,
     {"version": "1.1", "reason": "amendment{c}1"}),
    ("query.actor", "GET", "/api/v1/audit", {"actor": "root{c}"}, None),
    ("query.study", "GET", "/api/v1/audit", {"study": "UCART{c}SLE"}, None),
    ("query.cursor", "GET", "/api/v1/audit", {"cursor": "bm9wZQ{c}"}, None),
    ("query.cursor", "GET", f"{SUBJECT}/history", {"cursor": "bm9wZQ{c}"}, None),
    ("query.cursor", "GET", f"/api/v1/studies/{SLE}/subjects", {"cursor": "bm9wZQ{c}"}, None),
    ("query.site", "GET", f"/api/v1/studies/{SLE}/subjects", {"site": "YC3H{c}"}, None),
    ("query.cursor", "GET", "/api/v1/visits", {"cursor": "bm9wZQ{c}"}, None),
    ("query.site.0", "GET", "/api/v1/visits", {"site": "YC3H{c}"}, None),
    ("query.study.0", "GET", "/api/v1/visits/summary", {"study": "{c}"}, None),
    ("query.study", "DELETE", "/api/v1/sites/YC3H/recipients/crc@hospital.example",
     {"study": "UCART{c}SLE"}, None),
    ("path.email", "DELETE", "/api/v1/sites/YC3H/recipients/crc{c}@hospital.example", None,
     None),
    ("path.site", "GET", "/api/v1/sites/YC3H{c}", None, None),
    ("path.subject_id", "GET", f"/api/v1/studies/{SLE}/subjects/S-001{{c}}", None, None),
    ("path.name", "GET", "/api/v1/tokens/root{c}", None, None),
]


def _fill(value: Any, char: str) -> Any:
    if isinstance(value, str):
        return value.replace("{c}", char)
    if isinstance(value, list):
        return [_fill(v, char) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, char) for k, v in value.items()}
    return value


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    """An admin token, and S-001 at YC3H (so every request but its one field is valid)."""
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "admin", name="root"))
    session.commit()
    enrolled = client.post(f"/api/v1/studies/{SLE}/subjects", json=enrolment_body(),
                           headers=token)
    assert enrolled.status_code == 201, enrolled.text
    return token


@pytest.mark.parametrize("char", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize(("location", "method", "path", "query", "body"), INPUTS,
                         ids=[f"{i[1]} {i[2]} {i[0]}" for i in INPUTS])
def test_a_control_character_in_any_text_input_is_a_422(
    client: TestClient, admin: dict[str, str], char: str, location: str, method: str,
    path: str, query: dict[str, str] | None, body: Any,
) -> None:
    # The path is sent percent-encoded, as a client would (a raw NUL is no valid URL).
    url = quote(_fill(path, char), safe="/@:")
    response = client.request(method, url, params=_fill(query, char), json=_fill(body, char),
                              headers=admin)
    problem = assert_problem(response, 422, "validation-error")
    assert [e["location"] for e in problem["errors"]] == [location]
    if location != "body.email":  # the address parser words its own messages
        code = f"U+{ord(char):04X}"
        assert f"contains a control character ({code}" in problem["errors"][0]["message"]


@pytest.mark.parametrize("note", ["two\nlines", "two\r\nlines", "a\ttab"])
def test_notes_and_reasons_keep_tabs_and_line_breaks(
    client: TestClient, admin: dict[str, str], note: str
) -> None:
    missed = client.post(f"{SUBJECT}/visits/D14/missed", json={"reason": note}, headers=admin)
    assert missed.status_code == 201, missed.text
    assert missed.json()["reason"] == note


@pytest.mark.parametrize("text", ["two\nlines", "a\ttab", "lone\rreturn"])
def test_a_line_break_or_tab_is_refused_in_one_line_text(
    client: TestClient, admin: dict[str, str], text: str
) -> None:
    renamed = client.patch("/api/v1/sites/YC3H", json={"name": text}, headers=admin)
    assert_problem(renamed, 422, "validation-error")
    missed = client.post(f"{SUBJECT}/visits/D14/missed", json={"reason": text}, headers=admin)
    assert (missed.status_code == 422) == ("\r" in text), missed.text


# --- the document: every string input refuses them, and each is exercised above ---------


def _strings(schema: dict[str, Any], parts: dict[str, Any], where: str) -> Iterator[
        tuple[str, dict[str, Any]]]:
    if "$ref" in schema:
        yield from _strings(parts[schema["$ref"].rsplit("/", 1)[1]], parts, where)
        return
    for option in schema.get("anyOf", []):
        yield from _strings(option, parts, where)
    if schema.get("type") == "string":
        yield where, schema
    if schema.get("type") == "array":
        yield from _strings(schema["items"], parts, f"{where}.0")
    for name, field in schema.get("properties", {}).items():
        yield from _strings(field, parts, f"{where}.{name}")


def _inputs(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, location, schema) of every string a request may carry."""
    parts = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    continue  # Idempotency-Key: printable ASCII, refused by the service
                where = f"{parameter['in']}.{parameter['name']}"
                for location, schema in _strings(parameter["schema"], parts, where):
                    yield method.upper(), path, location, schema
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for location, schema in _strings(content["application/json"]["schema"],
                                                 parts, "body"):
                    yield method.upper(), path, location, schema


DOCUMENT = create_app(Settings(database_url="sqlite://", secret_key="test-secret")).openapi()
FREE_TEXT = (ONE_LINE_PATTERN, MULTI_LINE_PATTERN)


def _template(path: str) -> str:
    """The path of the document a concrete request path is an instance of."""
    path = path.replace("{c}", "x")
    (found,) = [t for t in DOCUMENT["paths"]
                if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)]
    return found


def test_every_string_input_of_the_document_refuses_control_characters() -> None:
    free = set()
    for method, path, location, schema in _inputs(DOCUMENT):
        if "enum" in schema:
            continue
        if schema.get("format") == "email" or schema.get("pattern") in FREE_TEXT:
            free.add((method, path, location))
        if schema.get("format") == "email":
            continue  # the address parser refuses them (exercised above)
        assert "pattern" in schema, f"{method} {path} {location} takes any text"
        pattern = re.compile(schema["pattern"])
        for char in [*CONTROLS.values(), "\x01", "\x1f"]:
            assert not pattern.search(f"A{char}B"), f"{method} {path} {location}"
        if schema["pattern"] != MULTI_LINE_PATTERN:
            assert not pattern.search("A\nB"), f"{method} {path} {location}"
    # Each free-text input (not a code, an enum or a date) is sent a control character.
    exercised = {(method, _template(path), location) for location, method, path, *_ in INPUTS}
    assert free - exercised == set()
