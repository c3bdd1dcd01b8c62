"""The reports as plain data: JSON-ready dicts (the API's shape) and flat tables for CSV
and the terminal. A CSV cell that a spreadsheet would read as a formula is neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from app.schedule.calendar import EndpointStatus
from app.services.reports.compliance import (
    ComplianceColumn,
    ComplianceCounts,
    ComplianceReport,
)
from app.services.reports.endpoints import EndpointCounts, EndpointReport


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class ReportKind(StrEnum):
    COMPLIANCE = "compliance"
    ENDPOINTS = "endpoints"


COMPLIANCE_COLUMNS = tuple(ComplianceColumn)
ENDPOINT_COLUMNS = (EndpointStatus.MET, EndpointStatus.OPEN, EndpointStatus.SCHEDULED,
                    EndpointStatus.MISSED, EndpointStatus.PENDING, EndpointStatus.CANCELLED)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def compliance_numbers(counts: ComplianceCounts) -> dict[str, Any]:
    numbers: dict[str, Any] = {"expected": counts.expected}
    numbers.update({c.value: counts.count(c) for c in COMPLIANCE_COLUMNS})
    numbers["rates"] = {c.value: counts.rate(c) for c in COMPLIANCE_COLUMNS}
    return numbers


def endpoint_numbers(counts: EndpointCounts) -> dict[str, Any]:
    numbers: dict[str, Any] = {s.value: counts.count(s) for s in ENDPOINT_COLUMNS}
    numbers.update(total=counts.total, decided=counts.decided, met_rate=counts.met_rate)
    return numbers


def compliance_dict(report: ComplianceReport) -> dict[str, Any]:
    return {
        "study": report.study,
        "as_of": report.as_of,
        "rows": [{"site": r.site, "visit": r.visit, "name": r.name,
                  **compliance_numbers(r.counts)} for r in report.rows],
        "by_site": [{"site": t.key, **compliance_numbers(t.counts)} for t in report.by_site],
        "by_visit": [{"visit": t.key, "name": t.name, **compliance_numbers(t.counts)}
                     for t in report.by_visit],
        "total": compliance_numbers(report.total),
    }


def endpoints_dict(report: EndpointReport) -> dict[str, Any]:
    return {
        "study": report.study,
        "as_of": report.as_of,
        "subjects": report.subjects,
        "rows": [{"site": r.site, "endpoint": r.endpoint, "time_point": r.time_point,
                  "code": r.code, "name": r.name, **endpoint_numbers(r.counts)}
                 for r in report.rows],
        "by_time_point": [{"endpoint": t.endpoint, "time_point": t.time_point,
                           "code": f"{t.endpoint}@{t.time_point}", "name": t.name,
                           **endpoint_numbers(t.counts)} for t in report.by_time_point],
        "total": endpoint_numbers(report.total),
    }


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def compliance_table(report: ComplianceReport) -> list[list[str]]:
    """Header, one line per site and visit, then per-visit totals (site "*") and the
    study's total (site and visit "*")."""
    header = ["site", "visit", "expected", *(c.value for c in COMPLIANCE_COLUMNS),
              *(f"{c.value}_rate" for c in COMPLIANCE_COLUMNS)]

    def line(site: str, visit: str, counts: ComplianceCounts) -> list[str]:
        return [site, visit, str(counts.expected),
                *(str(counts.count(c)) for c in COMPLIANCE_COLUMNS),
                *(_rate(counts.rate(c)) for c in COMPLIANCE_COLUMNS)]

    lines = [line(r.site, r.visit, r.counts) for r in report.rows]
    lines += [line(t.key, "*", t.counts) for t in report.by_site]
    lines += [line("*", t.key, t.counts) for t in report.by_visit]
    lines.append(line("*", "*", report.total))
    return [header, *lines]


def endpoints_table(report: EndpointReport) -> list[list[str]]:
    """Header, one line per site and time point, per time point totals (site "*"), and
    the study's total."""
    header = ["site", "time_point", *(s.value for s in ENDPOINT_COLUMNS), "decided",
              "met_rate"]

    def line(site: str, code: str, counts: EndpointCounts) -> list[str]:
        return [site, code, *(str(counts.count(s)) for s in ENDPOINT_COLUMNS),
                str(counts.decided), _rate(counts.met_rate)]

    lines = [line(r.site, r.code, r.counts) for r in report.rows]
    lines += [line("*", f"{t.endpoint}@{t.time_point}", t.counts)
              for t in report.by_time_point]
    lines.append(line("*", "*", report.total))
    return [header, *lines]


def safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run: one starting with = + - @ (or a tab or carriage
    return) gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_START) else value


def as_csv(table: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in table:
        writer.writerow([safe_cell(cell) for cell in line])
    return out.getvalue()


def as_text(table: Sequence[Sequence[str]]) -> str:
    """Aligned columns for a terminal: text left, numbers right."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    out = []
    for line in table:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"
