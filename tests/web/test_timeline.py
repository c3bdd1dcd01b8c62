"""Layout helpers of the subject page (pure: no database, no HTTP)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast

from app.schedule.calendar import EndpointStatus, EndpointWindow, PeriodSpan
from app.services.subjects.visit_rows import StoredVisit
from app.services.trail import AuditEntry
from app.web.rendering import day, label, sentence
from app.web.timeline import MIN_BAR_PERCENT, axis, changes, timeline
from app.web.visits import deviation_text


def stored(code: str, target: date | None) -> StoredVisit:
    return cast(StoredVisit, SimpleNamespace(row=SimpleNamespace(code=code, target_date=target)))


def test_today_marker_sits_before_the_first_visit_not_past() -> None:
    visits = [stored("A", date(2026, 1, 1)), stored("B", date(2026, 3, 1)),
              stored("C", date(2026, 3, 2)), stored("P", None)]
    entries = timeline(visits, date(2026, 3, 1))
    assert [("today" if e.today else e.visit.row.code if e.visit else "?") for e in entries] == [
        "A", "today", "B", "C", "P"]
    assert [e.past for e in entries] == [True, False, False, False, False]


def test_today_marker_is_last_when_everything_is_past() -> None:
    entries = timeline([stored("A", date(2026, 1, 1))], date(2026, 3, 1))
    assert entries[-1].today and not entries[0].today


def test_spans_share_one_axis() -> None:
    periods = [PeriodSpan("IN", "Inpatient", "infusion", date(2026, 1, 1), date(2026, 1, 8),
                          False),
               PeriodSpan("LATER", "Not dated", "transplant", None, None, False)]
    endpoints = [EndpointWindow("ORR@6 months", "ORR", "ORR", "6 months", date(2026, 7, 1),
                                date(2026, 6, 17), date(2026, 7, 15), EndpointStatus.MET, "M6")]
    result = axis(periods, endpoints, date(2026, 1, 5))
    assert result is not None
    assert (result.start, result.end) == (date(2026, 1, 1), date(2026, 7, 15))
    first, undated, endpoint = result.bars
    assert first.left == 0.0 and first.width >= MIN_BAR_PERCENT
    assert undated.start is None and undated.width == 0.0
    assert endpoint.left + endpoint.width <= 100.0 and endpoint.note == "met by M6"
    assert result.today is not None and 0 < result.today < 5


def test_no_axis_without_a_dated_span() -> None:
    assert axis([], [], date(2026, 1, 1)) is None


def entry(before: dict[str, Any] | None, after: dict[str, Any] | None) -> AuditEntry:
    return AuditEntry(1, datetime(2026, 1, 1, tzinfo=UTC), "a", "edc", "visit.completed",
                      "visit", "S", "X", "S-1", "D14", before, after, None, None, None, None)


def test_audit_changes_read_as_lines() -> None:
    lines = changes(entry({"state": "planned", "actual_date": None},
                          {"state": "completed", "actual_date": "2026-01-02", "days_late": None,
                           "visits_changed": [{"code": "M3"}]}))
    assert lines == ["state: planned → completed", "actual date: — → 2026-01-02",
                     "visits moved: 1 item"]


def test_formatting_helpers() -> None:
    assert day(date(2026, 3, 2)) == "Mon 2026-03-02"
    assert day(None) == "—"
    assert label("completed_out_of_window") == "completed out of window"
    assert label("visit.completed") == "visit completed"
    assert sentence("age 86 at consent") == "Age 86 at consent"
    assert deviation_text(date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 8)) == (
        "2 days early: the window opens on Wed 2026-03-04.")
    assert deviation_text(date(2026, 3, 9), date(2026, 3, 4), date(2026, 3, 8)) == (
        "1 day late: the window closed on Sun 2026-03-08.")
    assert deviation_text(date(2026, 3, 8), date(2026, 3, 4), date(2026, 3, 8)) is None
