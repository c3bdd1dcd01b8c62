"""The compliance and endpoint reports against counts made by hand (tests/helpers_reports.py
describes each subject), and what each kind of token gets."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import NotFound
from app.schedule.calendar import EndpointStatus
from app.schedule.status import Status
from app.services.reports.compliance import ComplianceColumn as Col
from app.services.reports.compliance import ComplianceCounts, compliance_report
from app.services.reports.endpoints import EndpointCounts, endpoint_report
from app.services.subjects.loading import get_subject, subject_calendar
from tests.helpers_reports import REPORT_NOW, seed_report_study
from tests.helpers_subjects import MM, SLE

C = ComplianceCounts

# (site, visit) -> counts on 1 September 2026, counted by hand from the states above.
# D-2 and D-1 are optional and not done (not applicable), M9 and later not yet due, G
# has no dates, E's D14 is due and F's M3 and M6 were cancelled by the death: none of
# those is expected yet, so none is counted.
EXPECTED = {
    ("YC3H", "D0"): C(in_window=3),  # A, B, C: the confirmed infusion completes D0
    ("YC3H", "D14"): C(in_window=1, early=1, missed_documented=1),  # A, B, C
    ("YC3H", "D28"): C(in_window=1, late=1, missed_undocumented=1),  # A, B, C (M3 done)
    ("YC3H", "M3"): C(in_window=2, overdue=1),  # A, C; B (no later visit done)
    ("YC3H", "M6"): C(in_window=1, late=1, overdue=1),  # A, C, B
    ("WTCH", "D0"): C(in_window=2, overdue=1),  # D, F; E's planned infusion passed
    ("WTCH", "D14"): C(missed_undocumented=2),  # D (D28 done), F (died after it closed)
    ("WTCH", "D28"): C(in_window=1, missed_undocumented=1),  # D, F
    ("WTCH", "M3"): C(missed_undocumented=1),  # D (M6 done)
    ("WTCH", "M6"): C(early=1),  # D
}


@pytest.fixture
def study(session: Session) -> Session:
    seed_report_study(session)
    return session


def test_compliance_counts_agree_with_the_hand_count(study: Session) -> None:
    report = compliance_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW)
    assert report.as_of == {"WTCH": date(2026, 9, 1), "YC3H": date(2026, 9, 1)}
    cells = {(r.site, r.visit): r.counts for r in report.rows}
    # Every site x every visit of the protocol is listed; the rest are all zeros.
    assert len(cells) == 2 * 11  # D-2, D-1, D0, D14, D28, M3, M6, M9, M12, M18, M24
    assert {key: counts for key, counts in cells.items() if counts != C()} == EXPECTED
    assert [r.site for r in report.rows[:11]] == ["WTCH"] * 11
    assert [r.visit for r in report.rows[:5]] == ["D-2", "D-1", "D0", "D14", "D28"]
    by_site = {t.key: t.counts for t in report.by_site}
    assert by_site["YC3H"] == C(in_window=8, early=1, late=2, missed_documented=1,
                                missed_undocumented=1, overdue=2)
    assert by_site["YC3H"].expected == 15
    assert by_site["WTCH"] == C(in_window=3, early=1, missed_undocumented=4, overdue=1)
    assert by_site["WTCH"].expected == 9
    by_visit = {t.key: t.counts for t in report.by_visit}
    assert by_visit["D14"] == C(in_window=1, early=1, missed_documented=1,
                                missed_undocumented=2)
    assert report.total.expected == 24
    assert report.total == by_site["YC3H"].plus(by_site["WTCH"])


def test_rates_share_the_expected_visits(study: Session) -> None:
    report = compliance_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW)
    cells = {(r.site, r.visit): r.counts for r in report.rows}
    d14 = cells[("YC3H", "D14")]
    assert [d14.rate(column) for column in Col] == [0.3333, 0.3333, 0.0, 0.3333, 0.0, 0.0]
    assert cells[("YC3H", "M9")].rate(Col.IN_WINDOW) is None  # nothing expected yet
    assert report.total.rate(Col.MISSED_UNDOCUMENTED) == round(5 / 24, 4)


def test_an_earlier_date_moves_visits_between_classes(study: Session) -> None:
    # On 10 May B's M3 window (closing 8 May) has just closed: overdue; M6 not due yet;
    # E's infusion (20 Aug) is still ahead; D's M3 overdue (M6 not done yet on 10 May
    # is irrelevant: the row stores M6 as done, and done visits are not re-dated).
    report = compliance_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW,
                               as_of=date(2026, 5, 10))
    cells = {(r.site, r.visit): r.counts for r in report.rows}
    assert cells[("YC3H", "M3")] == C(in_window=2, overdue=1)
    assert cells[("YC3H", "M6")] == C(in_window=1, late=1)  # B's M6 is not expected yet
    assert cells[("WTCH", "D0")] == C(in_window=2)


@pytest.mark.parametrize("day", [date(2026, 2, 16), date(2026, 5, 10), date(2026, 9, 1)])
def test_compliance_agrees_with_the_python_status_rules(study: Session, day: date) -> None:
    """The SQL counts add up each visit's status as the subject's calendar gives it
    (app.schedule.status.visit_status), early and late split by days_early/days_late."""
    column = {Status.COMPLETED: Col.IN_WINDOW, Status.MISSED: Col.MISSED_DOCUMENTED,
              Status.MISSED_UNDOCUMENTED: Col.MISSED_UNDOCUMENTED, Status.OVERDUE: Col.OVERDUE}
    counted: Counter[tuple[str, str, Col]] = Counter()
    for subject_id in "ABCDEFG":
        loaded = get_subject(study, study=SLE, subject_id=subject_id, actor=SYSTEM)
        stored = subject_calendar(study, loaded, today=day)
        for visit in stored.visits:
            info = visit.info
            if info.status is Status.COMPLETED_OUT_OF_WINDOW:
                kind = Col.EARLY if info.days_early is not None else Col.LATE
            elif info.status in column:
                kind = column[info.status]
            else:
                continue
            counted[(stored.sites[visit.row.site_id], visit.row.code, kind)] += 1
    report = compliance_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW, as_of=day)
    reported = Counter({(r.site, r.visit, c): r.counts.count(c) for r in report.rows for c in Col})
    assert +reported == counted and report.total.expected == sum(counted.values())


E = EndpointCounts


def test_endpoint_completeness_agrees_with_the_hand_count(study: Session) -> None:
    report = endpoint_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW, batch=2)
    assert report.subjects == 7
    cells = {(r.site, r.code): r.counts for r in report.rows}
    assert [r.code for r in report.rows[:3]] == [
        "DORIS@6 months", "DORIS@12 months", "DORIS@24 months"]
    # DORIS@6 months (18 Jul..15 Aug): A met by M6 on 1 Aug; B nothing; C's M6 (20 Aug)
    # and D's (10 Jul) outside the window; G has no infusion date; E's is Feb 2027; F died.
    assert cells[("YC3H", "DORIS@6 months")] == E(met=1, missed=2, pending=1)
    assert cells[("WTCH", "DORIS@6 months")] == E(missed=1, scheduled=1, cancelled=1)
    assert cells[("YC3H", "DORIS@12 months")] == E(scheduled=3, pending=1)
    assert cells[("WTCH", "DORIS@24 months")] == E(scheduled=2, cancelled=1)
    six = {t.endpoint + "@" + t.time_point: t.counts for t in report.by_time_point}
    assert six["DORIS@6 months"] == E(met=1, missed=3, scheduled=1, pending=1, cancelled=1)
    assert six["DORIS@6 months"].met_rate == 0.25
    assert report.total.total == 3 * 7


@pytest.mark.parametrize("day", [date(2026, 8, 10), date(2026, 9, 1), date(2027, 3, 1)])
def test_endpoints_agree_with_each_subjects_calendar(study: Session, day: date) -> None:
    """The report adds up what each subject's calendar (its page, its API) shows."""
    counted: Counter[tuple[str, str, str]] = Counter()
    for subject_id in "ABCDEFG":
        loaded = get_subject(study, study=SLE, subject_id=subject_id, actor=SYSTEM)
        calendar = subject_calendar(study, loaded, today=day).calendar
        for window in calendar.endpoints:
            counted[(loaded.site.code, window.code, window.status.value)] += 1
    report = endpoint_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW, as_of=day)
    reported = Counter({(r.site, r.code, status.value): r.counts.count(status)
                        for r in report.rows for status in EndpointStatus})
    assert +reported == counted and sum(counted.values()) == 21


