"""Anchor dates and unscheduled visits from the pages: the services' rules, refusals shown on
the form, the audit trail, CSRF and who may do it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, AuditRecord, Subject, Visit
from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from tests.helpers_subjects import EDC, MM, NOW, SLE, audit_of, enrol_mm, make_token
from tests.helpers_web import Seeded, record_on_target, seed, site_today, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

SUBJECT = "/studies/UCART-SLE/subjects/YC-001"
OTHER = "/studies/UCART-SLE/subjects/WT-001"
MM_SUBJECT = "/studies/CART-HSCT-MM/subjects/MM-001"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)  # the pages' clock reads the instant the data is dated from
    sign_in(client, seeded.coordinator)
    return seeded


def visit(session: Session, code: str, subject: str = "YC-001") -> Visit:
    session.expire_all()
    return session.scalars(
        select(Visit).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject, Visit.code == code)
    ).one()


def anchor_date(session: Session, name: str, subject: str = "YC-001") -> tuple[date, bool] | None:
    session.expire_all()
    row = session.scalars(
        select(AnchorDateRow).join(Subject, Subject.id == AnchorDateRow.subject_pk)
        .where(Subject.subject_id == subject, AnchorDateRow.name == name)
    ).first()
    return None if row is None else (row.date, row.actual)


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def set_date(client: TestClient, subject: str, anchor: str, **data: str) -> object:
    url = f"{subject}/anchors/{anchor}"
    return post_form(client, url, url, data)


def unscheduled(client: TestClient, subject: str = SUBJECT, **data: str) -> object:
    return post_form(client, f"{subject}/visits/new", f"{subject}/visits", data)


# --- anchor dates ------------------------------------------------------------------------


def test_setting_the_transplant_date_dates_the_transplant_visits(
    client: TestClient, session: Session
) -> None:
    today = site_today()
    seed(session)
    stand_at(client)
    enrol_mm(session, "MM-001", consent=today - timedelta(days=120),
             infusion=today - timedelta(days=100), now=NOW)
    record_event(session, study=MM, subject_id="MM-001", type=EventType.RESPONSE,
                 day=today - timedelta(days=40), value="CR", actor=EDC, now=NOW)
    sign_in(client, make_token(session, "coordinator", ["MM01"], name="coord-mm01"))
    assert visit(session, "HSCT-D14", "MM-001").state == "pending"

    page = client.get(MM_SUBJECT).text
    assert "not set" in page and f'href="{MM_SUBJECT}/anchors/transplant"' in page
    form = client.get(f"{MM_SUBJECT}/anchors/transplant").text
    assert "Set the date" in form and 'name="reason"' not in form  # nothing to correct yet
    transplant = today - timedelta(days=10)
    response = set_date(client, MM_SUBJECT, "transplant", date=transplant.isoformat(),
                        kind="actual")
    assert response.status_code == 303, getattr(response, "text", "")
    assert response.headers["location"] == f"{MM_SUBJECT}?notice=anchor&visit=transplant"
    assert anchor_date(session, "transplant", "MM-001") == (transplant, True)
    moved = visit(session, "HSCT-D14", "MM-001")
    assert (moved.state, moved.target_date) == ("planned", transplant + timedelta(days=14))
    assert visit(session, "HSCT-D0", "MM-001").target_date == transplant
    # The transplant's actual date completes HSCT-D0, which records it (its own record).
    assert visit(session, "HSCT-D0", "MM-001").state == "completed"
    *_, record, completed = audit_of(session, MM, "MM-001")
    assert (completed.action, completed.key) == ("visit.completed", "HSCT-D0")
    assert record.action == "anchor.set" and record.before is None
    assert record.after is not None and record.after["date"] == transplant.isoformat()
    shown = client.get(response.headers["location"]).text
    assert "The transplant date is saved" in shown and "not set" not in shown


def test_correcting_an_anchor_needs_a_reason_and_re_evaluates_done_visits(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    infusion = site_today() - timedelta(days=40)
    record_on_target(session, "YC-001", "D14")
    d14, d28 = visit(session, "D14"), visit(session, "D28")
    assert anchor_date(session, "infusion") == (infusion, True)
    assert d28.target_date == infusion + timedelta(days=28)
    page = client.get(SUBJECT).text
    assert f'href="{SUBJECT}/anchors/infusion"' in page and "Set/correct date" in page
    count = audit_count(session)

    corrected = infusion + timedelta(days=2)
    refused = set_date(client, SUBJECT, "infusion", date=corrected.isoformat(), kind="actual",
                       reason="  ")
    assert refused.status_code == 422
    assert "needs a reason" in refused.text and 'role="alert"' in refused.text
    assert f'value="{corrected.isoformat()}"' in refused.text  # what was typed is kept
    assert anchor_date(session, "infusion") == (infusion, True)
    assert visit(session, "D28").target_date == d28.target_date
    assert audit_count(session) == count

    fixed = set_date(client, SUBJECT, "infusion", date=corrected.isoformat(), kind="actual",
                     reason="infusion date mistyped")
    assert fixed.status_code == 303
    assert anchor_date(session, "infusion") == (corrected, True)
    assert visit(session, "D28").target_date == corrected + timedelta(days=28)
    kept = visit(session, "D14")  # its outcome stays, its target follows the anchor
    assert (kept.state, kept.target_date, kept.actual_date) == (
        "completed", corrected + timedelta(days=14), d14.actual_date)
    *_, record, d0 = audit_of(session, SLE, "YC-001")  # D0 records the infusion
    assert (d0.action, d0.key, d0.reason) == ("visit.corrected", "D0", "infusion date mistyped")
    assert record.action == "anchor.corrected" and record.reason == "infusion date mistyped"
    assert record.before == {"date": infusion.isoformat(), "actual": True}
    assert record.after is not None and record.after["date"] == corrected.isoformat()
    assert "D28" in {c["code"] for c in record.after["visits_changed"]}
    history = client.get(fixed.headers["location"]).text
    assert "The infusion date is saved" in history and "infusion date mistyped" in history


def test_saving_the_same_date_changes_nothing(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    infusion = site_today() - timedelta(days=40)
    count = audit_count(session)
    response = set_date(client, SUBJECT, "infusion", date=infusion.isoformat(), kind="actual")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SUBJECT}?notice=anchor-unchanged&visit=infusion"
    assert audit_count(session) == count


@pytest.mark.parametrize(("data", "message"), [
    ({"date": (site_today() + timedelta(days=3)).isoformat(), "kind": "actual",
      "reason": "moved"}, "cannot be in the future"),
    ({"date": "3/2/2026", "kind": "planned", "reason": "moved"}, "YYYY-MM-DD"),
    ({"date": site_today().isoformat(), "kind": "", "reason": "moved"}, "planned or has"),
])
def test_anchor_refusals_are_shown_on_the_form(
    client: TestClient, session: Session, seeded: Seeded, data: dict[str, str], message: str
) -> None:
    before = anchor_date(session, "infusion")
    response = set_date(client, SUBJECT, "infusion", **data)
    assert response.status_code == 422
    assert message in response.text and 'role="alert"' in response.text
    assert anchor_date(session, "infusion") == before


def test_an_anchor_the_form_does_not_offer_is_not_found(
    client: TestClient, seeded: Seeded
) -> None:
    for name in ("transplant", "consent"):  # not in this protocol; consent not changed here
        response = client.get(f"{SUBJECT}/anchors/{name}")
        assert response.status_code == 404 and "Not found" in response.text, name


# --- unscheduled visits ------------------------------------------------------------------


def test_record_an_unscheduled_visit(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    page = client.get(SUBJECT).text
    assert f'href="{SUBJECT}/visits/new"' in page
    day = site_today() - timedelta(days=1)
    response = unscheduled(client, date=day.isoformat(), name="Lupus flare", kind="clinic",
                           assessment="SLEDAI", other_assessments="ECG, SLEDAI",
                           note="came in with a rash")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SUBJECT}?notice=unscheduled&visit=UNS-1"
    row = visit(session, "UNS-1")
    assert (row.state, row.actual_date, row.unscheduled) == ("completed", day, True)
    assert (row.name, row.assessments, row.note) == ("Lupus flare", ["SLEDAI", "ECG"],
                                                     "came in with a rash")
    assert audit_of(session, SLE, "YC-001")[-1].action == "visit.unscheduled"
    shown = client.get(response.headers["location"]).text
    assert "Unscheduled visit UNS-1 recorded." in shown
    assert 'id="visit-UNS-1"' in shown and "Lupus flare" in shown
    second = unscheduled(client, date=site_today().isoformat(), kind="phone")
    assert second.headers["location"] == f"{SUBJECT}?notice=unscheduled&visit=UNS-2"
    assert visit(session, "UNS-2").name == "Unscheduled visit"


@pytest.mark.parametrize(("data", "message"), [
    ({"date": (site_today() + timedelta(days=1)).isoformat(), "kind": "clinic"},
     "is in the future"),
    ({"date": site_today().isoformat(), "kind": "clinic", "other_assessments": "blood count!"},
     "is not a code"),
    ({"date": site_today().isoformat(), "kind": "teleport"}, "Kind must be one of"),
    ({"date": "yesterday", "kind": "clinic"}, "YYYY-MM-DD"),
])
def test_unscheduled_refusals_are_shown_on_the_form(
    client: TestClient, session: Session, seeded: Seeded, data: dict[str, str], message: str
) -> None:
    response = unscheduled(client, name="kept", **data)
    assert response.status_code == 422
    assert message in response.text and 'role="alert"' in response.text
    assert 'value="kept"' in response.text
    assert session.scalar(select(func.count()).select_from(Visit)
                          .where(Visit.unscheduled.is_(True))) == 0


# --- who may ------------------------------------------------------------------------------


def test_forms_without_their_csrf_token_change_nothing(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    before, count = anchor_date(session, "infusion"), audit_count(session)
    moved = client.post(f"{SUBJECT}/anchors/infusion",
                        data={"date": site_today().isoformat(), "kind": "actual",
                              "reason": "no token"})
    added = client.post(f"{SUBJECT}/visits",
                        data={"date": site_today().isoformat(), "kind": "clinic"})
    for response in (moved, added):
        assert response.status_code == 403 and "Form expired" in response.text
    assert anchor_date(session, "infusion") == before and audit_count(session) == count


def test_a_monitor_has_no_links_and_is_refused(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.monitor)
    page = client.get(SUBJECT).text
    assert "Set/correct date" not in page and "Record unscheduled visit" not in page
    for url in (f"{SUBJECT}/anchors/infusion", f"{SUBJECT}/visits/new"):
        form = client.get(url)
        assert form.status_code == 403 and "read-only" in form.text, url
    token, count = csrf_of(page), audit_count(session)
    for url, data in (
        (f"{SUBJECT}/anchors/infusion", {"date": site_today().isoformat(), "kind": "actual",
                                          "reason": "monitor"}),
        (f"{SUBJECT}/visits", {"date": site_today().isoformat(), "kind": "clinic"}),
    ):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 403, url
        assert "Not allowed" in response.text and "read-only" in response.text
    assert audit_count(session) == count


def test_another_sites_subject_is_not_found(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    token, count = csrf_of(client.get(SUBJECT).text), audit_count(session)
    for url in (f"{OTHER}/anchors/infusion", f"{OTHER}/visits/new"):
        response = client.get(url)
        assert response.status_code == 404 and "Not found" in response.text, url
    for url, data in (
        (f"{OTHER}/anchors/infusion", {"date": site_today().isoformat(), "kind": "actual",
                                        "reason": "not mine"}),
        (f"{OTHER}/visits", {"date": site_today().isoformat(), "kind": "clinic"}),
    ):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 404 and "Not found" in response.text, url
    assert anchor_date(session, "infusion", "WT-001") is not None
    assert audit_count(session) == count
