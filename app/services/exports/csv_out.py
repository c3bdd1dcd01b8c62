"""The CSV export: one row per visit, the subject's columns repeated on each.

Written for a spreadsheet: UTF-8 with a byte order mark (so that Excel reads it as
UTF-8), RFC 4180 quoting and CRLF line ends, ISO 8601 dates, and no formulas: a text
cell beginning with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is prefixed with an apostrophe, which the
spreadsheet shows as text and does not evaluate. Numbers we compute (days early, late,
from target, overdue) are written as numbers: ``-3`` is a number, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

from sqlalchemy.orm import Session

from app.services.exports.rows import ExportScope, ExportSubject, ExportVisit, subject_chunks

BOM = "\ufeff"
COLUMNS = (
    "study", "subject_id", "site", "lifecycle", "consent_date", "protocol_version",
    "visit_code", "visit_name", "phase", "kind", "optional", "unscheduled", "visit_site",
    "target_date", "window_start", "window_end", "actual_date", "status", "days_early",
    "days_late", "days_from_target", "days_overdue", "reason",
)
FORMULA_STARTS = frozenset("=+-@\t\r")

Cell = str | int | bool | date | None


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not evaluate as a formula."""
    return "'" + text if text and text[0] in FORMULA_STARTS else text


def cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value)


def subject_cells(study: str, subject: ExportSubject) -> list[str | int]:
    return [cell(value) for value in (
        study, subject.subject_id, subject.site, subject.lifecycle.value,
        subject.consent_date, subject.protocol_version)]


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _number(value: int | None) -> str | int:
    return "" if value is None else value


def visit_cells(visit: ExportVisit | None) -> list[str | int]:
    """The visit's columns (the hot loop of a big export: no generic conversion here)."""
    if visit is None:  # a subject with no visit row still has its line
        return [""] * (len(COLUMNS) - 6)
    return [
        neutralise(visit.code), neutralise(visit.name), neutralise(visit.phase),
        neutralise(visit.kind), "yes" if visit.optional else "no",
        "yes" if visit.unscheduled else "no", neutralise(visit.site),
        _day(visit.target_date), _day(visit.window_start), _day(visit.window_end),
        _day(visit.actual_date), visit.status.value, _number(visit.days_early),
        _number(visit.days_late), _number(visit.days_from_target),
        _number(visit.days_overdue), "" if visit.reason is None else neutralise(visit.reason),
    ]


def csv_lines(study: str, chunks: Iterator[list[ExportSubject]]) -> Iterator[str]:
    """The document, a piece per chunk of subjects (the header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield BOM + buffer.getvalue()
    for subjects in chunks:
        buffer.seek(0)
        buffer.truncate()
        for subject in subjects:
            head = subject_cells(study, subject)
            writer.writerows(head + visit_cells(v) for v in subject.visits or (None,))
        yield buffer.getvalue()


def write_csv(session: Session, scope: ExportScope) -> Iterator[bytes]:
    for text in csv_lines(scope.study, subject_chunks(session, scope)):
        yield text.encode("utf-8")
