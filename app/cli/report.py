"""followup report compliance|endpoints"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import click

from app.cli.context import CliContext, pass_cli
from app.db import utcnow
from app.services.reports.compliance import compliance_report
from app.services.reports.endpoints import endpoint_report
from app.services.reports.export import (
    ReportFormat,
    as_csv,
    as_text,
    compliance_dict,
    compliance_table,
    endpoints_dict,
    endpoints_table,
)


@click.group("report")
def report_group() -> None:
    """Visit compliance and endpoint completeness reports."""


def _options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
        help="Compute statuses as of this date at every site (default: each site's today).",
    )(command)
    command = click.option(
        "--format", "fmt", type=click.Choice([f.value for f in ReportFormat]),
        default=ReportFormat.TABLE.value, show_default=True,
        help="An aligned table, CSV (formula-like cells neutralised) or the API's JSON.",
    )(command)
    return click.option("--study", required=True, metavar="CODE", help="The study.")(command)


def _json_default(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _emit(fmt: str, table: list[list[str]], data: dict[str, Any]) -> None:
    if fmt == ReportFormat.JSON:
        click.echo(json.dumps(data, indent=2, default=_json_default))
    elif fmt == ReportFormat.CSV:
        click.echo(as_csv(table), nl=False)
    else:
        click.echo(as_text(table), nl=False)


@report_group.command("compliance")
@_options
@pass_cli
def compliance(ctx: CliContext, study: str, fmt: str, as_of: datetime | None) -> None:
    """Visit compliance per site and visit: in window, early, late, missed (documented or
    not), overdue, and each as a share of the visits expected by now.

    Lines with site "*" are the totals per visit; visit "*" per site; both the study's.
    """
    with ctx.unit_of_work(write=False) as session:
        report = compliance_report(session, study=study, actor=ctx.actor, now=utcnow(),
                                   as_of=as_of.date() if as_of else None)
    _emit(fmt, compliance_table(report), compliance_dict(report))


@report_group.command("endpoints")
@_options
@pass_cli
def endpoints(ctx: CliContext, study: str, fmt: str, as_of: datetime | None) -> None:
    """Endpoint completeness per site and time point: met, open, scheduled, missed,
    pending, cancelled (not applicable), and met as a share of met or missed.

    Lines with site "*" are the totals per time point, and the study's.
    """
    with ctx.unit_of_work(write=False) as session:
        report = endpoint_report(session, study=study, actor=ctx.actor, now=utcnow(),
                                 as_of=as_of.date() if as_of else None)
    _emit(fmt, endpoints_table(report), endpoints_dict(report))


COMMANDS = [report_group]
