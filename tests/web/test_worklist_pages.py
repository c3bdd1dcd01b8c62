"""The worklist page: its counts and sections agree on every page, and several overdue
rows are marked missed with one reason, all of them or none."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Subject, Visit
from app.web.worklist import PAGE_SIZE
from tests.helpers_web import Seeded, record_on_target, seed, site_today, stand_at
from tests.helpers_worklist import SLE, add_subject, add_visit
from tests.web.helpers import csrf_of, sign_in


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    sign_in(client, seeded.coordinator)
    return seeded


def section_rows(html: str, section: str) -> list[tuple[str, str]]:
    part = html.split(f'id="section-{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-subject="([^"]+)" data-visit="([^"]+)"', part)


def number(html: str, element_id: str) -> int:
    found = re.search(rf'id="{element_id}">\(?(\d+)', html)
    assert found, element_id
    return int(found.group(1))


def note(html: str, section: str) -> str:
    found = re.search(rf'id="note-{section}">([^<]*)<', html)
    return unescape(found.group(1)) if found else ""


def next_page(client: TestClient, html: str) -> str:
    link = re.search(r'<a class="button primary" href="([^"]+)">Next page</a>', html)
    assert link, "a next page"
    page = client.get("/worklist" + unescape(link.group(1)))
    assert page.status_code == 200
    return page.text


def many_overdue(session: Session, overdue: int, due: int) -> None:
    """``overdue`` more overdue visits and ``due`` due ones at the coordinator's site."""
    today = site_today()
    subject = add_subject(session, SLE, "YC3H", "YC-MANY", consent=today - timedelta(days=400))
    for i in range(overdue):
        add_visit(session, subject, f"OD{i}", target=today - timedelta(days=10 + i), flush=False)
    for i in range(due):
        add_visit(session, subject, f"DUE{i}", target=today + timedelta(days=1), before=3,
                  after=3, flush=False)
    session.flush()


def test_counts_and_sections_agree_on_every_page(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    many_overdue(session, overdue=PAGE_SIZE + 20, due=7)
    first = client.get("/worklist").text
    cards = {s: number(first, f"count-{s}") for s in ("overdue", "due", "upcoming")}
    assert cards["overdue"] > PAGE_SIZE and cards["due"] >= 7
    pages = [first]
    while 'class="button primary" href="?' in pages[-1]:
        pages.append(next_page(client, pages[-1]))
    assert len(pages) >= 2
    seen: dict[str, list[tuple[str, str]]] = {s: [] for s in cards}
    for html in pages:
        for status, count in cards.items():
            # Every page's headings give the cards' counts, never the rows on the page.
            assert number(html, f"count-{status}") == count
            assert number(html, f"total-{status}") == count
            seen[status] += section_rows(html, status)
        assert "(0+)" not in html and "Nothing due" not in html
    # The sections over all pages hold exactly what the cards count.
    assert {s: len(set(rows)) for s, rows in seen.items()} == cards
    due = cards["due"]
    assert note(pages[0], "due") == f"All {due} due visits are on the next pages."
    assert section_rows(pages[1], "due")  # ... and there they are
    assert note(pages[0], "overdue") == (
        f"{PAGE_SIZE} of {cards['overdue']} on this page; the others are on the next pages.")
    assert note(pages[1], "overdue").endswith("the others are on the earlier pages.")


def test_a_section_all_on_one_page_says_nothing_more(
    client: TestClient, seeded: Seeded
) -> None:
    page = client.get("/worklist").text
    assert number(page, "total-overdue") == len(section_rows(page, "overdue")) > 0
    assert note(page, "overdue") == ""
    assert note(page, "due") == "Nothing due."


def missed_form(client: TestClient, tab: str = "overdue") -> str:
    page = client.get("/worklist", params={"tab": tab})
    assert page.status_code == 200
    return page.text


def visit_row(session: Session, subject_id: str, code: str) -> Visit:
    session.expire_all()
    return session.scalars(
        select(Visit).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject_id, Visit.code == code)
    ).one()


def audit_count(session: Session) -> int:
    return len(session.scalars(select(AuditRecord.id)).all())


