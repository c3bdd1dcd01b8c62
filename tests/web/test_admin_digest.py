"""A site's digest on the pages, for an admin: recipients added (all studies or one) and
removed, refusals on the form; tomorrow's digest previewed as the API builds it; not
allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, DigestRecipient
from tests.helpers_subjects import MM, SLE, bearer
from tests.helpers_web import OWN_SITE, Seeded, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

DIGEST = f"/admin/sites/{OWN_SITE}/digest"
RECIPIENTS = DIGEST + "/recipients"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def recipients(session: Session) -> list[tuple[str, str | None]]:
    session.flush()
    return [(r.email, r.study_code) for r in session.scalars(
        select(DigestRecipient).order_by(DigestRecipient.email, DigestRecipient.study_code))]


def test_an_admin_adds_and_removes_recipients(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    assert f'href="{DIGEST}"' in client.get("/admin/sites").text
    added = post_form(client, DIGEST, RECIPIENTS, {"email": "Ana@Site.CN", "study": ""})
    assert added.headers["location"] == DIGEST + "?notice=recipient-added"
    post_form(client, DIGEST, RECIPIENTS, {"email": "ben@site.cn", "study": SLE})
    assert recipients(session) == [("Ana@site.cn", None), ("ben@site.cn", SLE)]
    page = client.get(DIGEST)
    assert "<td>Ana@site.cn</td><td>all</td>" in page.text
    assert f"<td>ben@site.cn</td><td>{SLE}</td>" in page.text
    removed = post_form(client, DIGEST, RECIPIENTS + "/remove",
                        {"email": "ben@site.cn", "study": SLE})
    assert removed.headers["location"] == DIGEST + "?notice=recipient-removed"
    assert recipients(session) == [("Ana@site.cn", None)]
    actions = list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.entity == "digest_recipient").order_by(AuditRecord.id)))
    assert actions == ["digest.recipient_added", "digest.recipient_added",
                       "digest.recipient_removed"]


def test_refusals_are_shown_on_the_form(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    bad = post_form(client, DIGEST, RECIPIENTS, {"email": "not an address", "study": ""})
    assert bad.status_code == 422 and "invalid email address" in bad.text
    assert 'value="not an address"' in bad.text
    other = post_form(client, DIGEST, RECIPIENTS, {"email": "ana@site.cn", "study": MM})
    assert other.status_code == 422
    assert f"study {MM} does not run at site {OWN_SITE}" in other.text
    post_form(client, DIGEST, RECIPIENTS, {"email": "ana@site.cn", "study": ""})
    again = post_form(client, DIGEST, RECIPIENTS, {"email": "ana@site.cn", "study": ""})
    assert again.status_code == 409 and "already receives" in again.text
    gone = post_form(client, DIGEST, RECIPIENTS + "/remove", {"email": "zed@site.cn",
                                                              "study": ""})
    assert gone.status_code == 404
    assert recipients(session) == [("ana@site.cn", None)]


def test_the_preview_is_tomorrows_digest(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    tomorrow = site_today() + timedelta(days=1)
    api = client.get(f"/api/v1/sites/{OWN_SITE}/digest?date={tomorrow.isoformat()}",
                     headers=bearer(seeded.admin)).json()
    assert api["overdue"], "the seeded subject has overdue visits"
    page = client.get(DIGEST)
    assert f'<strong id="digest-subject">{html.escape(api["subject"])}</strong>' in page.text
    body = html.unescape(page.text.split('id="digest-body"')[1].split("</pre>")[0])
    for row in api["overdue"]:
        assert row["subject_id"] in body and row["visit_code"] in body


def test_only_an_admin_sees_or_changes_the_digest(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    assert client.get(DIGEST).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    add = client.post(RECIPIENTS, data={"csrf_token": token, "email": "a@b.cn", "study": ""})
    assert add.status_code == 403
    assert recipients(session) == []


def test_the_forms_need_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(RECIPIENTS, data={"email": "a@b.cn", "study": ""})
    assert response.status_code == 403 and "Form expired" in response.text
