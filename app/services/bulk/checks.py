"""The enrolment rules as a bulk import applies them: every problem of a row, not the first.

A single enrolment raises on its first problem; an import must report all of them
with their column. The rules themselves are the enrolment service's.
"""

from __future__ import annotations

import re
from datetime import date

from app.errors import InvalidDate, InvalidRequest
from app.schedule.language import CODE_PATTERN
from app.schedule.plan import Plan
from app.services.bulk.rows import Enrolment
from app.services.subjects.eligibility import age_at, check_date, enrolment_anchors

_SUBJECT_ID = re.compile(CODE_PATTERN)
CONSENT_ANCHOR = "consent"


def check_enrolment(plan: Plan, row: Enrolment, *, today: date) -> list[tuple[str, str]]:
    """Every problem of one row as (column, message); empty when it may be enrolled.

    The checks are those of :func:`app.services.subjects.enrolment.enrol` (its helpers are called
    here), collected instead of raised. ``row.anchors`` already holds the consent anchor
    when the protocol has one. The site, duplicates and the target enrolment are the
    caller's to check: they depend on the other rows.
    """
    problems: list[tuple[str, str]] = []
    if not _SUBJECT_ID.match(row.subject_id):
        problems.append(("subject_id", f'"{row.subject_id}" is not a subject id (letters,'
                         " digits, _ . + -, at most 40)"))
    dates_ok = True
    for column, value in (("consent_date", row.consent_date), ("date_of_birth", row.date_of_birth)):
        try:
            check_date(value, column)
        except InvalidDate as exc:
            problems.append((column, exc.detail))
            dates_ok = False
    if row.consent_date > today:
        problems.append(("consent_date", f"{row.consent_date.isoformat()} is in the future"
                         f" (site date {today.isoformat()})"))
    if row.date_of_birth > row.consent_date:
        problems.append(("date_of_birth", "is after consent_date"))
    elif dates_ok and (limits := plan.protocol.study.age) is not None:
        age = age_at(row.date_of_birth, row.consent_date)
        if not limits.min <= age <= limits.max:
            problems.append(("date_of_birth",
                             f"age {age} at consent is outside {limits.min}..{limits.max}"))
    try:
        enrolment_anchors(plan, {n: (a.date, a.actual) for n, a in row.anchors.items()},
                          row.consent_date, today)
    except InvalidRequest as exc:
        column = str(exc.extra.get("field", "anchors")).removeprefix("anchors.")
        if column == "anchors":
            # Name the anchor's own CSV column when the message says which anchor it is.
            column = next((n for n in row.anchors if f"anchor {n} " in exc.detail), column)
        # The consent anchor is the consent date: its problem is already reported.
        if not (column == CONSENT_ANCHOR and any(c == "consent_date" for c, _ in problems)):
            problems.append((column, exc.detail))
    return problems
