"""The rules an enrolment must pass, and a changed anchor date after it.

Pure: the protocol's plan, the dates sent and the site's "today" go in; every
:class:`~app.schedule.rules.Violation` found comes out, in the order a single enrolment
reports the first of them:

- consent date and date of birth within the accepted range;
- consent not after the site's today, birth not after consent;
- the age at consent within the protocol's range (both bounds inclusive);
- anchors: only those the protocol defines; the consent anchor is the consent date,
  recorded as actual; those the protocol records at enrolment are given; dates in
  range; a date the protocol wants soon after consent (``after_consent``) on or after
  the consent date and at most that long after it; an actual date not after today (a
  date still ahead is sent as planned).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from app.schedule.eligibility_terms import CONSENT_ANCHOR, AgeRange, latest_after_consent
from app.schedule.expand import AnchorDate
from app.schedule.plan import Plan
from app.schedule.rules import AgeOutside, Violation, ViolationKind, date_bounds, in_bounds

__all__ = ["CONSENT_ANCHOR", "age_at", "anchor_change_violations", "consent_span_violations",
           "enrolment_violations"]


def age_at(date_of_birth: date, day: date) -> int:
    """Age in whole years on ``day`` (a birthday counts from the day itself).

    Someone born on 29 February has a birthday on 1 March in other years:

    >>> age_at(date(2000, 2, 29), date(2018, 2, 28)), age_at(date(2000, 2, 29), date(2018, 3, 1))
    (17, 18)
    """
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def _outside(limits: AgeRange, age: int) -> str:
    """Why ``age`` is not eligible, in the protocol's own terms."""
    if limits.min is not None and limits.max is not None:
        return f"outside {limits.min}..{limits.max}"
    if limits.min is not None:
        return f"under the minimum of {limits.min}"
    return f"over the maximum of {limits.max}"


def consent_violations(
    plan: Plan, *, consent: date, date_of_birth: date, today: date
) -> list[Violation]:
    """Consent not in the future, birth not after it, and the age at consent eligible.

    The age is only worked out from dates in range with the birth before consent: any
    other age would only repeat their problem.
    """
    out: list[Violation] = []
    if consent > today:
        late = f"{consent.isoformat()} is in the future (site date {today.isoformat()})"
        out.append(Violation(ViolationKind.INVALID_DATE, "consent_date",
                             f"consent_date {late}", short=late))
    limits = plan.protocol.study.age
    if date_of_birth > consent:
        out.append(Violation(ViolationKind.INVALID_DATE, "date_of_birth",
                             "date_of_birth is after consent_date", short="is after consent_date"))
    elif limits is not None and in_bounds(consent) and in_bounds(date_of_birth):
        age = age_at(date_of_birth, consent)
        if not limits.admits(age):
            out.append(Violation(
                ViolationKind.INELIGIBLE, "date_of_birth",
                f"age {age} at consent is {_outside(limits, age)}",
                age=AgeOutside(age, limits.min, limits.max),
            ))
    return out


def consent_span_violations(
    plan: Plan, dates: Mapping[str, date], *, consent: date, field: str | None = None
) -> list[Violation]:
    """The dates among ``dates`` (by anchor name) outside the span after consent their
    anchor declares (``after_consent``): on or after the consent date, and at most the
    span after it, both ends inclusive. ``field`` names the request field (default
    ``anchors.<name>``). Dates out of range are reported by their own rule only.
    """
    out: list[Violation] = []
    for anchor in plan.protocol.anchors:
        span, day = anchor.after_consent, dates.get(anchor.name)
        if span is None or day is None or not (in_bounds(day) and in_bounds(consent)):
            continue
        latest = latest_after_consent(consent, span)
        if consent <= day <= latest:
            continue
        said = f"anchor {anchor.name} {day.isoformat()}"
        out.append(Violation(
            ViolationKind.INVALID_DATE, field or f"anchors.{anchor.name}",
            f"{said} is before consent_date {consent.isoformat()}: it must be within {span}"
            " after consent" if day < consent else
            f"{said} is more than {span} after consent_date {consent.isoformat()} (at the "
            f"latest {latest.isoformat()})",
        ))
    return out


