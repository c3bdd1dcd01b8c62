"""Eligibility dates relative to consent: "screening within 28 days of consent".

The language (an anchor's ``after_consent``), and the rule an enrolment and a later
anchor change must pass, with exact dates.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import ScheduleError
from app.schedule.eligibility import (
    anchor_change_violations,
    consent_span_violations,
    enrolment_violations,
)
from app.schedule.eligibility_terms import SPAN_PATTERN, latest_after_consent
from app.schedule.expand import AnchorDate
from app.schedule.language import Protocol
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan, build_plan
from app.schedule.rules import Violation, ViolationKind
from app.services.bulk.checks import check_enrolment
from app.services.bulk.rows import Enrolment

DATE = ViolationKind.INVALID_DATE
AGE = ViolationKind.INELIGIBLE

FILE = """\
study: {code: T, title: T, version: "1", target_enrolment: 5, time_zone: UTC, anchor_day: 0}
anchors:
  - {name: consent, label: Consent, recorded: at_enrolment}
  - name: screening
    label: Screening assessments
    recorded: at_enrolment
    after_consent: {span}
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - {code: D14, name: Day 14, anchor: infusion, at: day 14}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(text, source="x.yaml")
    return caught.value.problems


# --- the language ----------------------------------------------------------------------


@pytest.mark.parametrize(("span", "shown"), [
    ("28 days", "28 days"), ("4 weeks", "4 weeks"), ("1 month", "1 month"),
    ("0 days", "0 days"),
])
def test_an_anchor_given_at_enrolment_may_follow_consent_within_a_span(
    span: str, shown: str,
) -> None:
    protocol = parse_protocol(FILE.replace("{span}", span), source="x.yaml")
    found = {a.name: a.after_consent for a in protocol.anchors}
    assert str(found["screening"]) == shown
    assert found["consent"] is None and found["infusion"] is None


@pytest.mark.parametrize(("span", "expected"), [
    ("day 28", 'x.yaml:7:20: anchors[1].after_consent: write the span after consent as '
               '"28 days", not "day 28"'),
    ("-3 days", "x.yaml:7:20: anchors[1].after_consent: must not be negative: the date is "
                "on or after the consent date"),
    ("soon", 'x.yaml:7:20: anchors[1].after_consent: "soon" is not a duration: write '
             '"14 days", "2 weeks", "3 months", "2 years" or "day 14"'),
])
def test_a_span_that_is_not_a_length_of_time_after_consent(span: str, expected: str) -> None:
    assert problems(FILE.replace("{span}", span)) == [expected]


def test_only_an_anchor_given_at_enrolment_other_than_consent_may_have_a_span() -> None:
    text = FILE.replace("{span}", "28 days").replace(
        "  - {name: consent, label: Consent, recorded: at_enrolment}",
        "  - {name: consent, label: Consent, recorded: at_enrolment, after_consent: 1 day}",
    ).replace(
        "  - {name: infusion, label: Infusion, recorded: later}",
        "  - {name: infusion, label: Infusion, recorded: later, after_consent: 28 days}",
    )
    assert problems(text) == [
        "x.yaml:3:76: anchors[0].after_consent: the consent anchor is the consent date itself",
        "x.yaml:8:71: anchors[2].after_consent: after_consent applies to an anchor given at "
        "enrolment (recorded: at_enrolment): eligibility is decided when the subject is "
        "enrolled",
    ]


# --- the rule, with exact dates ----------------------------------------------------------


@cache
def plan(span: str = "28 days", age: tuple[int | None, int | None] | None = None) -> Plan:
    study: dict[str, Any] = {
        "code": "T", "title": "T", "version": "1", "target_enrolment": 5,
        "time_zone": "UTC", "anchor_day": 0,
    }
    if age is not None:
        study["age"] = {k: v for k, v in zip(("min", "max"), age, strict=True) if v is not None}
    return build_plan(Protocol.model_validate({
        "study": study,
        "anchors": [
            {"name": "consent", "label": "Consent", "recorded": "at_enrolment"},
            {"name": "screening", "label": "Screening", "recorded": "at_enrolment",
             "after_consent": span},
            {"name": "infusion", "label": "Infusion", "recorded": "later"},
        ],
        "visits": [{"code": "D14", "name": "Day 14", "anchor": "infusion", "at": "day 14"}],
    }))


