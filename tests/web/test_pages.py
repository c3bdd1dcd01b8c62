"""The pages show what the token may see, exactly as the API does, and nothing else."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.services.tokens import authenticate
from app.services.worklist.counts import status_counts
from tests.helpers_subjects import NOW
from tests.helpers_web import (
    OTHER_SITE,
    OWN_SITE,
    Seeded,
    record_on_target,
    seed_rich,
    site_today,
    stand_at,
)
from tests.web.helpers import csrf_of, post_form, sign_in

SUBJECT = "/studies/UCART-SLE/subjects/{}"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed_rich(session)
    stand_at(client)  # the pages' clock reads the instant the data is dated from
    return seeded


def rows(html: str, section: str) -> list[tuple[str, str]]:
    """(subject, visit) of each row of a worklist section, in page order."""
    part = html.split(f'id="section-{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-subject="([^"]+)" data-visit="([^"]+)"', part)


def test_worklist_shows_only_the_own_sites_visits(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    page = client.get("/worklist")
    assert page.status_code == 200
    overdue = rows(page.text, "overdue")
    assert overdue and all(subject.startswith("YC-") for subject, _ in overdue)
    assert "WT-00" not in page.text and OTHER_SITE not in page.text
    # The counts at the top are the service's counts for the token's sites.
    actor = authenticate(session, seeded.coordinator, now=NOW)
    counts = status_counts(session, actor=actor, now=NOW)
    assert {c.site for c in counts} == {OWN_SITE}
    shown = re.search(r'id="count-overdue">(\d+)<', page.text)
    assert shown and int(shown.group(1)) == sum(c.overdue for c in counts) == len(overdue)
    assert f"Site date: <strong>{site_today():%a} {site_today().isoformat()}" in page.text


def test_worklist_is_sorted_most_overdue_first(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    page = client.get("/worklist", params={"tab": "overdue"}).text
    days = [int(d) for d in re.findall(r"(\d+) days? overdue", page)]
    assert days and days == sorted(days, reverse=True)


def test_worklist_filters(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    both = {s for s, _ in rows(client.get("/worklist").text, "overdue")}
    assert any(s.startswith("WT-") for s in both) and any(s.startswith("YC-") for s in both)
    only = client.get("/worklist", params={"site": OTHER_SITE}).text
    assert {s for s, _ in rows(only, "overdue")} <= {"WT-001", "WT-002"}
    other_study = client.get("/worklist", params={"study": "CART-HSCT-MM"}).text
    assert rows(other_study, "overdue") == []
    due = client.get("/worklist", params={"tab": "due"}).text
    assert 'id="section-overdue"' not in due and 'id="section-due"' in due


def test_a_coordinator_filtering_on_another_site_sees_a_not_found_page(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    response = client.get("/worklist", params={"site": OTHER_SITE})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "WT-00" not in response.text


def test_subject_page_shows_the_whole_calendar(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    page = client.get(SUBJECT.format("YC-002"))
    assert page.status_code == 200
    html = page.text
    codes = re.findall(r'id="visit-([^"]+)" data-status', html)
    assert codes[:5] == ["D-2", "D-1", "D0", "D14", "D28"] and "M24" in codes
    statuses = dict(re.findall(r'id="visit-([^"]+)" data-status="([^"]+)"', html))
    assert statuses["D0"] == "completed"
    assert statuses["D14"] == "completed_out_of_window"
    assert statuses["M24"] == "scheduled"
    assert "2 days late" in html  # D14 came 4 days after target, window +2
    # Today sits between the past and the future visits.
    assert html.index('id="today"') < html.index('id="visit-M6"')
    assert html.index('id="visit-D28"') < html.index('id="today"')
    # Periods and endpoint windows, and the audit trail.
    for span in ("INPATIENT", "NEAR-SITE", "AE-WINDOW", "DORIS@6 months"):
        assert span in html
    assert "subject enrolled" in html and "visit completed" in html
    # Dates carry their weekday.
    assert re.search(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d{2}-\d{2}", html)


def test_another_sites_subject_is_a_not_found_page(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    for url in (SUBJECT.format(seeded.other_subject),
                SUBJECT.format(seeded.other_subject) + "/visits/D28/record",
                SUBJECT.format(seeded.other_subject) + "/events/new",
                SUBJECT.format(seeded.other_subject) + "/calendar.ics",
                SUBJECT.format("NOBODY")):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text


@pytest.mark.parametrize("url", ["/worklist?cursor=nonsense", "/studies/UCART-SLE?cursor=x"])
def test_a_value_the_service_refuses_is_the_apis_422_as_a_page(
    client: TestClient, seeded: Seeded, url: str
) -> None:
    sign_in(client, seeded.coordinator)
    response = client.get(url)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not a cursor this API returned</h1>" in response.text
    assert "Cursor is not one" in response.text
    assert "Traceback" not in response.text


def test_a_malformed_address_is_a_page_not_a_stack_trace(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    response = client.get("/studies/UCART-SLE/subjects/bad%20id")
    assert response.status_code == 404
    assert "Traceback" not in response.text and "<h1>Not found</h1>" in response.text


def test_a_monitor_reads_but_has_no_forms(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.monitor)
    page = client.get(SUBJECT.format("YC-001"))
    assert page.status_code == 200
    assert "Record visit" not in page.text and "Mark missed" not in page.text
    assert ">Record<" not in client.get("/worklist").text
    form = client.get(SUBJECT.format("YC-001") + "/visits/D28/record")
    assert form.status_code == 403
    assert "read-only" in form.text


def test_a_monitor_cannot_post_a_visit_either(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.monitor)
    token = csrf_of(client.get(SUBJECT.format("YC-001")).text)
    response = client.post(SUBJECT.format("YC-001") + "/visits/D28/record", data={
        "csrf_token": token, "actual_date": site_today().isoformat(),
        "confirmed_date": site_today().isoformat(),
    })
    assert response.status_code == 403
    assert "read-only" in response.text


def test_study_page_has_the_schedule_and_enrolment(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    page = client.get("/studies/UCART-SLE").text
    for code, timing, window in (("D14", "day 14 from infusion", "±2 days"),
                                 ("M3", "3 months from infusion", "±7 days"),
                                 ("M24", "24 months from infusion", "±14 days")):
        assert re.search(rf"<strong>{code}</strong></td><td>[^<]+</td><td>{timing}</td>\s*"
                         rf"<td>{window}</td>", page), code
    assert re.search(r'id="enrolled">5</strong> of <strong>48</strong>', page)
    # Subjects listed are the own site's only.
    assert "YC-001" in page and "WT-001" not in page
    # A study the coordinator's site does not run is not found.
    assert client.get("/studies/CART-HSCT-MM").status_code == 404


def test_studies_list(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    page = client.get("/studies")
    assert page.status_code == 200
    assert "UCART-SLE" in page.text and "CART-HSCT-MM" in page.text


def test_subject_calendar_download(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    response = client.get(SUBJECT.format("YC-001") + "/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert b"UID:UCART-SLE-YC-001-M3@followup" in response.content


def test_static_files_are_served_locally(client: TestClient) -> None:
    css = client.get("/static/followup.css")
    js = client.get("/static/record.js")
    assert css.status_code == js.status_code == 200
    assert "@import" not in css.text and "url(" not in css.text
    assert "fetch(" not in js.text and "http" not in js.text


def test_no_page_links_outside_the_server(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    for url in ("/worklist", "/studies", "/studies/UCART-SLE", SUBJECT.format("YC-001"),
                "/feeds", "/signin"):
        html = client.get(url).text
        assert not re.search(r'(src|href)="(https?:)?//', html), url


def test_derived_misses_have_their_own_tab_count_and_actions(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    """WT-002's Day 14 window closed unvisited; once Day 28 is done, Day 14 counts as
    missed (derived): it leaves "overdue" for its own tab, where it can be recorded late
    or documented as missed, and the card counts it."""
    record_on_target(session, "WT-002", "D28")
    session.commit()
    sign_in(client, seeded.admin)
    page = client.get("/worklist").text
    assert ("WT-002", "D14") not in rows(page, "overdue")
    assert 'id="section-missed_undocumented"' not in page  # not something to chase
    assert re.search(r'id="count-missed_undocumented">1<', page)
    tab = client.get("/worklist", params={"tab": "missed_undocumented"}).text
    assert rows(tab, "missed_undocumented") == [("WT-002", "D14")]
    base = "/studies/UCART-SLE/subjects/WT-002/visits/D14"
    assert "missed since" in tab
    assert f'href="{base}/record?back=worklist"' in tab
    assert f'href="{base}/missed?back=worklist"' in tab
    done = post_form(client, f"{base}/missed?back=worklist", f"{base}/missed",
                     {"reason": "patient in hospital elsewhere", "back": "worklist"})
    assert done.status_code == 303, done.text
    after = client.get("/worklist", params={"tab": "missed_undocumented"}).text
    assert rows(after, "missed_undocumented") == []
    assert re.search(r'id="count-missed_undocumented">0<', after)