def test_the_overdue_rows_can_be_chosen(client: TestClient, seeded: Seeded) -> None:
    page = missed_form(client, "all")
    part = page.split('id="section-overdue"', 1)[1].split("</section>", 1)[0]
    boxes = re.findall(r'<input type="checkbox" name="visit" value="([^"]+)" form="bulk-missed"',
                       part)
    assert boxes and len(boxes) == len(section_rows(page, "overdue"))
    assert f"{SLE}/YC-001/D14" in boxes
    assert 'action="/worklist/missed"' in part and 'name="reason"' in part
    # Only overdue rows: a visit still due or ahead is not to be given up from here.
    assert page.count('form="bulk-missed"') == len(boxes)


def test_several_rows_marked_missed_with_one_reason(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    token = csrf_of(missed_form(client))
    before = audit_count(session)
    response = client.post("/worklist/missed", data={
        "csrf_token": token, "tab": "overdue", "reason": "the site was closed by a flood",
        "visit": [f"{SLE}/YC-001/D14", f"{SLE}/YC-001/D28"],
    }, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/worklist?tab=overdue&notice=missed-many&visit=2"
    for code in ("D14", "D28"):
        row = visit_row(session, "YC-001", code)
        assert (row.state, row.reason) == ("missed", "the site was closed by a flood")
    trail = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()[before:]
    assert [(a.action, a.key, a.reason) for a in trail] == [
        ("visit.missed", "D14", "the site was closed by a flood"),
        ("visit.missed", "D28", "the site was closed by a flood"),
    ]
    page = client.get(response.headers["location"]).text
    assert "2 visits marked as missed." in page
    assert ("YC-001", "D14") not in section_rows(page, "overdue")


def test_one_refused_row_changes_nothing(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    token = csrf_of(missed_form(client))
    # Someone records D14 between the page and the form (recording D28 would make D14 a
    # derived miss, which leaves the overdue tab).
    record_on_target(session, "YC-001", "D14")
    before = audit_count(session)
    chosen = [f"{SLE}/YC-001/D14", f"{SLE}/YC-001/D28"]
    response = client.post("/worklist/missed", data={
        "csrf_token": token, "tab": "overdue", "reason": "flood", "visit": chosen,
    }, follow_redirects=False)
    assert response.status_code == 409
    assert ("Nothing was changed: visit D14 of subject YC-001 is already completed"
            in response.text)
    assert visit_row(session, "YC-001", "D28").state == "planned"
    assert audit_count(session) == before
    # The page again, with what was typed and chosen (D28 still overdue, still ticked).
    assert ">flood</textarea>" in response.text
    assert re.search(rf'value="{SLE}/YC-001/D28" form="bulk-missed"[^>]*checked', response.text)


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"reason": "  ", "visit": [f"{SLE}/YC-001/D14"]}, 422, "needs a reason"),
    ({"reason": "flood"}, 422, "Choose the visits to mark missed"),
    ({"reason": "flood", "visit": ["YC-001 D14"]}, 422, "is not a visit of the worklist"),
    ({"reason": "flood", "visit": [f"{SLE}/YC-001/D14", f"{SLE}/WT-001/D14"]}, 404,
     "Nothing was changed: visit D14 of subject WT-001: subject WT-001 not found"),
    ({"reason": "flood", "visit": [f"{SLE}/YC-001/D14", f"{SLE}/YC-001/NOPE"]}, 404,
     "Nothing was changed: visit NOPE of subject YC-001: visit NOPE not found"),
])
def test_a_refused_form_says_why_and_changes_nothing(
    client: TestClient, session: Session, seeded: Seeded, data: dict[str, object],
    status: int, message: str,
) -> None:
    token = csrf_of(missed_form(client))
    before = audit_count(session)
    response = client.post("/worklist/missed", data={"csrf_token": token, **data},
                           follow_redirects=False)
    assert response.status_code == status
    assert message in response.text
    assert visit_row(session, "YC-001", "D14").state == "planned"
    assert audit_count(session) == before


def test_only_a_writer_may_mark_rows_missed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.monitor)
    page = missed_form(client)
    assert 'form="bulk-missed"' not in page and 'id="bulk-missed"' not in page
    response = client.post("/worklist/missed", data={
        "csrf_token": csrf_of(page), "reason": "flood", "visit": [f"{SLE}/YC-001/D14"],
    }, follow_redirects=False)
    assert response.status_code == 403 and "Not allowed" in response.text
    without_token = client.post("/worklist/missed", data={
        "reason": "flood", "visit": [f"{SLE}/YC-001/D14"]}, follow_redirects=False)
    assert without_token.status_code == 403 and "Form expired" in without_token.text
    assert visit_row(session, "YC-001", "D14").state == "planned"
