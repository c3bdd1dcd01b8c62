"""The reports page of a study (visit compliance and endpoint completeness, with a small
chart drawn as inline SVG), its CSV downloads, and the list of studies to report on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.services.reports.compliance import ComplianceColumn, ComplianceCounts, compliance_report
from app.services.reports.endpoints import endpoint_report
from app.services.reports.export import (
    ENDPOINT_COLUMNS,
    ReportKind,
    as_csv,
    compliance_table,
    endpoints_table,
)
from app.services.studies import list_studies
from app.web.deps import Code, NowDep, WebActor, WebDb
from app.web.forms import parse_date
from app.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

AsOfQuery = Annotated[str | None, Query(max_length=10)]

# The chart's classes, left to right, and their legend labels.
LABELS = {
    ComplianceColumn.IN_WINDOW: "In window",
    ComplianceColumn.EARLY: "Early",
    ComplianceColumn.LATE: "Late",
    ComplianceColumn.MISSED_DOCUMENTED: "Missed, documented",
    ComplianceColumn.MISSED_UNDOCUMENTED: "Missed, not documented",
    ComplianceColumn.OVERDUE: "Overdue",
}


@dataclass(frozen=True, slots=True)
class Segment:
    column: ComplianceColumn
    count: int
    x: float  # percent of the bar's width
    width: float


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    expected: int
    segments: tuple[Segment, ...]


def bar(label: str, counts: ComplianceCounts) -> Bar:
    """One stacked bar: each class as its share of the expected visits."""
    segments = []
    x = 0.0
    for column in ComplianceColumn:
        n = counts.count(column)
        if n and counts.expected:
            width = 100 * n / counts.expected
            segments.append(Segment(column, n, round(x, 3), round(width, 3)))
            x += width
    return Bar(label, counts.expected, tuple(segments))


def _as_of(text: str | None) -> date | None:
    return parse_date(text, "As of") if text else None


@router.get("/reports")
def reports_index(request: Request, db: WebDb, actor: WebActor) -> Response:
    return render(request, "reports_index.html", {
        "nav": "reports", "studies": list_studies(db, actor=actor)})


@router.get("/studies/{study}/reports")
def reports_page(request: Request, db: WebDb, actor: WebActor, study: Code, now: NowDep,
                 as_of: AsOfQuery = None) -> Response:
    day = _as_of(as_of)
    compliance = compliance_report(db, study=study, actor=actor, now=now, as_of=day)
    endpoints = endpoint_report(db, study=study, actor=actor, now=now, as_of=day)
    bars = [bar(t.key, t.counts) for t in compliance.by_site]
    bars.append(bar("All sites", compliance.total))
    return render(request, "reports.html", {
        "nav": "reports", "study": compliance.study, "c": compliance, "e": endpoints,
        "as_of": as_of or "", "dates": sorted(set(compliance.as_of.values())),
        "bars": bars, "labels": LABELS, "columns": list(ComplianceColumn),
        "endpoint_columns": ENDPOINT_COLUMNS,
    })


@router.get("/studies/{study}/reports/{kind}.csv")
def report_csv(db: WebDb, actor: WebActor, study: Code, kind: ReportKind, now: NowDep,
               as_of: AsOfQuery = None) -> Response:
    day = _as_of(as_of)
    if kind is ReportKind.COMPLIANCE:
        table = compliance_table(
            compliance_report(db, study=study, actor=actor, now=now, as_of=day))
    else:
        table = endpoints_table(endpoint_report(db, study=study, actor=actor, now=now, as_of=day))
    return Response(as_csv(table), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{study}-{kind.value}.csv"',
        "Cache-Control": "no-store",
    })
