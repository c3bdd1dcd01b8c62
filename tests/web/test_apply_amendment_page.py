"""Applying an amendment on a version's page: the password asked again with a reason,
every subject on another version moved in the request's transaction (one waiting for its
re-consent skipped and listed), the "approved by" signature in each subject's audit
record, and what each move changed shown as the command line and the API report it.
A wrong password moves nobody; coordinators are not allowed; the form needs its CSRF
token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord, ProtocolVersion, Subject
from app.services.studies import load_schedule
from tests.helpers_amendments import V2, reconsent
from tests.helpers_subjects import NOW, SLE, bearer
from tests.helpers_web import Seeded, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in, sign_in_as_person

VERSION = f"/studies/{SLE}/versions/2.0"
APPLY = f"{VERSION}/apply"
PASSWORD = "seven purple tigers dance"
WRONG = "seven purple tigers sleep"
REASON = "Amendment 1, approved by the ethics committee"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    seeded = seed(session)
    load_schedule(session, text=V2, source="ucart-sle-2.0.yaml", actor=SYSTEM)
    reconsent(session, "YC-001", site_today())  # WT-001 still waits for its re-consent
    session.flush()
    return seeded


def versions_of(session: Session) -> dict[str, str]:
    session.expire_all()
    return dict(session.execute(
        select(Subject.subject_id, ProtocolVersion.version)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Subject.subject_id.in_(["YC-001", "WT-001"]))).tuples().all())


def amended(session: Session) -> list[AuditRecord]:
    session.expire_all()
    return list(session.scalars(select(AuditRecord).where(
        AuditRecord.action == "subject.amended").order_by(AuditRecord.id)))


def test_applying_is_signed_and_shows_what_each_move_changed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in_as_person(client, session, PASSWORD)
    page = client.get(VERSION)
    assert page.status_code == 200, page.text
    form = page.text.split('id="apply"')[1]
    assert f'id="to-move">2 subjects of {SLE} follow another version.' in page.text
    assert "Apply version 2.0</button>" in form and 'value="study" checked' in form
    assert 'name="signature_password"' in form and "approved by" in form
    assert "Dr Ana Admin" in form
    before = client.get(f"/api/v1/studies/{SLE}/subjects/YC-001/amendment-impact?to=2.0",
                        headers=bearer(seeded.admin)).json()

    done = post_form(client, VERSION, APPLY, {"reason": REASON,
                                              "signature_password": PASSWORD})
    assert done.status_code == 200, done.text
    summary = re.search(r'id="apply-summary">([^<]*)<', done.text)
    assert summary is not None
    assert summary.group(1) == f"{SLE} 2.0: 1 subject(s) moved, 0 already on it, 1 blocked"
    assert ("blocked WT-001: amendment 1 needs re-consent to consent version 2.0"
            in done.text)
    section = done.text.split('id="moved-YC-001"')[1]
    shown = re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>([^<]*)</td>", section)
    assert shown == [(v["code"], ", ".join(v["effects"]).replace("_", " "))
                     for v in before["visits"]]
    assert "Dr Ana Admin" in done.text and "approved by" in done.text
    assert versions_of(session) == {"YC-001": "2.0", "WT-001": "1.1"}
    [record] = amended(session)
    assert record.subject_id == "YC-001" and record.reason == REASON
    assert record.after is not None and record.after["version"] == "2.0"
    assert record.after["signature"] == {
        "meaning": "approved by", "printed_name": "Dr Ana Admin", "user": "ana.admin",
        "signed_at": NOW.isoformat()}
    assert (record.user_name, record.user_display_name) == ("ana.admin", "Dr Ana Admin")

    # Once WT-001 re-consents, only it is left to move; then nothing is.
    reconsent(session, "WT-001", site_today())
    session.flush()
    assert f"1 subject of {SLE} follows another version." in client.get(VERSION).text
    post_form(client, VERSION, APPLY, {"reason": REASON, "signature_password": PASSWORD})
    page = client.get(VERSION).text
    assert "already follows version 2.0: nothing to apply" in page
    assert f'action="{APPLY}"' not in page
    again = post_form(client, VERSION, APPLY, {"reason": REASON,
                                               "signature_password": PASSWORD})
    assert again.status_code == 200
    assert "0 subject(s) moved, 2 already on it, 0 blocked" in again.text
    assert ("Nothing to apply: every subject chosen already follows version 2.0."
            in again.text)
    assert 'id="apply-scope">Subjects: the whole study.' in again.text
    assert len(amended(session)) == 2


def test_a_wrong_password_or_no_reason_moves_nobody(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in_as_person(client, session, PASSWORD)
    wrong = post_form(client, VERSION, APPLY, {"reason": REASON,
                                               "signature_password": WRONG})
    assert wrong.status_code == 422, wrong.text
    assert "That password is not right: nothing was signed or saved" in wrong.text
    assert REASON in wrong.text and WRONG not in wrong.text
    no_reason = post_form(client, VERSION, APPLY, {"reason": " ",
                                                   "signature_password": PASSWORD})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
    assert versions_of(session) == {"YC-001": "1.1", "WT-001": "1.1"}
    assert amended(session) == []


def test_an_older_version_is_not_applied_from_the_pages(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    post_form(client, f"/studies/{SLE}/versions", f"/studies/{SLE}/versions/2.0/activate", {})
    older = f"/studies/{SLE}/versions/1.1"
    page = client.get(older).text
    assert "older than the active version 2.0" in page and f'action="{older}/apply"' not in page
    refused = post_form(client, older, f"{older}/apply", {"reason": REASON})
    assert refused.status_code == 409 and "not moved back" in refused.text
    assert amended(session) == []


def test_a_token_session_applies_unsigned(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    form = client.get(VERSION).text.split('id="apply"')[1]
    assert 'name="signature_password"' not in form and "cannot be signed" in form
    done = post_form(client, VERSION, APPLY, {"reason": REASON})
    assert done.status_code == 200 and "1 subject(s) moved" in done.text
    [record] = amended(session)
    assert record.after is not None and "signature" not in record.after
    assert record.token_name == "web-admin"


def test_coordinators_may_not_apply_and_the_form_needs_its_csrf_token(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    token = csrf_of(client.get("/worklist").text)
    refused = client.post(APPLY, data={"csrf_token": token, "reason": REASON})
    assert refused.status_code == 403
    sign_in(client, seeded.admin)
    expired = client.post(APPLY, data={"reason": REASON})
    assert expired.status_code == 403 and "Form expired" in expired.text
    assert amended(session) == []
