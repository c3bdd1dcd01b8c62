"""followup subjects import"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from app.cli.context import CliContext, pass_cli
from app.errors import InvalidRows
from app.services.bulk.csv_import import import_csv


@click.group("subjects")
def subjects_group() -> None:
    """Subjects of a study."""


def _counted(file: TextIO, bar: Any) -> Iterator[str]:
    # The bar advances by characters read, close enough to bytes for a CSV file.
    for line in file:
        bar.update(len(line))
        yield line


@subjects_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--study", "study_code", required=True, help="Study code, e.g. UCART-SLE")
@click.option("--skip-invalid", is_flag=True,
              help="Import the good rows and list the bad ones (default: all or nothing)")
@pass_cli
def import_command(ctx: CliContext, file: Path, study_code: str, skip_invalid: bool) -> None:
    """Enrol every subject of a CSV file (one transaction).

    Columns: subject_id, site, consent_date, date_of_birth, then one column per anchor
    known at import (e.g. infusion) with an optional infusion_planned (true/false).
    Every bad row is listed as FILE:LINE: COLUMN: MESSAGE.
    """
    show_bar = sys.stderr.isatty()
    now = datetime.now(UTC)
    try:
        with ctx.unit_of_work() as session, open(file, newline="", encoding="utf-8-sig") as f, \
                click.progressbar(length=os.path.getsize(file), label="importing", file=sys.stderr,
                                  hidden=not show_bar) as bar:
            result = import_csv(session, study_code=study_code, actor=ctx.actor,
                                lines=_counted(f, bar), skip_invalid=skip_invalid, now=now)
    except InvalidRows as exc:
        for problem in exc.extra.get("errors", []):
            field = f" {problem['field']}:" if problem["field"] else ""
            click.echo(f"{file}:{problem['index']}:{field} {problem['message']}", err=True)
        click.echo(f"error: {exc.detail}", err=True)
        raise SystemExit(1) from None
    for problem in result.problems:
        click.echo(problem.line(str(file)), err=True)
    click.echo(
        f"imported {result.imported} subject(s) with {result.visits} visit(s) into {result.study}"
        + (f"; skipped {result.skipped} invalid row(s)" if result.skipped else "")
    )


COMMANDS: list[click.Command] = [subjects_group]
