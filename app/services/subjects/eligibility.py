"""The rules an enrolment must pass (dates, age at consent, anchors known at enrolment).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from app.errors import (
    Ineligible,
    InvalidDate,
    InvalidRequest,
    ReasonRequired,
)
from app.schedule.plan import Plan

MIN_DATE = date(1900, 1, 1)


MAX_DATE = date(2200, 12, 31)


def check_date(value: date, what: str) -> None:
    if not MIN_DATE <= value <= MAX_DATE:
        raise InvalidDate(
            f"{what} {value.isoformat()} is outside {MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}"
        )


def require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ReasonRequired(f"{what} needs a reason")
    return reason.strip()


def age_at(date_of_birth: date, day: date) -> int:
    """Age in whole years on ``day`` (a birthday counts from the day itself)."""
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def enrolment_anchors(
    plan: Plan, anchors: Mapping[str, tuple[date, bool]], consent_date: date, today: date
) -> dict[str, tuple[date, bool]]:
    defined = {a.name: a for a in plan.protocol.anchors}
    unknown = sorted(set(anchors) - set(defined))
    if unknown:
        raise InvalidRequest(
            f"unknown anchor {', '.join(unknown)}; the protocol defines {', '.join(defined)}",
            field="anchors",
        )
    chosen = dict(anchors)
    if "consent" in defined:
        given = chosen.setdefault("consent", (consent_date, True))
        if given != (consent_date, True):
            raise InvalidRequest("the consent anchor is the consent date, recorded as actual",
                                 field="anchors.consent")
    missing = [n for n, a in defined.items() if a.recorded == "at_enrolment" and n not in chosen]
    if missing:
        raise InvalidRequest(f"anchor {', '.join(missing)} must be given at enrolment",
                             field="anchors")
    for name, (day, actual) in chosen.items():
        check_date(day, f"anchor {name}")
        if actual and day > today:
            raise InvalidDate(
                f"anchor {name} {day.isoformat()} is in the future (site date {today.isoformat()});"
                " send it as planned (actual: false)"
            )
    return chosen


def check_consent(plan: Plan, consent: date, date_of_birth: date, today: date) -> int:
    """The age at consent, once the consent date is possible and the age eligible."""
    if consent > today:
        raise InvalidDate(f"consent_date {consent.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    if date_of_birth > consent:
        raise InvalidDate("date_of_birth is after consent_date")
    age = age_at(date_of_birth, consent)
    limits = plan.protocol.study.age
    if limits is not None and not limits.min <= age <= limits.max:
        raise Ineligible(
            f"age {age} at consent is outside {limits.min}..{limits.max}",
            age=age, min_age=limits.min, max_age=limits.max,
        )
    return age
