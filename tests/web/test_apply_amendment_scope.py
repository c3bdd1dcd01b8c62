""""Apply this amendment" to part of a study, as the command's --site and --subject do:
one site of the study (chosen from those the admin sees) or the subject ids listed, with
the same reason and signature; the others stay where they are. A site the study does not
have, an unknown subject or an empty list shows the form again, as typed, moving nobody."""

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
from tests.helpers_subjects import SLE
from tests.helpers_web import OTHER_SITE, OWN_SITE, Seeded, enrol_recent, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in, sign_in_as_person

VERSION = f"/studies/{SLE}/versions/2.0"
APPLY = f"{VERSION}/apply"
PASSWORD = "eleven quiet herons wading"
REASON = "Amendment 1, approved by the ethics committee"
SUBJECTS = ("YC-001", "YC-002", "WT-001", "WT-002")


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    """Two subjects at each SLE site, all re-consented but WT-002."""
    stand_at(client)
    seeded = seed(session)
    enrol_recent(session, "YC-002", site=OWN_SITE, infused_days_ago=20)
    enrol_recent(session, "WT-002", site=OTHER_SITE, infused_days_ago=60)
    load_schedule(session, text=V2, source="ucart-sle-2.0.yaml", actor=SYSTEM)
    for subject_id in ("YC-001", "YC-002", "WT-001"):
        reconsent(session, subject_id, site_today())
    session.flush()
    return seeded


def versions_of(session: Session) -> dict[str, str]:
    session.expire_all()
    return dict(session.execute(
        select(Subject.subject_id, ProtocolVersion.version)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Subject.subject_id.in_(SUBJECTS))).tuples().all())


def amended(session: Session) -> list[AuditRecord]:
    session.expire_all()
    return list(session.scalars(select(AuditRecord).where(
        AuditRecord.action == "subject.amended").order_by(AuditRecord.id)))


def summary_of(html: str) -> str:
    found = re.search(r'id="apply-summary">([^<]*)<', html)
    assert found is not None, html
    return found.group(1)


def test_the_form_offers_the_study_its_sites_or_a_list(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    form = client.get(VERSION).text.split('id="apply"')[1]
    assert re.findall(r'name="scope" value="(\w+)"', form) == ["study", "site", "subjects"]
    # The study's sites only: not the other study's.
    assert re.findall(r'<option value="([^"]+)"', form) == [OTHER_SITE, OWN_SITE]
    assert 'name="subject_ids"' in form


def test_one_site_moves_its_subjects_only_signed_with_the_reason(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in_as_person(client, session, PASSWORD)
    done = post_form(client, VERSION, APPLY, {
        "scope": "site", "site": OTHER_SITE, "subject_ids": "", "reason": REASON,
        "signature_password": PASSWORD})
    assert done.status_code == 200, done.text
    assert summary_of(done.text) == f"{SLE} 2.0: 1 subject(s) moved, 0 already on it, 1 blocked"
    assert f'id="apply-scope">Subjects: those at site {OTHER_SITE}.' in done.text
    assert "blocked WT-002: amendment 1 needs re-consent" in done.text
    assert 'id="moved-WT-001"' in done.text and 'id="moved-YC-001"' not in done.text
    assert versions_of(session) == {"YC-001": "1.1", "YC-002": "1.1", "WT-001": "2.0",
                                    "WT-002": "1.1"}
    [record] = amended(session)
    assert (record.subject_id, record.reason) == ("WT-001", REASON)
    assert record.after is not None
    assert record.after["signature"]["meaning"] == "approved by"
    assert record.after["signature"]["user"] == "ana.admin"
    assert f"3 subjects of {SLE} follow another version." in client.get(VERSION).text


def test_the_subjects_listed_move_and_a_second_list_moves_only_the_new_ones(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    done = post_form(client, VERSION, APPLY, {
        "scope": "subjects", "site": OWN_SITE, "subject_ids": "YC-002, WT-001\nYC-002",
        "reason": REASON})
    assert done.status_code == 200, done.text
    assert summary_of(done.text) == f"{SLE} 2.0: 2 subject(s) moved, 0 already on it, 0 blocked"
    assert 'id="apply-scope">Subjects: those listed, YC-002, WT-001.' in done.text
    assert versions_of(session) == {"YC-001": "1.1", "YC-002": "2.0", "WT-001": "2.0",
                                    "WT-002": "1.1"}
    again = post_form(client, VERSION, APPLY, {
        "scope": "subjects", "subject_ids": "WT-001 YC-001", "reason": REASON})
    assert summary_of(again.text) == f"{SLE} 2.0: 1 subject(s) moved, 1 already on it, 0 blocked"
    assert [r.subject_id for r in amended(session)] == ["YC-002", "WT-001", "YC-001"]
    assert versions_of(session)["YC-001"] == "2.0"


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"scope": "subjects", "subject_ids": "YC-001 NOBODY"}, 404,
     "Subject NOBODY not found in study UCART-SLE"),
    ({"scope": "subjects", "subject_ids": " , "}, 422, "List the ids of the subjects to move"),
    ({"scope": "site", "site": "MM01"}, 422, "Choose one of the study&#39;s sites"),
])
def test_a_wrong_choice_shows_the_form_again_and_moves_nobody(
    client: TestClient, session: Session, seeded: Seeded, data: dict[str, str], status: int,
    message: str,
) -> None:
    sign_in_as_person(client, session, PASSWORD)
    refused = post_form(client, VERSION, APPLY, {
        "reason": REASON, "signature_password": PASSWORD, **data})
    assert refused.status_code == status, refused.text
    assert message in refused.text
    form = refused.text.split('id="apply"')[1]
    assert f'value="{data["scope"]}" checked' in form and REASON in form
    listed = data.get("subject_ids", "").strip()
    assert f'name="subject_ids" rows="2" maxlength="20000">{listed}</textarea>' in form
    assert set(versions_of(session).values()) == {"1.1"}
    assert amended(session) == []


def test_an_unknown_choice_is_refused(client: TestClient, session: Session,
                                      seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    token = csrf_of(client.get("/worklist").text)
    not_allowed = client.post(APPLY, data={"csrf_token": token, "scope": "everyone",
                                           "reason": REASON})
    assert not_allowed.status_code == 403
    sign_in(client, seeded.admin)
    refused = post_form(client, VERSION, APPLY, {"scope": "everyone", "reason": REASON})
    assert refused.status_code == 422
    assert "Choose the whole study, one site or the subjects listed" in refused.text
    assert amended(session) == []
