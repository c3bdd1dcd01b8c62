"""A study's protocol versions on the pages, for an admin: listed with the active one,
loaded from pasted text or an uploaded file through the API's checks (every problem shown
by line and column, nothing loaded), activated, and a version's diff and per-subject
impact; not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditRecord, ProtocolVersion
from tests.helpers_amendments import V2
from tests.helpers_subjects import MM, SLE, bearer, seed_text
from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

VERSIONS = f"/studies/{SLE}/versions"
BROKEN = V2.replace("at: day 84", "at: 84 dayz").replace("window: 3 days", "window: -3 days")


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def state_of(page: str, version: str) -> str:
    found = re.search(rf'id="state-{re.escape(version)}">([a-z]+)<', page)
    assert found is not None, f"version {version} is listed"
    return found.group(1)


def test_an_admin_loads_a_pasted_version_then_activates_it(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    study = client.get(f"/studies/{SLE}")
    assert f'href="{VERSIONS}"' in study.text
    listed = client.get(VERSIONS)
    assert state_of(listed.text, "1.1") == "active" and 'id="state-2.0"' not in listed.text
    loaded = post_form(client, VERSIONS, VERSIONS, {"text": V2.replace("\n", "\r\n")})
    assert loaded.status_code == 303, loaded.text
    page = client.get(loaded.headers["location"])
    assert "Version 2.0 loaded; it is not active until activated." in page.text
    assert state_of(page.text, "1.1") == "active" and state_of(page.text, "2.0") == "loaded"
    # The browser's CRLF line ends are a file's LF: loading the file again changes nothing.
    again = post_form(client, VERSIONS, VERSIONS, {"text": V2})
    assert "nothing changed" in client.get(again.headers["location"]).text
    activated = post_form(client, VERSIONS, f"{VERSIONS}/2.0/activate", {})
    page = client.get(activated.headers["location"])
    assert "Version 2.0 is active: new subjects are enrolled on it." in page.text
    assert state_of(page.text, "1.1") == "loaded" and state_of(page.text, "2.0") == "active"
    api = client.get(f"/api/v1/studies/{SLE}", headers=bearer(seeded.admin)).json()
    assert [(v["version"], v["active"]) for v in api["versions"]] == [
        ("1.1", False), ("2.0", True)]
    session.flush()
    actions = list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.entity == "protocol", AuditRecord.key == "2.0",
        AuditRecord.actor == "web-admin").order_by(AuditRecord.id)))
    assert actions == ["protocol.loaded", "protocol.activated"]


def test_an_uploaded_file_is_loaded_under_its_name(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    token = csrf_of(client.get(VERSIONS).text)
    response = client.post(VERSIONS, data={"csrf_token": token, "text": ""},
                           files={"file": ("ucart-sle-2.0.yaml", V2.encode(), "text/yaml")},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    session.flush()
    assert session.scalars(select(ProtocolVersion.source_name).where(
        ProtocolVersion.version == "2.0")).one() == "ucart-sle-2.0.yaml"


def test_every_problem_is_shown_by_line_and_column_and_nothing_is_loaded(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    before = session.scalar(select(func.count(ProtocolVersion.id)))
    refused = post_form(client, VERSIONS, VERSIONS, {"text": BROKEN})
    assert refused.status_code == 422
    assert "The file has problems: nothing was loaded." in refused.text
    items = re.findall(r"<li><strong>Line (\d+), column (\d+)</strong> · <code>([^<]*)</code>: "
                       r"([^<]*)</li>", refused.text)
    assert len(items) >= 2
    lines = BROKEN.splitlines()
    at = next(i for i in items if i[2].endswith(".at"))
    assert lines[int(at[0]) - 1].strip() == "at: 84 dayz" and at[1] == "9"
    assert "is not a duration" in html.unescape(at[3])
    window = next(i for i in items if ".window" in i[2])
    assert "-3 days" in lines[int(window[0]) - 1]
    # The text typed comes back, to be corrected.
    assert html.escape("at: 84 dayz") in refused.text
    other = post_form(client, VERSIONS, VERSIONS, {"text": seed_text("cart-allo-hsct-rrmm.yaml")})
    assert other.status_code == 422
    assert f"the file is a protocol of study {MM}, not {SLE}" in other.text
    empty = post_form(client, VERSIONS, VERSIONS, {"text": "  "})
    assert empty.status_code == 422 and "paste the schedule" in empty.text
    changed = post_form(client, VERSIONS, VERSIONS,
                        {"text": seed_text("ucart-sle.yaml") + "\n# changed\n"})
    assert changed.status_code == 409 and "already loaded with other content" in changed.text
    assert session.scalar(select(func.count(ProtocolVersion.id))) == before


def test_a_versions_page_shows_the_diff_and_each_subjects_impact(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    post_form(client, VERSIONS, VERSIONS, {"text": V2})
    page = client.get(f"{VERSIONS}/2.0")
    assert page.status_code == 200, page.text
    assert "What it changes from version 1.1" in page.text
    diff = client.get(f"/api/v1/studies/{SLE}/versions/2.0/diff?from=1.1",
                      headers=bearer(seeded.admin)).json()
    assert diff["changes"]
    table = page.text.split('id="changes"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>[^<]*</td><td><strong>([^<]*)</strong>", table)
    assert rows == [c["code"] for c in diff["changes"]]
    for subject in (seeded.own_subject, seeded.other_subject):
        section = page.text.split(f'id="impact-{subject}"')[1].split("<h3")[0]
        impact = client.get(f"/api/v1/studies/{SLE}/subjects/{subject}/amendment-impact?to=2.0",
                            headers=bearer(seeded.admin)).json()
        assert impact["visits"] and impact["blocked"]
        shown = re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>([^<]*)</td>", section)
        assert shown == [(v["code"], ", ".join(v["effects"]).replace("_", " "))
                         for v in impact["visits"]]
        assert html.escape(impact["blocked"][1:]) in section
        endpoints = re.findall(r'<li class="endpoint"><strong>([^<]*)</strong>', section)
        assert endpoints == [html.escape(e["code"]) for e in impact["endpoints"]]
    back = client.get(f"{VERSIONS}/1.1?from=2.0")
    assert "What it changes from version 2.0" in back.text
    assert 'id="impact-YC-001"' in back.text and "Already on this version." in back.text
    assert client.get(f"{VERSIONS}/9.9").status_code == 404


def test_only_an_admin_sees_or_changes_versions(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    assert f'href="{VERSIONS}"' not in client.get(f"/studies/{SLE}").text
    assert client.get(VERSIONS).status_code == 403
    assert client.get(f"{VERSIONS}/1.1").status_code == 403
    token = csrf_of(client.get("/worklist").text)
    assert client.post(VERSIONS, data={"csrf_token": token, "text": V2}).status_code == 403
    activate = client.post(f"{VERSIONS}/1.1/activate", data={"csrf_token": token})
    assert activate.status_code == 403
    session.flush()
    assert session.scalars(select(ProtocolVersion).where(
        ProtocolVersion.version == "2.0")).first() is None


def test_the_forms_need_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(VERSIONS, data={"text": V2})
    assert response.status_code == 403 and "Form expired" in response.text
    activate = client.post(f"{VERSIONS}/1.1/activate", data={})
    assert activate.status_code == 403 and "Form expired" in activate.text
