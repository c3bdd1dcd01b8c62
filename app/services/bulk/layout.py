"""The layout of ``visits`` rows as the bulk paths write them (tuples, not dicts)."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

from app.schedule.expand import Expansion
from app.schedule.status import DONE_STATES
from app.services.subjects.visit_rows import visit_row_values

# subject_pk and site_id first: cached templates of visit rows leave them out.
VISIT_COLUMNS = (
    "subject_pk",
    "site_id",
    "study_id",
    "code",
    "name",
    "phase",
    "kind",
    "optional",
    "unscheduled",
    "state",
    "target_date",
    "window_start",
    "window_end",
    "upcoming_from",
    "missed_from",
    "graded",
    "after_leaving",
    "study_day",
    "provisional",
    "reason",
    "actual_date",
    "assessments",
    "note",
    "recorded_at",
    "updated_at",
)


VISIT_DATES = tuple(
    VISIT_COLUMNS.index(c)
    for c in ("target_date", "window_start", "window_end", "upcoming_from", "missed_from",
              "actual_date")
)
ASSESSMENTS = VISIT_COLUMNS.index("assessments")
RECORDED_AT = VISIT_COLUMNS.index("recorded_at")
UPDATED_AT = VISIT_COLUMNS.index("updated_at")
_VISIT_ROW = itemgetter(*VISIT_COLUMNS)


def visit_tuples(
    expansion: Expansion,
    *,
    subject_pk: int,
    study_id: int,
    site_id: int,
    upcoming_days: int,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """The ``visits`` rows of an expansion (the values come from the sync service)."""
    out = []
    for values in visit_row_values(
        expansion,
        subject_pk=subject_pk,
        study_id=study_id,
        site_id=site_id,
        upcoming_days=upcoming_days,
    ):
        values["recorded_at"] = now if values["state"] in DONE_STATES else None
        values["updated_at"] = now
        out.append(_VISIT_ROW(values))
    return out
