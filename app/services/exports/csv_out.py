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
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | bool | date | None


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not evaluate as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


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


def subject_cells(study: str, subject: ExportSubject) -> list[Cell]:
    return [study, subject.subject_id, subject.site, subject.lifecycle.value,
            subject.consent_date, subject.protocol_version]


def visit_cells(visit: ExportVisit | None) -> list[Cell]:
    if visit is None:  # a subject with no visit row still has its line
        return [None] * (len(COLUMNS) - 6)
    return [visit.code, visit.name, visit.phase, visit.kind, visit.optional,
            visit.unscheduled, visit.site, visit.target_date, visit.window_start,
            visit.window_end, visit.actual_date, visit.status.value, visit.days_early,
            visit.days_late, visit.days_from_target, visit.days_overdue, visit.reason]


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
            for visit in subject.visits or (None,):
                writer.writerow([cell(value) for value in head + visit_cells(visit)])
        yield buffer.getvalue()


def write_csv(session: Session, scope: ExportScope) -> Iterator[bytes]:
    for text in csv_lines(scope.study, subject_chunks(session, scope)):
        yield text.encode("utf-8")