def enrol(consent: date, screening: date, *, the_plan: Plan | None = None,
          born: date = date(1980, 5, 1), actual: bool = True) -> list[Violation]:
    return enrolment_violations(
        the_plan or plan(), consent_date=consent, date_of_birth=born,
        anchors={"screening": AnchorDate(screening, actual)}, today=date(2026, 6, 1))


def messages(found: list[Violation]) -> list[tuple[ViolationKind, str, str]]:
    return [(v.kind, v.field, v.message) for v in found]


@pytest.mark.parametrize(("consent", "screening", "expected"), [
    pytest.param(date(2026, 1, 5), date(2026, 1, 5), [], id="same-day"),
    pytest.param(date(2026, 1, 5), date(2026, 2, 2), [], id="day-28"),
    pytest.param(date(2026, 1, 5), date(2026, 2, 3), [
        (DATE, "anchors.screening", "anchor screening 2026-02-03 is more than 28 days after "
                                    "consent_date 2026-01-05 (at the latest 2026-02-02)"),
    ], id="day-29"),
    pytest.param(date(2026, 1, 5), date(2026, 1, 4), [
        (DATE, "anchors.screening", "anchor screening 2026-01-04 is before consent_date "
                                    "2026-01-05: it must be within 28 days after consent"),
    ], id="the-day-before-consent"),
    pytest.param(date(2024, 2, 1), date(2024, 2, 29), [], id="across-a-leap-day"),
    pytest.param(date(2024, 2, 1), date(2024, 3, 1), [
        (DATE, "anchors.screening", "anchor screening 2024-03-01 is more than 28 days after "
                                    "consent_date 2024-02-01 (at the latest 2024-02-29)"),
    ], id="leap-february-has-29-days"),
])
def test_a_date_within_28_days_of_consent(
    consent: date, screening: date, expected: list[tuple[ViolationKind, str, str]],
) -> None:
    assert messages(enrol(consent, screening)) == expected


@pytest.mark.parametrize(("consent", "latest"), [
    (date(2024, 1, 31), date(2024, 2, 29)),  # clamped to a leap February's end
    (date(2025, 1, 31), date(2025, 2, 28)),  # ... and to a common one's
    (date(2025, 3, 31), date(2025, 4, 30)),
    (date(2025, 12, 15), date(2026, 1, 15)),
])
def test_a_span_in_months_is_calendar_months_clamped_at_month_ends(
    consent: date, latest: date,
) -> None:
    month = plan("1 month")
    assert enrol(consent, latest, the_plan=month) == []
    the_day_after = latest.fromordinal(latest.toordinal() + 1)
    assert messages(enrol(consent, the_day_after, the_plan=month)) == [
        (DATE, "anchors.screening", f"anchor screening {the_day_after.isoformat()} is more "
                                    f"than 1 month after consent_date {consent.isoformat()} "
                                    f"(at the latest {latest.isoformat()})"),
    ]


def test_a_planned_date_sent_at_enrolment_is_held_to_the_same_span() -> None:
    assert messages(enrol(date(2026, 1, 5), date(2026, 2, 3), actual=False))[0][1] == \
        "anchors.screening"


def test_the_span_and_the_age_are_both_judged_at_consent() -> None:
    # Born on a leap day, 18 years or older: not yet 18 on 28 February, 18 on 1 March.
    adults = plan(age=(18, None))
    born = date(2008, 2, 29)
    assert messages(enrol(date(2026, 2, 28), date(2026, 3, 1), the_plan=adults, born=born)) == [
        (AGE, "date_of_birth", "age 17 at consent is under the minimum of 18"),
    ]
    assert enrol(date(2026, 3, 1), date(2026, 3, 28), the_plan=adults, born=born) == []