def test_an_open_endpoint_window(study: Session) -> None:
    report = endpoint_report(study, study=SLE, actor=SYSTEM, now=REPORT_NOW,
                             as_of=date(2026, 8, 10))
    cells = {(r.site, r.code): r.counts for r in report.rows}
    # A met on 1 Aug; B and C open (C's M6 on 20 Aug is outside the window, which has
    # not closed yet on 10 Aug).
    assert cells[("YC3H", "DORIS@6 months")] == E(met=1, open=2, pending=1)
    assert cells[("YC3H", "DORIS@6 months")].met_rate == 1.0


def test_a_coordinator_gets_only_its_sites(study: Session) -> None:
    coordinator = Actor(name="yc3h", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
    report = compliance_report(study, study=SLE, actor=coordinator, now=REPORT_NOW)
    assert {r.site for r in report.rows} == {"YC3H"}
    assert report.total.expected == 15
    endpoints = endpoint_report(study, study=SLE, actor=coordinator, now=REPORT_NOW)
    assert endpoints.subjects == 4 and {r.site for r in endpoints.rows} == {"YC3H"}
    elsewhere = Actor(name="mm01", role=Role.COORDINATOR, sites=frozenset({"MM01"}))
    with pytest.raises(NotFound):  # SLE does not run at MM01
        compliance_report(study, study=SLE, actor=elsewhere, now=REPORT_NOW)


@pytest.mark.parametrize("role", [Role.MONITOR, Role.EDC])
def test_study_tokens_get_their_studies_at_every_site(study: Session, role: Role) -> None:
    own = Actor(name="own", role=role, studies=frozenset({SLE}))
    assert compliance_report(study, study=SLE, actor=own, now=REPORT_NOW).total.expected == 24
    assert endpoint_report(study, study=SLE, actor=own, now=REPORT_NOW).subjects == 7
    other = Actor(name="other", role=role, studies=frozenset({MM}))
    with pytest.raises(NotFound):
        compliance_report(study, study=SLE, actor=other, now=REPORT_NOW)
    with pytest.raises(NotFound):
        endpoint_report(study, study=SLE, actor=other, now=REPORT_NOW)


def test_a_monitor_narrowed_to_a_site(study: Session) -> None:
    monitor = Actor(name="m", role=Role.MONITOR, studies=frozenset({SLE}),
                    sites=frozenset({"WTCH"}))
    report = compliance_report(study, study=SLE, actor=monitor, now=REPORT_NOW)
    assert {t.key for t in report.by_site} == {"WTCH"} and report.total.expected == 9
