"""Over the API nothing is signed with a password: the bearer's identity (the token and,
for a personal token, the person) and the reason stand for the signature."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord
from app.services.accounts.personal_tokens import create_personal_token
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import create_user
from tests.helpers_subjects import NOW, SLE, bearer
from tests.helpers_web import OWN_SITE, seed, stand_at


def test_a_missed_visit_over_the_api_names_the_person_and_the_reason_unsigned(
    client: TestClient, session: Session
) -> None:
    stand_at(client)
    seed(session)
    one_time = create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                           role="coordinator", sites=[OWN_SITE], now=NOW).password
    person = check_password_sign_in(session, username="li.wei", password=one_time,
                                    address=None, now=NOW).actor
    token = create_personal_token(session, actor=person, label="laptop", now=NOW)
    response = client.post(f"/api/v1/studies/{SLE}/subjects/YC-001/visits/D14/missed",
                           json={"reason": "in hospital elsewhere"},
                           headers=bearer(token.secret))
    assert response.status_code in (200, 201), response.text
    session.expire_all()
    record = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "visit.missed", AuditRecord.subject_id == "YC-001")).one()
    assert (record.user_name, record.user_display_name, record.token_name, record.reason) == (
        "li.wei", "Dr Li Wei", "li.wei.laptop", "in hospital elsewhere")
    assert record.after is not None and "signature" not in record.after