def test_an_anchor_without_a_span_and_dates_out_of_range_are_not_judged() -> None:
    assert consent_span_violations(plan(), {"infusion": date(2030, 1, 1)},
                                   consent=date(2026, 1, 5)) == []
    out_of_range = enrol(date(2026, 1, 5), date(2201, 1, 1), actual=False)
    assert [v.message for v in out_of_range] == [
        "anchor screening 2201-01-01 is outside 1900-01-01..2200-12-31"
    ]


def test_a_huge_span_after_a_late_consent_has_no_limit() -> None:
    assert consent_span_violations(plan("9999 years"), {"screening": date(2200, 12, 31)},
                                   consent=date(2200, 1, 1)) == []


# --- after enrolment: a corrected screening date, a corrected consent date ----------------


def change(name: str, day: date, *, stored: dict[str, date] | None = None) -> list[Violation]:
    return anchor_change_violations(
        plan(), name=name, day=day, actual=True, date_of_birth=date(1980, 5, 1),
        today=date(2026, 6, 1), consent_date=date(2026, 1, 5), stored=stored)


def test_a_corrected_anchor_date_must_still_follow_consent() -> None:
    assert change("screening", date(2026, 2, 2)) == []
    assert messages(change("screening", date(2026, 2, 3))) == [
        (DATE, "date", "anchor screening 2026-02-03 is more than 28 days after consent_date "
                       "2026-01-05 (at the latest 2026-02-02)"),
    ]
    # An anchor recorded later is a fact of the calendar, never refused for being late.
    assert change("infusion", date(2026, 5, 1)) == []


def test_a_corrected_consent_date_must_still_precede_the_stored_dates() -> None:
    screening = {"screening": date(2026, 1, 20)}
    assert change("consent", date(2026, 1, 1), stored=screening) == []
    assert messages(change("consent", date(2026, 1, 21), stored=screening)) == [
        (DATE, "date", "anchor screening 2026-01-20 is before consent_date 2026-01-21: it must "
                       "be within 28 days after consent"),
    ]
    assert messages(change("consent", date(2025, 12, 1), stored=screening)) == [
        (DATE, "date", "anchor screening 2026-01-20 is more than 28 days after consent_date "
                       "2025-12-01 (at the latest 2025-12-29)"),
    ]


@given(consent=st.dates(date(1990, 1, 1), date(2100, 12, 31)), days=st.integers(-40, 400),
       months=st.integers(0, 24))
def test_a_date_is_accepted_exactly_between_consent_and_the_latest_date(
    consent: date, days: int, months: int,
) -> None:
    the_plan = plan(f"{months} months")
    latest = latest_after_consent(consent, the_plan.protocol.anchors[1].after_consent)  # type: ignore[arg-type]
    day = consent.fromordinal(consent.toordinal() + days)
    found = consent_span_violations(the_plan, {"screening": day}, consent=consent)
    assert (found == []) == (consent <= day <= latest)
    assert consent <= latest


def test_a_bulk_row_reports_the_span_under_the_anchors_column() -> None:
    consent = date(2026, 1, 5)
    late = Enrolment("S-1", "YC3H", consent, date(1980, 5, 1),
                     {"consent": AnchorDate(consent), "screening": AnchorDate(date(2026, 2, 3))})
    assert check_enrolment(plan(), late, today=date(2026, 6, 1)) == [
        ("screening", "anchor screening 2026-02-03 is more than 28 days after consent_date "
                      "2026-01-05 (at the latest 2026-02-02)"),
    ]


@pytest.mark.parametrize(("text", "valid"), [
    ("28 days", True), ("4 weeks", True), ("1 month", True), ("+2 years", True),
    ("day 28", False), ("-3 days", False), ("soon", False),
])
def test_the_json_schema_pattern_agrees_with_the_loader(text: str, valid: bool) -> None:
    assert bool(re.match(SPAN_PATTERN, text)) is valid
    source = FILE.replace("{span}", text)
    if valid:
        parse_protocol(source, source="x.yaml")
    else:
        assert problems(source)
