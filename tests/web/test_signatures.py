"""Electronic signatures on the pages: a correction, a missed visit (one or many from the
worklist), a death, a withdrawal and a screen failure ask a person signed in with their
password for it again; a wrong one writes nothing (and counts as a failed sign-in); the
audit record of the change holds the meaning, the printed name and the time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord, SignInThrottle, Subject, Visit
from app.schedule.lifecycle import EventType
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from app.services.subjects.events import record_event
from tests.helpers_subjects import EDC, NOW, SLE, enrol_sle
from tests.helpers_web import OWN_SITE, Seeded, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

SUBJECT = f"/studies/{SLE}/subjects/YC-001"
PASSWORD = "seven purple tigers dance"
WRONG = "seven purple tigers sleep"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    one_time = create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                           role="coordinator", sites=[OWN_SITE], now=NOW).password
    person = check_password_sign_in(session, username="li.wei", password=one_time,
                                    address=None, now=NOW).actor
    change_password(session, actor=person, current=one_time, new=PASSWORD, now=NOW)
    page = client.get("/signin")
    signed_in = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                             "username": "li.wei", "password": PASSWORD},
                            follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/worklist"
    return seeded


def visit(session: Session, code: str) -> Visit:
    session.expire_all()
    return session.scalars(
        select(Visit).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == "YC-001", Visit.code == code)).one()


def records(session: Session, action: str) -> list[AuditRecord]:
    session.expire_all()
    return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                                .order_by(AuditRecord.id)))


def failures(session: Session) -> int:
    session.expire_all()
    row = session.scalars(select(SignInThrottle)
                          .where(SignInThrottle.key == "user:li.wei")).first()
    return 0 if row is None else row.failures


def signed_by_li_wei(meaning: str) -> dict[str, str]:
    return {"meaning": meaning, "printed_name": "Dr Li Wei", "user": "li.wei",
            "signed_at": NOW.isoformat()}


def assert_refused_keeping(response: Response, message: str, *typed: str) -> None:
    assert response.status_code == 422, response.text
    assert message in response.text
    for text in typed:
        assert text in response.text
    assert PASSWORD not in response.text and WRONG not in response.text


def test_a_correction_is_signed_with_the_password(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    url = f"{SUBJECT}/visits/D28/record"
    row = visit(session, "D28")
    assert row.window_start is not None and row.window_end is not None
    first = client.get(url).text
    assert 'name="signature_password"' not in first  # recording the first time: not signed
    assert post_form(client, url, url, {"actual_date": row.window_end.isoformat()}
                     ).status_code == 303
    form = client.get(url).text
    assert 'name="signature_password"' in form and "corrected by" in form
    assert "Dr Li Wei" in form

    corrected = {"actual_date": row.window_start.isoformat(), "reason": "date mistyped"}
    wrong = post_form(client, url, url, corrected | {"signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right", "date mistyped",
                           row.window_start.isoformat())
    missing = post_form(client, url, url, corrected)
    assert_refused_keeping(missing, "Enter your password to sign", "date mistyped")
    assert visit(session, "D28").actual_date == row.window_end
    assert records(session, "visit.corrected") == []
    assert failures(session) == 1  # the wrong password counted; the missing one did not

    done = post_form(client, url, url, corrected | {"signature_password": PASSWORD})
    assert done.status_code == 303, done.text
    assert visit(session, "D28").actual_date == row.window_start
    [record] = records(session, "visit.corrected")
    assert record.after is not None and record.reason == "date mistyped"
    assert record.after["signature"] == signed_by_li_wei("corrected by")
    assert (record.user_name, record.user_display_name, record.token_name) == (
        "li.wei", "Dr Li Wei", None)
    [completed] = records(session, "visit.completed")
    assert completed.after is not None and "signature" not in completed.after
    assert failures(session) == 0  # a right password forgets the account's failures


def test_marking_a_visit_missed_is_signed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    url = f"{SUBJECT}/visits/D14/missed"
    form = client.get(url).text
    assert 'name="signature_password"' in form and "recorded by" in form
    wrong = post_form(client, url, url, {"reason": "in hospital elsewhere",
                                         "signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right", "in hospital elsewhere")
    assert visit(session, "D14").state == "planned"
    assert records(session, "visit.missed") == []

    done = post_form(client, url, url, {"reason": "in hospital elsewhere",
                                        "signature_password": PASSWORD})
    assert done.status_code == 303, done.text
    assert visit(session, "D14").state == "missed"
    [record] = records(session, "visit.missed")
    assert record.after is not None and record.reason == "in hospital elsewhere"
    assert record.after["signature"] == signed_by_li_wei("recorded by")


def test_the_worklist_marks_many_missed_under_one_signature(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    page = client.get("/worklist")
    assert 'name="signature_password"' in page.text
    chosen: dict[str, Any] = {"reason": "moved abroad",
                              "visit": [f"{SLE}/YC-001/D14", f"{SLE}/YC-001/D28"]}
    wrong = client.post("/worklist/missed", follow_redirects=False, data={
        "csrf_token": csrf_of(page.text), **chosen, "signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right", "moved abroad")
    assert (visit(session, "D14").state, visit(session, "D28").state) == ("planned", "planned")
    assert records(session, "visit.missed") == []

    done = client.post("/worklist/missed", follow_redirects=False, data={
        "csrf_token": csrf_of(page.text), **chosen, "signature_password": PASSWORD})
    assert done.status_code == 303, done.text
    marked = records(session, "visit.missed")
    assert sorted(r.key or "" for r in marked) == ["D14", "D28"]
    for record in marked:
        assert record.after is not None and record.reason == "moved abroad"
        assert record.after["signature"] == signed_by_li_wei("recorded by")


def lifecycle(session: Session, subject_id: str) -> str:
    session.expire_all()
    return session.scalars(select(Subject.lifecycle)
                           .where(Subject.subject_id == subject_id)).one()


@pytest.mark.parametrize(("kind", "ended"), [
    ("death", "died"), ("withdrawal", "withdrawn"), ("screen_failure", "screen_failed")])
def test_an_ending_event_is_signed_with_a_reason(
    client: TestClient, session: Session, seeded: Seeded, kind: str, ended: str
) -> None:
    subject_id = "YC-001"
    if kind == "screen_failure":  # only a subject never treated fails screening
        subject_id = "YC-009"
        enrol_sle(session, subject_id, site=OWN_SITE,
                  consent=site_today() - timedelta(days=10), infusion=None)
    base = f"/studies/{SLE}/subjects/{subject_id}"
    today = site_today().isoformat()
    form_url = f"{base}/events/new?type={kind}&date={today}"
    preview = client.get(form_url)
    assert preview.status_code == 200, preview.text
    assert 'name="signature_password"' in preview.text and 'name="reason"' in preview.text
    url = f"{base}/events"
    event = {"type": kind, "date": today, "note": "", "confirmed": f"{kind}|{today}|"}
    no_reason = post_form(client, form_url, url, event | {"signature_password": PASSWORD})
    assert_refused_keeping(no_reason, "Give the reason you sign this event for")
    wrong = post_form(client, form_url, url, event | {"reason": "reported by the family",
                                                      "signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right", "reported by the family")
    assert 'id="event-preview"' in wrong.text  # the preview again, to sign once more
    assert 'name="signature_password"' in wrong.text
    assert records(session, "event.recorded") == []
    assert lifecycle(session, subject_id) == "active"

    done = post_form(client, form_url, url, event | {"reason": "reported by the family",
                                                     "signature_password": PASSWORD})
    assert done.status_code == 303, done.text
    assert lifecycle(session, subject_id) == ended
    [record] = records(session, "event.recorded")
    assert record.key == kind and record.reason == "reported by the family"
    assert record.subject_id == subject_id and record.after is not None
    assert record.after["signature"] == signed_by_li_wei("recorded by")


def test_correcting_or_removing_a_signed_event_is_signed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    today = site_today()
    _, death = record_event(session, study=SLE, subject_id="YC-001", type=EventType.DEATH,
                            day=today, actor=EDC, now=NOW)
    url = f"{SUBJECT}/events/{death.id}"
    form = client.get(url).text
    assert form.count('name="signature_password"') == 2 and "corrected by" in form
    assert 'id="removal-signature_password"' in form
    moved = {"date": (today - timedelta(days=1)).isoformat(), "value": "", "note": "",
             "reason": "the date of death was mistyped"}
    wrong = post_form(client, url, url, moved | {"signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right",
                           "the date of death was mistyped")
    assert records(session, "event.corrected") == []
    corrected = post_form(client, url, url, moved | {"signature_password": PASSWORD})
    assert corrected.status_code == 303, corrected.text
    [record] = records(session, "event.corrected")
    assert record.after is not None and record.reason == "the date of death was mistyped"
    assert record.after["signature"] == signed_by_li_wei("corrected by")

    removal = {"reason": "another subject's death"}
    wrong = post_form(client, url, f"{url}/removal", removal | {"signature_password": WRONG})
    assert_refused_keeping(wrong, "That password is not right", "another subject")
    assert records(session, "event.removed") == []
    removed = post_form(client, url, f"{url}/removal",
                        removal | {"signature_password": PASSWORD})
    assert removed.status_code == 303, removed.text
    [record] = records(session, "event.removed")
    assert record.after is not None and record.after["signature"] == signed_by_li_wei(
        "corrected by")
    assert lifecycle(session, "YC-001") == "active"


def test_other_events_are_not_signed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    today = site_today().isoformat()
    preview = client.get(f"{SUBJECT}/events/new?type=progression&date={today}")
    assert preview.status_code == 200, preview.text
    assert 'id="event-record"' in preview.text
    assert 'name="signature_password"' not in preview.text


def test_wrong_signatures_slow_down_like_sign_ins(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    url = f"{SUBJECT}/visits/D14/missed"
    for _ in range(4):  # three free failures, the fourth starts a wait
        wrong = post_form(client, url, url, {"reason": "x", "signature_password": WRONG})
        assert wrong.status_code == 422
    waiting = post_form(client, url, url, {"reason": "x", "signature_password": PASSWORD})
    assert waiting.status_code == 429 and "try again in 1 seconds" in waiting.text
    assert visit(session, "D14").state == "planned"
    assert failures(session) == 4


def test_a_session_opened_with_a_token_cannot_sign(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    client.cookies.clear()
    sign_in(client, seeded.coordinator)
    url = f"{SUBJECT}/visits/D14/missed"
    form = client.get(url).text
    assert "this change cannot be signed" in form and "coord-yc3h" in form
    assert 'name="signature_password"' not in form
    done = post_form(client, url, url, {"reason": "in hospital elsewhere",
                                        "signature_password": "ignored"})
    assert done.status_code == 303, done.text
    [record] = records(session, "visit.missed")
    # As over the API: the token's identity and the reason stand for the signature.
    assert record.after is not None and "signature" not in record.after
    assert (record.actor, record.token_name, record.reason) == (
        "coord-yc3h", "coord-yc3h", "in hospital elsewhere")
