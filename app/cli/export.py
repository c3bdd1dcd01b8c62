"""followup export csv|odm|sdtm|fhir --study CODE [--site CODE] [--out PATH]"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from app.cli.context import CliContext, pass_cli
from app.services.exports import ExportFormat, start_export


@click.command("export")
@click.argument("format", type=click.Choice([f.value for f in ExportFormat]))
@click.option("--study", "study_code", required=True, help="Study code, e.g. UCART-SLE")
@click.option("--site", "site_code", default=None, help="Only the subjects now at this site")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output)")
@pass_cli
def export_command(
    ctx: CliContext, format: str, study_code: str, site_code: str | None, out: Path | None
) -> None:
    """A study's subjects and visits as CSV, CDISC ODM 1.3.2 or SDTM.

    csv: one row per visit, for a spreadsheet. odm: a CDISC ODM 1.3.2 Snapshot (the
    protocol as metadata, the visits as clinical data). sdtm: a ZIP of the CDISC SDTM SV
    and TV domains as CSV and SAS transport (XPT v5) files. fhir: an HL7 FHIR R4 Bundle
    (JSON). The export is audited (study.exported) before it is written; the file is
    written as it is read, whatever the study's size, and --out appears only once complete.
    """
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        export = start_export(session, study=study_code, format=ExportFormat(format),
                              site=site_code, actor=ctx.actor, now=now)
    with ctx.unit_of_work(write=False) as session:
        if out is None:
            for piece in export.body(session):
                sys.stdout.buffer.write(piece)
            sys.stdout.buffer.flush()
            return
        size = 0
        folder = out.resolve().parent
        handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                for piece in export.body(session):
                    file.write(piece)
                    size += len(piece)
            os.replace(partial, out)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    click.echo(f"exported {export.scope.study} as {format} to {out} ({size} bytes)", err=True)


COMMANDS: list[click.Command] = [export_command]
