"""Sites on the pages, for an admin: created, changed (name, time zone, digest time) with
the values before and after audited, linked to a study; refusals shown on the form with
the service's message; not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Site
from tests.helpers_subjects import MM, SLE, bearer
from tests.helpers_web import OWN_SITE, Seeded, seed, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

SITES = "/admin/sites"
NEW = {"code": "PUMCH", "name": "Peking Union", "time_zone": "Asia/Shanghai",
       "digest_time": "06:30"}


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def site_row(session: Session, code: str) -> tuple[str, str, str]:
    session.flush()
    site = session.scalars(select(Site).where(Site.code == code)).one()
    session.refresh(site)
    return site.name, site.time_zone, site.digest_time


def test_an_admin_creates_changes_and_links_a_site(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    assert 'href="/admin/sites"' in client.get("/worklist").text
    made = post_form(client, SITES, SITES, NEW)
    assert made.headers["location"] == f"{SITES}?notice=site-created&site=PUMCH"
    assert "Site PUMCH created." in client.get(made.headers["location"]).text
    assert site_row(session, "PUMCH") == ("Peking Union", "Asia/Shanghai", "06:30")
    changed = post_form(client, SITES, f"{SITES}/PUMCH", {
        "name": "Peking Union Hospital", "time_zone": "Asia/Urumqi", "digest_time": "08:00"})
    assert changed.headers["location"] == f"{SITES}?notice=site-updated&site=PUMCH"
    assert site_row(session, "PUMCH") == ("Peking Union Hospital", "Asia/Urumqi", "08:00")
    same = post_form(client, SITES, f"{SITES}/PUMCH", {
        "name": "Peking Union Hospital", "time_zone": "Asia/Urumqi", "digest_time": "08:00"})
    assert same.headers["location"] == f"{SITES}?notice=site-unchanged&site=PUMCH"
    linked = post_form(client, SITES, f"{SITES}/PUMCH/studies", {"study": SLE})
    assert linked.headers["location"] == f"{SITES}?notice=site-linked&site=PUMCH"
    again = post_form(client, SITES, f"{SITES}/PUMCH/studies", {"study": SLE})
    assert again.headers["location"] == f"{SITES}?notice=site-already-linked&site=PUMCH"
    api = client.get("/api/v1/sites/PUMCH", headers=bearer(seeded.admin)).json()
    assert (api["time_zone"], api["digest_time"], api["studies"]) == (
        "Asia/Urumqi", "08:00", [SLE])
    session.flush()
    records = session.execute(select(AuditRecord.action, AuditRecord.before, AuditRecord.after)
                              .where(AuditRecord.entity == "site", AuditRecord.site_code == "PUMCH")
                              .order_by(AuditRecord.id)).all()
    assert [r.action for r in records] == ["site.created", "site.updated", "site.linked"]
    assert records[1].before == {"name": "Peking Union", "time_zone": "Asia/Shanghai",
                                 "digest_time": "06:30"}


def test_refusals_are_shown_on_the_form(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    zone = post_form(client, SITES, SITES, NEW | {"time_zone": "Mars/Olympus"})
    assert zone.status_code == 422
    assert "is not an IANA time zone" in zone.text and 'value="PUMCH"' in zone.text
    taken = post_form(client, SITES, SITES, NEW | {"code": OWN_SITE})
    assert taken.status_code == 409 and f"site {OWN_SITE} already exists" in taken.text
    hour = post_form(client, SITES, f"{SITES}/{OWN_SITE}", {
        "name": "Yancheng", "time_zone": "Asia/Shanghai", "digest_time": "25:00"})
    assert hour.status_code == 422 and "is not a time of day" in hour.text
    assert 'id="site-error"' in hour.text.split(f'id="edit-{OWN_SITE}"')[1].split("</section>")[0]
    unknown = post_form(client, SITES, f"{SITES}/{OWN_SITE}/studies", {"study": "NOPE"})
    assert unknown.status_code == 404
    assert session.scalars(select(Site).where(Site.code == "PUMCH")).first() is None
    assert site_row(session, OWN_SITE)[2] == "07:00"


def test_only_an_admin_sees_or_changes_sites(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    assert 'href="/admin/sites"' not in client.get("/worklist").text
    assert client.get(SITES).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    assert client.post(SITES, data={"csrf_token": token, **NEW}).status_code == 403
    change = client.post(f"{SITES}/{OWN_SITE}", data={
        "csrf_token": token, "name": "x", "time_zone": "UTC", "digest_time": "01:00"})
    assert change.status_code == 403
    link = client.post(f"{SITES}/{OWN_SITE}/studies", data={"csrf_token": token, "study": MM})
    assert link.status_code == 403
    assert site_row(session, OWN_SITE)[1] == "Asia/Shanghai"


def test_the_forms_need_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(SITES, data=NEW)
    assert response.status_code == 403 and "Form expired" in response.text