def enrolment_anchors(
    plan: Plan, anchors: Mapping[str, AnchorDate], consent_date: date
) -> dict[str, AnchorDate]:
    """The anchors an enrolment stores: those sent, then the consent anchor (the
    consent date, actual) when the protocol has one and it was not sent."""
    chosen = dict(anchors)
    if any(a.name == CONSENT_ANCHOR for a in plan.protocol.anchors):
        chosen.setdefault(CONSENT_ANCHOR, AnchorDate(consent_date))
    return chosen


def anchor_violations(
    plan: Plan, anchors: Mapping[str, AnchorDate], *, consent_date: date, today: date
) -> list[Violation]:
    """What is wrong with the anchors sent at enrolment (see the module's rules)."""
    defined = {a.name: a for a in plan.protocol.anchors}
    chosen = enrolment_anchors(plan, anchors, consent_date)
    out: list[Violation] = []
    unknown = sorted(set(chosen) - set(defined))
    if unknown:
        out.append(Violation(
            ViolationKind.INVALID_REQUEST, "anchors",
            f"unknown anchor {', '.join(unknown)}; the protocol defines {', '.join(defined)}",
        ))
    if CONSENT_ANCHOR in defined and chosen[CONSENT_ANCHOR] != AnchorDate(consent_date):
        out.append(Violation(ViolationKind.INVALID_REQUEST, f"anchors.{CONSENT_ANCHOR}",
                             "the consent anchor is the consent date, recorded as actual"))
    missing = [n for n, a in defined.items() if a.recorded == "at_enrolment" and n not in chosen]
    if missing:
        out.append(Violation(ViolationKind.INVALID_REQUEST, "anchors",
                             f"anchor {', '.join(missing)} must be given at enrolment"))
    for name, anchor in chosen.items():
        if name not in defined or name == CONSENT_ANCHOR:
            continue  # unknown: reported above; consent: the consent date's own rules
        field = f"anchors.{name}"
        out += date_bounds(anchor.date, f"anchor {name}", field=field)
        out += consent_span_violations(plan, {name: anchor.date}, consent=consent_date)
        if anchor.actual and anchor.date > today:
            out.append(Violation(
                ViolationKind.INVALID_DATE, field,
                f"anchor {name} {anchor.date.isoformat()} is in the future"
                f" (site date {today.isoformat()}); send it as planned (actual: false)",
            ))
    return out


def enrolment_violations(
    plan: Plan,
    *,
    consent_date: date,
    date_of_birth: date,
    anchors: Mapping[str, AnchorDate],
    today: date,
) -> list[Violation]:
    """Every rule an enrolment breaks; none when the subject may be enrolled.

    The site, the subject id being free and the study's target are not rules of the
    request alone: the caller checks them against what is stored.
    """
    return [
        *date_bounds(consent_date, "consent_date", field="consent_date"),
        *date_bounds(date_of_birth, "date_of_birth", field="date_of_birth"),
        *consent_violations(plan, consent=consent_date, date_of_birth=date_of_birth,
                            today=today),
        *anchor_violations(plan, anchors, consent_date=consent_date, today=today),
    ]


def anchor_change_violations(
    plan: Plan, *, name: str, day: date, actual: bool, date_of_birth: date, today: date,
    consent_date: date | None = None, stored: Mapping[str, date] | None = None,
) -> list[Violation]:
    """What is wrong with setting anchor ``name`` of an enrolled subject to ``day``.

    A corrected consent date must pass the rules of enrolment again: the age, and the
    ``stored`` dates of the anchors that must follow consent. An anchor that must follow
    consent is checked against the subject's ``consent_date``.
    """
    out = date_bounds(day, f"anchor {name}", field="date")
    if actual and day > today:
        out.append(Violation(ViolationKind.INVALID_DATE, "date",
                             f"an actual {name} date cannot be in the future"
                             f" (site date {today.isoformat()}); send it as planned"))
    if name == CONSENT_ANCHOR:
        if not actual:
            out.append(Violation(ViolationKind.INVALID_REQUEST, "actual",
                                 "the consent date is always an actual date"))
        out += consent_violations(plan, consent=day, date_of_birth=date_of_birth, today=today)
        out += consent_span_violations(plan, stored or {}, consent=day, field="date")
    elif consent_date is not None:
        out += consent_span_violations(plan, {name: day}, consent=consent_date, field="date")
    return out
