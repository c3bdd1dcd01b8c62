"""A visit completed through a person's own API token names that person in the audit
trail, on the completion's fast path as on every other change."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord
from app.services.accounts.personal_tokens import create_personal_token
from app.services.accounts.signin import check_password_sign_in
from tests.helpers_subjects import NOW, SLE, bearer, enrol_sle, load_seed_studies, stand_at
from tests.integration.test_accounts import make_person


def test_a_completion_through_a_personal_token_names_the_person(
    client: TestClient, session: Session
) -> None:
    load_seed_studies(session)
    enrol_sle(session)
    make_person(session)
    person = check_password_sign_in(session, username="li.wei",
                                    password="seven purple tigers dance", address=None,
                                    now=NOW).actor
    token = create_personal_token(session, actor=person, label="laptop", now=NOW)
    session.commit()
    stand_at(client, NOW)
    done = client.post(f"/api/v1/studies/{SLE}/subjects/S-001/visits/D14/completion",
                       json={"actual_date": "2026-02-15"}, headers=bearer(token.secret))
    assert done.status_code == 201, done.text
    session.expire_all()
    record = session.scalars(select(AuditRecord).where(
        AuditRecord.entity == "visit", AuditRecord.key == "D14")).one()
    assert (record.actor, record.user_name, record.user_display_name, record.token_name) == (
        "li.wei.laptop", "li.wei", "Dr Li Wei", "li.wei.laptop")
