"""followup schedule import-usdm: a CDISC USDM v4 study definition -> a schedule file."""

from __future__ import annotations

from pathlib import Path

import click

from app.errors import ScheduleError
from app.schedule.loader import parse_protocol
from app.schedule.usdm import import_usdm


@click.command("import-usdm")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--timeline", metavar="NAME",
              help="The ScheduleTimeline to import, by name or id [default: the main one]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.yaml",
              help="Write the schedule there [default: standard output]")
def import_usdm_command(file: Path, timeline: str | None, out: Path | None) -> None:
    """Turn a CDISC USDM v4 JSON study definition into a schedule file (YAML).

    A timeline of early termination becomes a phase opened by withdrawal; the other
    timelines are not imported. What the schedule cannot say (free-text decisions,
    timings shorter than a day) is printed on stderr, one "warning: JSON.PATH: message"
    line each; the exit status is still 0. A file that is not USDM 4 exits 1 with one
    line saying why.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError([f"{file}: cannot be read: {exc}"]) from None
    result = import_usdm(text, source=str(file), timeline=timeline)
    # What is written must load like any hand-written schedule.
    parse_protocol(result.yaml, source=str(out or "<import-usdm>"))
    if out is None:
        click.echo(result.yaml, nl=False)
    else:
        out.write_text(result.yaml, encoding="utf-8")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.other_timelines or result.phase_timelines:
        line = f'imported timeline "{result.timeline}"'
        if result.phase_timelines:
            line += ", and " + ", ".join(f'"{name}"' for name in result.phase_timelines)
            line += " as a phase opened by withdrawal"
        if result.other_timelines:
            line += "; not imported: " + ", ".join(f'"{n}"' for n in result.other_timelines)
        click.echo(line, err=True)
