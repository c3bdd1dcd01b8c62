"""followup subjects import|resync"""

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
from app.services.subjects.resync import BATCH_SUBJECTS, resync_batch


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


@subjects_group.command("resync")
@click.option("--study", "study_code", default=None, help="Only this study (default: all)")
@click.option("--batch", "batch", type=click.IntRange(1, 10_000), default=BATCH_SUBJECTS,
              show_default=True, help="Subjects per transaction")
@pass_cli
def resync_command(ctx: CliContext, study_code: str | None, batch: int) -> None:
    """Expand every subject's calendar again and store what differs.

    For databases written before a change of the scheduling rules (e.g. the date a
    visit counts as missed from). One transaction per batch of subjects; a progress
    line on stderr after each. Running it again changes nothing and says so. Each
    subject changed gets a subject.resynced audit record. A visit that records an
    anchor and that anchor are brought in line first (each change audited); what
    disagrees between them is listed, never resolved.
    """
    now = datetime.now(UTC)
    after, examined, changed, visits, completed, anchors = 0, 0, 0, 0, 0, 0
    disagreements: list[str] = []
    while True:
        with ctx.unit_of_work() as session:
            result = resync_batch(session, actor=ctx.actor, now=now, study=study_code,
                                  after_id=after, limit=batch)
        if result.last_id is None:
            break
        after = result.last_id
        examined += result.examined
        changed += len(result.changed)
        visits += result.visits_changed
        completed += result.visits_completed
        anchors += result.anchors_set
        disagreements += result.disagreements
        click.echo(f"resync: {examined} subject(s) checked, {changed} changed", err=True)
    scope = f" of {study_code}" if study_code else ""
    if changed:
        click.echo(f"resynced {changed} of {examined} subject(s){scope}: {visits} visit row(s)"
                   " created or changed")
    else:
        click.echo(f"nothing to change: the {examined} subject(s){scope} already agree with"
                   " their calendars")
    if completed or anchors:
        click.echo(f"one fact, one entry: {completed} visit(s) completed from their actual"
                   f" anchor, {anchors} anchor(s) set from their completed visit")
    for line in disagreements:
        click.echo(f"left as it is, to correct by hand: {line}")


COMMANDS: list[click.Command] = [subjects_group]
