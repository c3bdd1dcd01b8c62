"""The record page of a visit the protocol gives no window (``window: none``): any date
is saved at once, never asked to be confirmed as a deviation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import Visit
from app.services.studies import load_schedule
from tests.api.test_no_window import ECG, STUDY
from tests.helpers_subjects import NOW, bearer, enrolment_body, make_token, seed_text, stand_at
from tests.web.helpers import post_form, sign_in

SUBJECT = f"/studies/{STUDY}/subjects/S-001"


@pytest.fixture
def signed_in(client: TestClient, session: Session) -> None:
    """S-001 infused 1 Feb 2026 (ECG due 4..14 Feb), a YC3H coordinator signed in on
    1 March."""
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", f"code: {STUDY}")
    load_schedule(session, text=text.replace("  - code: D14\n", ECG + "  - code: D14\n", 1),
                  source="ecg-sle.yaml", actor=SYSTEM)
    stand_at(client, NOW)
    edc = bearer(make_token(session, "edc", studies=[STUDY]))
    coordinator = make_token(session, "coordinator", ["YC3H"])
    session.commit()
    enrolled = client.post(f"/api/v1/studies/{STUDY}/subjects", json=enrolment_body(),
                           headers=edc)
    assert enrolled.status_code == 201, enrolled.text
    sign_in(client, coordinator)


def _row(session: Session, code: str) -> Visit:
    session.expire_all()
    return session.scalars(select(Visit).where(Visit.code == code)).one()


def test_a_late_date_is_saved_without_asking(
    client: TestClient, session: Session, signed_in: None
) -> None:
    page = client.get(f"{SUBJECT}/visits/ECG/record").text
    assert 'data-window-start="" data-window-end=""' in page  # the script warns of nothing
    url = f"{SUBJECT}/visits/ECG/record"
    saved = post_form(client, url, url, {"actual_date": "2026-02-25"})
    assert saved.status_code == 303, saved.text
    row = _row(session, "ECG")
    assert (row.state, row.graded, row.actual_date.isoformat() if row.actual_date else None) == (
        "completed", False, "2026-02-25")
    # A graded visit on the same date is still asked about.
    url = f"{SUBJECT}/visits/D14/record"
    asked = post_form(client, url, url, {"actual_date": "2026-02-25"})
    assert asked.status_code == 200 and "Out of window" in asked.text
    assert _row(session, "D14").state == "planned"


def test_the_study_page_says_the_visit_has_no_window(
    client: TestClient, signed_in: None
) -> None:
    page = client.get(f"/studies/{STUDY}")
    assert page.status_code == 200, page.text
    row = page.text[page.text.index(">ECG<"):]
    assert row[:row.index("</tr>")].count("<td>none</td>") == 1
