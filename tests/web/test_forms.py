"""The forms change data only through the services, show refusals readably, and audit."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import AlreadyRecorded, Conflict
from app.models import AuditRecord, FeedToken, Subject, SubjectEvent, Visit
from app.services import feeds as feed_service
from app.web import events as event_pages
from app.web import visits as visit_pages
from tests.helpers_subjects import bearer
from tests.helpers_web import OTHER_SITE, OWN_SITE, Seeded, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

SUBJECT = "/studies/UCART-SLE/subjects/YC-001"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)  # the pages' clock reads the instant the data is dated from
    sign_in(client, seeded.coordinator)
    return seeded


def visit(session: Session, code: str, subject: str = "YC-001") -> Visit:
    session.expire_all()
    row = session.scalars(
        select(Visit).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject, Visit.code == code)
    ).one()
    return row


def audit_actions(session: Session, subject: str = "YC-001") -> list[str]:
    return list(session.scalars(
        select(AuditRecord.action).where(AuditRecord.subject_id == subject)
        .order_by(AuditRecord.id)
    ))


def record(client: TestClient, code: str, **data: str) -> object:
    return post_form(client, f"{SUBJECT}/visits/{code}/record",
                     f"{SUBJECT}/visits/{code}/record", data)


def test_record_a_visit_inside_its_window(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    row = visit(session, "D28")
    assert row.window_end is not None
    response = post_form(client, f"{SUBJECT}/visits/D28/record", f"{SUBJECT}/visits/D28/record",
                         {"actual_date": row.window_end.isoformat(), "assessment": "AE",
                          "other_assessments": "ECG, ECG", "note": "came by bus"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{SUBJECT}?notice=recorded&visit=D28"
    done = visit(session, "D28")
    assert (done.state, done.actual_date) == ("completed", row.window_end)
    assert done.assessments == ["AE", "ECG"] and done.note == "came by bus"
    assert audit_actions(session)[-1] == "visit.completed"
    page = client.get(response.headers["location"]).text
    assert "Visit D28 recorded as completed." in page


def test_out_of_window_asks_for_confirmation_without_script(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    today = site_today().isoformat()
    first = post_form(client, f"{SUBJECT}/visits/D28/record", f"{SUBJECT}/visits/D28/record",
                      {"actual_date": today, "assessment": "SLEDAI", "note": "late"})
    assert first.status_code == 200
    assert "Out of window" in first.text and "days late" in first.text
    assert "Record with this deviation" in first.text
    assert f'name="confirmed_date" id="confirmed_date" value="{today}"' in first.text
    assert 'value="late"' not in first.text and ">late</textarea>" in first.text  # kept
    assert visit(session, "D28").state == "planned"  # nothing saved yet

    second = client.post(f"{SUBJECT}/visits/D28/record", follow_redirects=False, data={
        "csrf_token": csrf_of(first.text), "actual_date": today, "confirmed_date": today,
        "assessment": "SLEDAI", "note": "late",
    })
    assert second.status_code == 303
    row = visit(session, "D28")
    assert row.state == "completed" and row.actual_date == site_today()
    assert row.window_end is not None and row.actual_date > row.window_end


def test_a_confirmation_of_another_date_asks_again(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    today = site_today()
    response = record(client, "D28", actual_date=today.isoformat(),
                      confirmed_date=(today - timedelta(days=1)).isoformat())
    assert response.status_code == 200 and "Out of window" in response.text
    assert visit(session, "D28").state == "planned"


def test_a_future_date_is_refused_on_the_form(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    tomorrow = (site_today() + timedelta(days=1)).isoformat()
    response = record(client, "D28", actual_date=tomorrow, confirmed_date=tomorrow)
    assert response.status_code == 422
    assert "is in the future" in response.text and 'role="alert"' in response.text
    assert "Traceback" not in response.text
    assert visit(session, "D28").state == "planned"


def test_a_date_that_is_not_a_date(client: TestClient, session: Session, seeded: Seeded) -> None:
    response = record(client, "D28", actual_date="31/12/2026")
    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.text


def test_a_form_without_its_csrf_token_changes_nothing(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    today = site_today().isoformat()
    response = client.post(f"{SUBJECT}/visits/D28/record",
                           data={"actual_date": today, "confirmed_date": today})
    assert response.status_code == 403
    assert visit(session, "D28").state == "planned"


def test_correcting_a_completed_visit_needs_a_reason(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    row = visit(session, "D28")
    assert row.window_start is not None and row.window_end is not None
    assert record(client, "D28", actual_date=row.window_end.isoformat()).status_code == 303
    form = client.get(f"{SUBJECT}/visits/D28/record").text
    assert "Correct visit D28" in form and 'name="reason"' in form
    refused = record(client, "D28", actual_date=row.window_start.isoformat())
    assert refused.status_code == 422 and "needs a reason" in refused.text
    assert visit(session, "D28").actual_date == row.window_end
    fixed = record(client, "D28", actual_date=row.window_start.isoformat(),
                   reason="date mistyped")
    assert fixed.status_code == 303
    assert visit(session, "D28").actual_date == row.window_start
    assert audit_actions(session)[-2:] == ["visit.completed", "visit.corrected"]


def test_mark_missed_needs_a_reason(client: TestClient, session: Session,
                                    seeded: Seeded) -> None:
    url = f"{SUBJECT}/visits/D14/missed"
    refused = post_form(client, url, url, {"reason": "  "})
    assert refused.status_code == 422 and "needs a reason" in refused.text
    assert visit(session, "D14").state == "planned"
    done = post_form(client, url, url, {"reason": "patient in hospital elsewhere",
                                        "back": "worklist"})
    assert done.status_code == 303
    assert done.headers["location"] == "/worklist?notice=missed&visit=D14"
    row = visit(session, "D14")
    assert (row.state, row.reason) == ("missed", "patient in hospital elsewhere")
    assert "Visit D14 marked as missed." in client.get(done.headers["location"]).text


def test_death_cancels_the_visits_ahead(client: TestClient, session: Session,
                                        seeded: Seeded) -> None:
    url = f"{SUBJECT}/events"
    today = site_today().isoformat()
    response = post_form(client, f"{SUBJECT}/events/new", url,
                         {"type": "death", "date": today, "note": "",
                          "confirmed": f"death|{today}|"})  # its preview was shown
    assert response.status_code == 303
    assert visit(session, "M3").state == "cancelled"
    assert visit(session, "M24").state == "cancelled"
    page = client.get(response.headers["location"]).text
    assert "Event recorded." in page and "death" in page
    assert "Record an event" not in page  # nothing more to record after a death


def test_an_event_the_service_refuses_is_explained(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    url = f"{SUBJECT}/events"
    no_value = post_form(client, f"{SUBJECT}/events/new", url,
                         {"type": "response", "date": site_today().isoformat()})
    assert no_value.status_code == 422 and "needs a value" in no_value.text
    no_type = post_form(client, f"{SUBJECT}/events/new", url,
                        {"type": "", "date": site_today().isoformat()})
    assert no_type.status_code == 422 and "Choose the kind of event" in no_type.text


def test_the_response_is_chosen_from_the_values_the_protocol_declares(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    form = client.get(f"{SUBJECT}/events/new").text
    assert '<select id="value" name="value">' in form
    assert 'type="text" id="value"' not in form
    options = re.findall(r'<option value="(\w*)"\s*>([^<]*)</option>', form)
    assert options[-4:] == [("", "None"), ("DORIS", "DORIS · Remission (DORIS definition)"),
                            ("LLDAS", "LLDAS · Lupus low disease activity state"),
                            ("ACTIVE", "ACTIVE · Active disease (neither remission nor LLDAS)")]
    url = f"{SUBJECT}/events"
    # A value the list does not offer (an old page, a script): refused, nothing recorded.
    wrong = post_form(client, f"{SUBJECT}/events/new", url,
                      {"type": "response", "date": site_today().isoformat(), "value": "lldas"})
    assert wrong.status_code == 422
    assert ("is not a declared response value (did you mean LLDAS?); allowed: DORIS, LLDAS,"
            " ACTIVE") in wrong.text
    assert session.scalar(select(func.count()).select_from(SubjectEvent)) == 0
    right = post_form(client, f"{SUBJECT}/events/new", url,
                      {"type": "response", "date": site_today().isoformat(), "value": "LLDAS"})
    assert right.status_code == 303
    assert session.scalars(select(SubjectEvent.value)).all() == ["LLDAS"]


def enrol(client: TestClient, **data: str) -> object:
    return post_form(client, "/studies/UCART-SLE/enrol", "/studies/UCART-SLE/enrol", data)


def enrolment(subject_id: str, *, site: str = OWN_SITE, born: date = date(1980, 5, 1),
              **extra: str) -> dict[str, str]:
    today = site_today()
    return {"subject_id": subject_id, "site": site,
            "consent_date": (today - timedelta(days=3)).isoformat(),
            "date_of_birth": born.isoformat(),
            "anchor_infusion": (today + timedelta(days=10)).isoformat(),
            "kind_infusion": "planned"} | extra


def test_enrol_a_subject(client: TestClient, session: Session, seeded: Seeded) -> None:
    response = enrol(client, **enrolment("YC-NEW"))
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/studies/UCART-SLE/subjects/YC-NEW?notice=enrolled&visit=YC-NEW"
    )
    page = client.get(response.headers["location"]).text
    assert "Subject YC-NEW enrolled" in page and "(provisional)" in page
    assert audit_actions(session, "YC-NEW") == ["subject.enrolled"]


REFUSED_ENROLMENTS = [
    (enrolment("YC-OLD", born=date(1940, 1, 1)), "is outside 18..75", 422),
    (enrolment("YC-001"), "already enrolled", 409),
    (enrolment("bad id"), "Subject id", 422),
    (enrolment("YC-X", consent_date=(site_today() + timedelta(days=1)).isoformat()),
     "is in the future", 422),
]


@pytest.mark.parametrize(("data", "message", "status"), REFUSED_ENROLMENTS)
def test_enrolment_refusals_are_shown_on_the_form(
    client: TestClient, session: Session, seeded: Seeded, data: dict[str, str], message: str,
    status: int,
) -> None:
    before = session.scalar(select(func.count()).select_from(Subject))
    response = enrol(client, **data)
    assert response.status_code == status
    assert message in response.text and 'role="alert"' in response.text
    assert f'value="{data["subject_id"]}"' in response.text  # what was typed is kept
    assert session.scalar(select(func.count()).select_from(Subject)) == before


def api_enrolment(data: dict[str, str]) -> dict[str, Any]:
    """The API's body for the enrolment form's fields."""
    return {"subject_id": data["subject_id"], "site": data["site"],
            "consent_date": data["consent_date"], "date_of_birth": data["date_of_birth"],
            "anchors": [{"name": "infusion", "date": data["anchor_infusion"],
                         "actual": data["kind_infusion"] == "actual"}]}


@pytest.mark.parametrize("data", [
    *(data for data, _, _ in REFUSED_ENROLMENTS if data["subject_id"] != "bad id"),
    enrolment("WT-NEW", site=OTHER_SITE),
])
def test_the_form_answers_a_refusal_with_the_apis_status(
    client: TestClient, seeded: Seeded, data: dict[str, str]
) -> None:
    """One status table: the page's status is the API's for the same enrolment."""
    api = client.post("/api/v1/studies/UCART-SLE/subjects", json=api_enrolment(data),
                      headers=bearer(seeded.coordinator))
    assert api.status_code in (403, 409, 422), api.text
    assert enrol(client, **data).status_code == api.status_code


def test_marking_a_completed_visit_missed_is_a_conflict(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    row = visit(session, "D28")
    assert row.window_end is not None
    assert record(client, "D28", actual_date=row.window_end.isoformat()).status_code == 303
    url = f"{SUBJECT}/visits/D28/missed"
    refused = post_form(client, url, url, {"reason": "typed reason"})
    assert refused.status_code == 409
    assert "already completed" in refused.text and ">typed reason</textarea>" in refused.text
    assert visit(session, "D28").state == "completed"


def test_a_refusal_after_the_service_wrote_keeps_nothing(
    client: TestClient, session: Session, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a service wrote before it refused is undone; the form comes back, as typed."""
    real = visit_pages.complete_visit

    def complete_then_refuse(db: Session, **kwargs: Any) -> object:
        real(db, **kwargs)  # the visit is completed and audited, then refused
        raise AlreadyRecorded("refused after writing")

    monkeypatch.setattr(visit_pages, "complete_visit", complete_then_refuse)
    row, before = visit(session, "D28"), audit_actions(session)
    assert row.window_end is not None
    response = record(client, "D28", actual_date=row.window_end.isoformat(), note="typed note")
    assert response.status_code == 409
    assert "Refused after writing" in response.text and ">typed note</textarea>" in response.text
    assert visit(session, "D28").state == "planned" and visit(session, "D28").note is None
    assert audit_actions(session) == before


