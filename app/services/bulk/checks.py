"""The enrolment rules as a bulk import applies them: every problem of a row, not the first.

A single enrolment raises on its first problem; an import reports all of them, each
with its column. The rules themselves are the schedule core's
(:func:`app.schedule.eligibility.enrolment_violations`), the same a single enrolment
applies, and so is the rule of a conditional phase not yet open: an anchor recorded by a
visit of such a phase (the transplant, before a complete response) cannot be actual
(:func:`app.schedule.recording.closed_phase`), unless the row's own events open the
phase (only the demo data carries events; a CSV line or a batch item has none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from app.schedule.eligibility import CONSENT_ANCHOR, enrolment_violations
from app.schedule.lifecycle import Event
from app.schedule.names import CODE_PATTERN
from app.schedule.plan import Plan
from app.schedule.recording import closed_phase
from app.schedule.rules import Violation
from app.services.bulk.rows import Enrolment

_SUBJECT_ID = re.compile(CODE_PATTERN)
ANCHOR_FIELD = "anchors."


def column_of(violation: Violation) -> str:
    """The CSV column (or batch field) a violation is reported under: an anchor's own
    column is named after the anchor; problems of the anchors as a whole, "anchors"."""
    return violation.field.removeprefix(ANCHOR_FIELD)


def check_enrolment(
    plan: Plan, row: Enrolment, *, today: date, events: Sequence[Event] = ()
) -> list[tuple[str, str]]:
    """Every problem of one row as (column, message); empty when it may be enrolled.

    ``row.anchors`` already holds the consent anchor when the protocol has one;
    ``events`` are the row's own (what already happened to the subject). The site,
    duplicates and the target enrolment are the caller's to check: they depend on the
    other rows.
    """
    problems: list[tuple[str, str]] = []
    if not _SUBJECT_ID.match(row.subject_id):
        problems.append(("subject_id", f'"{row.subject_id}" is not a subject id (letters,'
                         " digits, _ . + -, at most 40)"))
    violations = enrolment_violations(plan, consent_date=row.consent_date,
                                      date_of_birth=row.date_of_birth, anchors=row.anchors,
                                      today=today)
    consent_wrong = any(v.field == "consent_date" for v in violations)
    for violation in violations:
        column = column_of(violation)
        # The consent anchor is the consent date: its problem is already reported.
        if column == CONSENT_ANCHOR and consent_wrong:
            continue
        problems.append((column, violation.row_message))
    for name, anchor in row.anchors.items():
        closed = closed_phase(plan, name, events) if anchor.actual else None
        if closed is not None:
            problems.append((name, closed))
    return problems
