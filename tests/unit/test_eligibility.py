"""The enrolment rules as a table: each rule, its boundaries, several problems at once."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest

from app import errors
from app.schedule.eligibility import (
    age_at,
    anchor_change_violations,
    enrolment_anchors,
    enrolment_violations,
)
from app.schedule.expand import AnchorDate
from app.schedule.language import Protocol
from app.schedule.plan import Plan, build_plan
from app.schedule.rules import (
    MAX_DATE,
    MIN_DATE,
    AgeOutside,
    Violation,
    ViolationKind,
    date_bounds,
    given_reason,
    raise_first,
    require_reason,
)

TODAY = date(2026, 3, 1)
CONSENT = date(2026, 1, 5)
BORN = date(1980, 5, 1)
DATE = ViolationKind.INVALID_DATE
AGE = ViolationKind.INELIGIBLE
REQUEST = ViolationKind.INVALID_REQUEST
RANGE = "1900-01-01..2200-12-31"


@cache
def plan(*, age: tuple[int | None, int | None] | None = (18, 75),
         screening: bool = False) -> Plan:
    """Consent (given at enrolment), infusion (later) and, if asked, a screening anchor
    that must be given at enrolment too."""
    anchors: list[dict[str, Any]] = [
        {"name": "infusion", "label": "Infusion", "recorded": "later"},
        {"name": "consent", "label": "Consent", "recorded": "at_enrolment"},
    ]
    if screening:
        anchors.append({"name": "screening", "label": "Screening", "recorded": "at_enrolment"})
    study: dict[str, Any] = {
        "code": "T-1", "title": "Test study", "version": "1", "target_enrolment": 10,
        "time_zone": "Asia/Shanghai", "anchor_day": 0,
    }
    if age is not None:
        study["age"] = {k: v for k, v in (("min", age[0]), ("max", age[1])) if v is not None}
    return build_plan(Protocol.model_validate({
        "study": study, "anchors": anchors,
        "visits": [{"code": "D7", "name": "Day 7", "at": "7 days"}],
    }))


def violations(
    *,
    consent: date = CONSENT,
    born: date = BORN,
    anchors: dict[str, AnchorDate] | None = None,
    today: date = TODAY,
    the_plan: Plan | None = None,
) -> list[Violation]:
    given = {"infusion": AnchorDate(date(2026, 2, 1))} if anchors is None else anchors
    return enrolment_violations(the_plan or plan(), consent_date=consent, date_of_birth=born,
                                anchors=given, today=today)


def brief(found: list[Violation]) -> list[tuple[ViolationKind, str, str]]:
    return [(v.kind, v.field, v.message) for v in found]


# --- age -------------------------------------------------------------------------------


@pytest.mark.parametrize(("born", "day", "age"), [
    (date(2000, 3, 1), date(2018, 2, 28), 17),   # the day before the birthday
    (date(2000, 3, 1), date(2018, 3, 1), 18),    # the birthday itself counts
    (date(2000, 2, 29), date(2018, 2, 28), 17),  # born on a leap day: no 28 Feb birthday
    (date(2000, 2, 29), date(2018, 3, 1), 18),   # ... the year is full on 1 March
    (date(2000, 2, 29), date(2020, 2, 29), 20),  # ... and on 29 Feb in a leap year
    (date(2000, 3, 1), date(2004, 2, 29), 3),    # a leap day before a 1 March birthday
    (date(2000, 12, 31), date(2001, 1, 1), 0),
    (date(2026, 1, 5), date(2026, 1, 5), 0),     # born on the consent day
])
def test_age_counts_whole_years_from_the_birthday(born: date, day: date, age: int) -> None:
    assert age_at(born, day) == age


# --- the accepted date range -----------------------------------------------------------


@pytest.mark.parametrize(("day", "ok"), [
    (MIN_DATE, True), (date(1899, 12, 31), False), (MAX_DATE, True), (date(2201, 1, 1), False),
])
def test_dates_must_lie_in_the_accepted_range(day: date, ok: bool) -> None:
    found = date_bounds(day, "visit date", field="date")
    assert found == ([] if ok else [Violation(
        DATE, "date", f"visit date {day.isoformat()} is outside {RANGE}")])


# --- enrolment, one rule at a time -----------------------------------------------------


@pytest.mark.parametrize(("kwargs", "expected"), [
    pytest.param({}, [], id="eligible"),
    pytest.param({"consent": TODAY}, [], id="consent-today"),
    pytest.param({"consent": date(2026, 3, 2)}, [
        (DATE, "consent_date", "consent_date 2026-03-02 is in the future (site date 2026-03-01)"),
    ], id="consent-tomorrow"),
    pytest.param({"consent": date(1899, 12, 31), "born": date(1850, 1, 1)}, [
        (DATE, "consent_date", f"consent_date 1899-12-31 is outside {RANGE}"),
        (DATE, "date_of_birth", f"date_of_birth 1850-01-01 is outside {RANGE}"),
    ], id="dates-out-of-range-no-age"),
    pytest.param({"born": date(2026, 1, 6)}, [
        (DATE, "date_of_birth", "date_of_birth is after consent_date"),
    ], id="born-after-consent"),
    pytest.param({"born": date(2008, 1, 5)}, [], id="18th-birthday-on-consent-day"),
    pytest.param({"born": date(2008, 1, 6)}, [
        (AGE, "date_of_birth", "age 17 at consent is outside 18..75"),
    ], id="18th-birthday-the-day-after"),
    pytest.param({"born": date(1950, 1, 6)}, [], id="exactly-75"),
    pytest.param({"born": date(1950, 1, 5)}, [
        (AGE, "date_of_birth", "age 76 at consent is outside 18..75"),
    ], id="76th-birthday-on-consent-day"),
    pytest.param({"consent": date(2026, 2, 28), "born": date(2008, 2, 29)}, [
        (AGE, "date_of_birth", "age 17 at consent is outside 18..75"),
    ], id="leap-day-birthday-not-yet"),
    pytest.param({"consent": date(2026, 3, 1), "born": date(2008, 2, 29)}, [],
                 id="leap-day-birthday-on-1-march"),
    pytest.param({"born": CONSENT, "the_plan": plan(age=None)}, [], id="no-age-limits"),
    pytest.param({"born": date(1976, 1, 5), "the_plan": plan(age=(50, None))}, [],
                 id="minimum-only-50th-birthday"),
    pytest.param({"born": date(1976, 1, 6), "the_plan": plan(age=(50, None))}, [
        (AGE, "date_of_birth", "age 49 at consent is under the minimum of 50"),
    ], id="minimum-only-49"),
    pytest.param({"born": date(1916, 1, 5), "the_plan": plan(age=(50, None))}, [],
                 id="minimum-only-no-upper-bound"),
    pytest.param({"born": date(2025, 1, 5), "the_plan": plan(age=(None, 75))}, [],
                 id="maximum-only-no-lower-bound"),
    pytest.param({"born": date(1950, 1, 5), "the_plan": plan(age=(None, 75))}, [
        (AGE, "date_of_birth", "age 76 at consent is over the maximum of 75"),
    ], id="maximum-only-76"),
])
def test_enrolment_rules(kwargs: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    assert brief(violations(**kwargs)) == expected


def test_an_ineligible_age_carries_the_age_and_the_limits() -> None:
    [violation] = violations(born=date(2008, 1, 6))
    assert violation.age == AgeOutside(17, 18, 75)


@pytest.mark.parametrize(("anchors", "expected"), [
    pytest.param({}, [], id="consent-defaults-to-the-consent-date"),
    pytest.param({"infusion": AnchorDate(TODAY)}, [], id="actual-today"),
    pytest.param({"infusion": AnchorDate(date(2026, 3, 5), actual=False)}, [],
                 id="planned-ahead"),
    pytest.param({"infusion": AnchorDate(date(2026, 3, 2))}, [
        (DATE, "anchors.infusion", "anchor infusion 2026-03-02 is in the future"
         " (site date 2026-03-01); send it as planned (actual: false)"),
    ], id="actual-tomorrow"),
    pytest.param({"infusion": AnchorDate(date(2201, 1, 1), actual=False)}, [
        (DATE, "anchors.infusion", f"anchor infusion 2201-01-01 is outside {RANGE}"),
    ], id="out-of-range"),
    pytest.param({"transplant": AnchorDate(date(2201, 1, 1))}, [
        (REQUEST, "anchors", "unknown anchor transplant; the protocol defines infusion, consent"),
    ], id="unknown-and-its-date-ignored"),
    pytest.param({"consent": AnchorDate(CONSENT)}, [], id="consent-sent-as-it-is"),
    pytest.param({"consent": AnchorDate(date(2026, 1, 6))}, [
        (REQUEST, "anchors.consent", "the consent anchor is the consent date, recorded as actual"),
    ], id="consent-another-date"),
    pytest.param({"consent": AnchorDate(CONSENT, actual=False)}, [
        (REQUEST, "anchors.consent", "the consent anchor is the consent date, recorded as actual"),
    ], id="consent-as-planned"),
])
def test_anchors_at_enrolment(
    anchors: dict[str, AnchorDate], expected: list[tuple[Any, ...]]
) -> None:
    assert brief(violations(anchors=anchors)) == expected


def test_anchors_the_protocol_records_at_enrolment_must_be_given() -> None:
    found = violations(anchors={}, the_plan=plan(screening=True))
    assert brief(found) == [(REQUEST, "anchors", "anchor screening must be given at enrolment")]
    given = {"screening": AnchorDate(date(2025, 12, 20))}
    assert violations(anchors=given, the_plan=plan(screening=True)) == []


def test_every_problem_is_reported_in_the_order_a_single_enrolment_meets_them() -> None:
    found = violations(
        consent=date(2026, 3, 2), born=date(2026, 3, 3),
        anchors={"consent": AnchorDate(date(2026, 1, 1)), "infusion": AnchorDate(date(2026, 4, 1)),
                 "transplant": AnchorDate(TODAY)},
        the_plan=plan(screening=True),
    )
    assert [(v.kind, v.field) for v in found] == [
        (DATE, "consent_date"),
        (DATE, "date_of_birth"),
        (REQUEST, "anchors"),  # unknown transplant
        (REQUEST, "anchors.consent"),
        (REQUEST, "anchors"),  # screening missing
        (DATE, "anchors.infusion"),
    ]
    with pytest.raises(errors.InvalidDate, match="consent_date 2026-03-02 is in the future"):
        raise_first(found)


def test_a_bulk_row_names_the_column_and_drops_it_from_the_message() -> None:
    late, after = violations(consent=date(2026, 3, 2), born=date(2026, 3, 3))
    assert late.row_message == "2026-03-02 is in the future (site date 2026-03-01)"
    assert after.row_message == "is after consent_date"
    [outside] = violations(born=date(1800, 1, 1), consent=date(1899, 12, 31))[1:]
    assert outside.row_message == outside.message  # the range message keeps its name


def test_the_stored_anchors_are_those_sent_then_consent() -> None:
    sent = {"infusion": AnchorDate(date(2026, 2, 1), actual=False)}
    assert list(enrolment_anchors(plan(), sent, CONSENT).items()) == [
        ("infusion", AnchorDate(date(2026, 2, 1), actual=False)),
        ("consent", AnchorDate(CONSENT)),
    ]
    no_consent = build_plan(Protocol.model_validate({
        "study": {"code": "T-2", "title": "t", "version": "1", "target_enrolment": 1,
                  "time_zone": "UTC", "anchor_day": 0},
        "anchors": [{"name": "infusion", "label": "Infusion", "recorded": "later"}],
        "visits": [{"code": "D7", "name": "Day 7", "at": "7 days"}],
    }))
    assert enrolment_anchors(no_consent, sent, CONSENT) == sent


# --- each violation raises the error a single request raised ---------------------------


@pytest.mark.parametrize(("kwargs", "error", "extra"), [
    ({"born": date(1800, 1, 1)}, errors.InvalidDate, {}),
    ({"born": date(2008, 1, 6)}, errors.Ineligible, {"age": 17, "min_age": 18, "max_age": 75}),
    ({"born": date(1976, 1, 6), "the_plan": plan(age=(50, None))}, errors.Ineligible,
     {"age": 49, "min_age": 50, "max_age": None}),
    ({"anchors": {"transplant": AnchorDate(TODAY)}}, errors.InvalidRequest,
     {"field": "anchors"}),
    ({"anchors": {"consent": AnchorDate(TODAY)}}, errors.InvalidRequest,
     {"field": "anchors.consent"}),
])
def test_the_first_violation_is_raised_as_its_error(
    kwargs: dict[str, Any], error: type[errors.FollowupError], extra: dict[str, object]
) -> None:
    with pytest.raises(error) as caught:
        raise_first(violations(**kwargs))
    assert type(caught.value) is error and caught.value.extra == extra


# --- changing an anchor after enrolment ------------------------------------------------


def change(name: str, day: date, *, actual: bool = True, born: date = BORN) -> list[Violation]:
    return anchor_change_violations(plan(), name=name, day=day, actual=actual,
                                    date_of_birth=born, today=TODAY)


@pytest.mark.parametrize(("name", "day", "actual", "born", "expected"), [
    pytest.param("infusion", TODAY, True, BORN, [], id="actual-today"),
    pytest.param("infusion", date(2026, 3, 2), False, BORN, [], id="planned-ahead"),
    pytest.param("infusion", date(2026, 3, 2), True, BORN, [
        (DATE, "date", "an actual infusion date cannot be in the future (site date 2026-03-01);"
         " send it as planned"),
    ], id="actual-tomorrow"),
    pytest.param("infusion", date(2201, 1, 1), False, BORN, [
        (DATE, "date", f"anchor infusion 2201-01-01 is outside {RANGE}"),
    ], id="out-of-range"),
    pytest.param("infusion", date(2026, 2, 1), True, date(2020, 1, 1), [],
                 id="age-is-only-about-consent"),
    pytest.param("consent", date(2026, 1, 6), True, BORN, [], id="consent-corrected"),
    pytest.param("consent", date(2026, 1, 6), False, BORN, [
        (REQUEST, "actual", "the consent date is always an actual date"),
    ], id="consent-as-planned"),
    pytest.param("consent", date(2026, 1, 4), True, date(2008, 1, 5), [
        (AGE, "date_of_birth", "age 17 at consent is outside 18..75"),
    ], id="consent-corrected-before-the-18th-birthday"),
    pytest.param("consent", date(2026, 3, 2), True, BORN, [
        (DATE, "date", "an actual consent date cannot be in the future (site date 2026-03-01);"
         " send it as planned"),
        (DATE, "consent_date", "consent_date 2026-03-02 is in the future (site date 2026-03-01)"),
    ], id="consent-tomorrow"),
])
def test_anchor_changes(
    name: str, day: date, actual: bool, born: date, expected: list[tuple[Any, ...]]
) -> None:
    assert brief(change(name, day, actual=actual, born=born)) == expected


# --- reasons ---------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "kept"), [
    (None, None), ("", None), ("   ", None), (" typo ", "typo"), ("typo", "typo"),
])
def test_a_reason_is_trimmed_and_blank_is_none(reason: str | None, kept: str | None) -> None:
    assert given_reason(reason) == kept
    if kept is None:
        with pytest.raises(errors.ReasonRequired, match="^correcting anchor x needs a reason$"):
            require_reason(reason, "correcting anchor x")
    else:
        assert require_reason(reason, "correcting anchor x") == kept