def test_an_unexpected_error_on_a_form_keeps_nothing(
    client: TestClient, session: Session, seeded: Seeded, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = event_pages.record_event

    def record_then_fail(db: Session, **kwargs: Any) -> object:
        real(db, **kwargs)  # the death is recorded and the visits ahead cancelled
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(event_pages, "record_event", record_then_fail)
    before = audit_actions(session)
    with caplog.at_level(logging.ERROR):
        today = site_today().isoformat()
        response = post_form(client, f"{SUBJECT}/events/new", f"{SUBJECT}/events",
                             {"type": "death", "date": today, "confirmed": f"death|{today}|"})
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "Nothing was saved" in response.text
    assert "Traceback" not in response.text and "the disk is full" not in response.text
    assert "the disk is full" in caplog.text  # logged, for the operator
    assert visit(session, "M3").state == "planned"
    assert session.scalar(select(func.count()).select_from(SubjectEvent)) == 0
    assert audit_actions(session) == before


def test_a_monitor_posting_a_form_gets_the_not_allowed_page(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.monitor)
    token, before = csrf_of(client.get(SUBJECT).text), audit_actions(session)
    for url, data in (
        (f"{SUBJECT}/visits/D14/missed", {"reason": "monitor"}),
        (f"{SUBJECT}/events", {"type": "death", "date": site_today().isoformat()}),
        ("/studies/UCART-SLE/enrol", enrolment("YC-MON")),
    ):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 403, url
        assert "<h1>Not allowed</h1>" in response.text and "read-only" in response.text
    assert audit_actions(session) == before


def test_a_coordinator_cannot_enrol_at_another_site(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    response = enrol(client, **enrolment("WT-NEW", site=OTHER_SITE))
    assert response.status_code == 403
    assert "may not enrol subjects at site" in response.text


def test_feed_url_is_shown_once_and_revocable(client: TestClient, session: Session,
                                              seeded: Seeded) -> None:
    created = post_form(client, "/feeds", f"/feeds/{OWN_SITE}", {})
    assert created.status_code == 201
    assert "http://testserver/api/v1/sites/YC3H/calendar.ics?token=fd_" in created.text
    url = created.text.split('id="feed-url" value="', 1)[1].split('"', 1)[0]
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    listing = client.get("/feeds").text
    assert "fd_" not in listing  # never shown again
    feed_id = listing.split(f"/feeds/{OWN_SITE}/", 1)[1].split("/revoke", 1)[0]
    revoked = client.post(f"/feeds/{OWN_SITE}/{feed_id}/revoke",
                          data={"csrf_token": csrf_of(listing)}, follow_redirects=False)
    assert revoked.status_code == 303
    assert client.get(url.removeprefix("http://testserver")).status_code == 401
    assert f"/feeds/{OTHER_SITE}" not in listing


def test_a_conflict_on_a_page_is_409_and_nothing_is_kept(
    client: TestClient, session: Session, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page without a form of its own fails as the API does, and the session dependency
    rolls back what the service wrote before it refused."""
    real = feed_service.create_feed_token

    def create_then_refuse(db: Session, **kwargs: Any) -> object:
        real(db, **kwargs)  # a feed token is stored and audited, then refused
        raise Conflict("refused after writing")

    monkeypatch.setattr(feed_service, "create_feed_token", create_then_refuse)
    audits = session.scalar(select(func.count()).select_from(AuditRecord))
    response = post_form(client, "/feeds", f"/feeds/{OWN_SITE}", {})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Conflict</h1>" in response.text and "Refused after writing" in response.text
    assert session.scalar(select(func.count()).select_from(FeedToken)) == 0
    assert session.scalar(select(func.count()).select_from(AuditRecord)) == audits


@pytest.mark.parametrize(
    ("page", "action", "data"),
    [
        ("visits/D14/missed", "visits/D14/missed", {"reason": "in hospital\x00elsewhere"}),
        ("visits/D14/record", "visits/D14/record", {"actual_date": "2026-01-01",
                                                    "note": "seen\x1b[2J"}),
        ("events/new", "events", {"type": "death", "date": "2026-01-01", "note": "a\x7fb"}),
        ("visits/D14/missed", "visits/D14/missed", {"reason": "lone\rcarriage return"}),
    ],
)
def test_a_control_character_in_a_form_is_refused_and_nothing_is_kept(
    client: TestClient, session: Session, seeded: Seeded, page: str, action: str,
    data: dict[str, str],
) -> None:
    before = audit_actions(session)
    response = post_form(client, f"{SUBJECT}/{page}", f"{SUBJECT}/{action}", data)
    assert response.status_code == 422
    assert "contains a control character" in response.text
    assert "\x00" not in response.text and "\x1b" not in response.text
    assert audit_actions(session) == before
    assert visit(session, "D14").state == "planned"


def test_a_textarea_keeps_its_line_breaks(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    url = f"{SUBJECT}/visits/D14/missed"
    done = post_form(client, url, url, {"reason": "in hospital elsewhere\r\n\tsee the letter"})
    assert done.status_code == 303
    assert visit(session, "D14").reason == "in hospital elsewhere\r\n\tsee the letter"
