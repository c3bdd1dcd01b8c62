"""followup schedule validate|preview|load|schema (and import-usdm, in :mod:`.usdm`)"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from app.cli.context import CliContext, pass_cli
from app.cli.usdm import import_usdm_command
from app.errors import ScheduleError
from app.schedule.calendar import Calendar, CalendarVisit, build_calendar
from app.schedule.dates import local_today
from app.schedule.expand import AnchorDate
from app.schedule.jsonschema import schema_text
from app.schedule.language import Protocol
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import load_protocol, parse_protocol, read_schedule
from app.schedule.plan import build_plan
from app.schedule.recording import anchor_records
from app.schedule.status import Status
from app.schedule.vocabulary import refused_value
from app.services.studies import LoadResult, load_schedule

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILES = click.Path(exists=True, path_type=Path)
COLUMNS = (
    "code", "name", "phase", "kind", "optional", "anchor", "target_date", "window_start",
    "window_end", "study_day", "status", "days_early", "days_late", "days_from_target",
    "days_overdue", "missed_from", "provisional", "reason",
)


class BadArgument(click.BadParameter):
    """A bad option value, shown as one line on stderr (exit status 2, as click's)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.group("schedule")
def schedule_group() -> None:
    """Schedule files: validate, preview, load into the database."""


def schedule_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, and the *.yaml / *.yml files of directories (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            if not found:
                raise BadArgument(f"no .yaml files in {path}", param_hint="PATHS")
            out += found
        else:
            out.append(path)
    return out


@schedule_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=FILES)
def validate(paths: tuple[Path, ...]) -> None:
    """Check schedule files (or directories of them); print every problem.

    Exit status 0 when all are valid, 1 otherwise, with one line per problem on
    stderr: FILE:LINE:COL: field.path: message.
    """
    problems: list[str] = []
    for path in schedule_files(paths):
        try:
            protocol = load_protocol(path)
        except ScheduleError as exc:
            problems += exc.problems
            continue
        plan = build_plan(protocol)
        points = sum(len(e.time_points) for e in protocol.endpoints)
        click.echo(f"{path}: ok ({protocol.study.code} {protocol.study.version}: "
                   f"{_plural(len(plan.visits), 'visit')}, "
                   f"{_plural(len(protocol.phases), 'conditional phase')}, "
                   f"{_plural(points, 'endpoint time point')})")
    if problems:
        raise ScheduleError(problems)


@schedule_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of the schedule language (schedules/schedule.schema.json)."""
    click.echo(schema_text(), nl=False)


@schedule_group.command("load")
@click.argument("paths", nargs=-1, required=True, type=FILES)
@pass_cli
def load(ctx: CliContext, paths: tuple[Path, ...]) -> None:
    """Load schedule files (or directories of them) into the database.

    Every file is validated first; if any is invalid nothing is loaded. Then all are
    loaded in one transaction: a version already loaded with the same text is left
    unchanged, one loaded with other text aborts everything.
    """
    texts: list[tuple[Path, str]] = []
    problems: list[str] = []
    for path in schedule_files(paths):
        try:
            text = read_schedule(path)
            parse_protocol(text, source=str(path))
        except ScheduleError as exc:
            problems += exc.problems
            continue
        texts.append((path, text))
    if problems:
        raise ScheduleError(problems)
    results: list[LoadResult] = []
    with ctx.unit_of_work() as session:
        for path, text in texts:
            results.append(load_schedule(session, text=text, source=str(path), actor=ctx.actor))
    # Printed only once committed: a conflict in the last file loads nothing.
    for result in results:
        click.echo(f"{'loaded' if result.created else 'unchanged'} {result.study} {result.version}")


# -- preview ------------------------------------------------------------------------


def _date(text: str, option: str, given: str) -> date:
    try:
        if _DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise BadArgument(f'"{given}": {text!r} is not a date (YYYY-MM-DD)', param_hint=option)


def _anchors(
    protocol: Protocol, actual: Sequence[str], planned: Sequence[str]
) -> dict[str, AnchorDate]:
    known = [a.name for a in protocol.anchors]
    out: dict[str, AnchorDate] = {}
    for option, values, is_actual in (("--anchor", actual, True),
                                      ("--planned-anchor", planned, False)):
        for given in values:
            name, sep, day = given.partition("=")
            if not sep:
                raise BadArgument(f'"{given}": write NAME=YYYY-MM-DD', param_hint=option)
            if name not in known:
                raise BadArgument(f'"{given}": unknown anchor "{name}"; this protocol\'s '
                                         f"anchors are {', '.join(known)}", param_hint=option)
            if name in out:
                raise BadArgument(f'"{given}": anchor {name} is given twice',
                                         param_hint=option)
            out[name] = AnchorDate(_date(day, option, given), actual=is_actual)
    return out


def _events(protocol: Protocol, values: Sequence[str]) -> list[Event]:
    kinds = ", ".join(t.value for t in EventType)
    out: list[Event] = []
    for given in values:
        kind, sep, rest = given.partition("=")
        if not sep or kind not in {t.value for t in EventType}:
            raise BadArgument(f'"{given}": write TYPE=YYYY-MM-DD with TYPE one of {kinds}'
                                     ", or response=VALUE@YYYY-MM-DD", param_hint="--event")
        value, at, day = rest.rpartition("@")
        if kind == EventType.RESPONSE and not (at and value):
            raise BadArgument(f'"{given}": a response needs its value, e.g. '
                                     "response=CR@2025-05-20", param_hint="--event")
        if kind != EventType.RESPONSE and at:
            raise BadArgument(f'"{given}": only a response has a value',
                                     param_hint="--event")
        if value and (refused := refused_value(protocol, kind, value)):
            raise BadArgument(f'"{given}": {refused.message}', param_hint="--event")
        out.append(Event(EventType(kind), _date(day, "--event", given), value or None))
    return out


def _row(item: CalendarVisit) -> dict[str, Any]:
    v, info = item.visit, item.info
    return {
        "code": v.code, "name": v.name, "phase": v.phase, "kind": v.kind,
        "optional": v.optional, "anchor": v.anchor,
        "target_date": v.target_date, "window_start": v.window_start,
        "window_end": v.window_end, "study_day": v.study_day, "status": info.status.value,
        "days_early": info.days_early, "days_late": info.days_late,
        "days_from_target": info.days_from_target, "days_overdue": info.days_overdue,
        # Only once the visit counts as missed: before that it is a date to come.
        "missed_from": v.missed_from if info.status is Status.MISSED_UNDOCUMENTED else None,
        "provisional": v.provisional, "reason": v.reason,
    }


def _rows(calendar: Calendar) -> list[dict[str, Any]]:
    # By target date; undated (pending) visits last, in the protocol's order.
    ordered = sorted(
        enumerate(calendar.visits),
        key=lambda t: (t[1].visit.target_date is None, t[1].visit.target_date or date.min, t[0]),
    )
    return [_row(item) for _, item in ordered]


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else _iso(value)


def _day(value: date | None) -> str:
    return f"{value:%a} {value.isoformat()}" if value else "-"


def _span(start: date | None, end: date | None) -> str:
    if start is None or end is None:
        return "-"
    return start.isoformat() if start == end else f"{start.isoformat()} .. {end.isoformat()}"


def _status(row: dict[str, Any]) -> str:
    text = str(row["status"]).replace("_", " ")
    for key, word in (("days_early", "early"), ("days_late", "late"),
                      ("days_overdue", "overdue")):
        if row[key]:
            text += f" ({row[key]} d{'' if key == 'days_overdue' else ' ' + word})"
    if row["days_from_target"]:
        text += f" ({row['days_from_target']:+d} d from target)"
    if row["missed_from"]:
        text += f" (since {row['missed_from'].isoformat()})"
    return text


def _table(protocol: Protocol, calendar: Calendar, anchors: dict[str, AnchorDate]) -> str:
    given = ", ".join(f"{n} {a.date.isoformat()}{'' if a.actual else ' (planned)'}"
                      for n, a in anchors.items()) or "none"
    lines = [f"{protocol.study.code} {protocol.study.version}, as of {_day(calendar.as_of)}; "
             f"anchors: {given}", ""]
    body = [("VISIT", "DATE", "DAY", "WINDOW", "STATUS", "PHASE", "NAME / NOTE")]
    for row in _rows(calendar):
        mark = "*" if row["provisional"] else ""
        note = row["name"] + (f" [{row['reason']}]" if row["reason"] else "")
        day = "" if row["study_day"] is None else str(row["study_day"])
        body.append((row["code"], _day(row["target_date"]) + mark, day,
                     _span(row["window_start"], row["window_end"]), _status(row),
                     row["phase"], note))
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]) - 1)]
    for r in body:
        cells = [c.rjust(w) if i == 2 else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r[:-1], widths, strict=True))]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    if any(item.visit.provisional for item in calendar.visits):
        lines.append("* provisional: from a planned anchor or a visit not done yet")
    if calendar.phases:
        lines += ["", "Phases"]
        for code, state in calendar.phases.items():
            why = next((v.visit.reason for v in calendar.visits
                        if v.visit.phase == code and v.visit.reason), None)
            note = f" ({why.removeprefix(f'phase {code} ')})" if why and state != "active" else ""
            lines.append(f"  {code}: {state.value.replace('_', ' ')}{note}")
    if calendar.periods:
        lines += ["", "Periods"]
        width = max(len(p.code) for p in calendar.periods)
        for p in calendar.periods:
            when = (f"{_day(p.start)} .. {_day(p.end)}{' (provisional)' if p.provisional else ''}"
                    if p.start and p.end else f"waiting for anchor {p.anchor}"
                    + (f" and {p.end_anchor}" if p.end_anchor else ""))
            lines.append(f"  {p.code.ljust(width)}  {when}  {p.name}")
    if calendar.endpoints:
        lines += ["", "Endpoint windows"]
        width = max(len(e.code) for e in calendar.endpoints)
        for e in calendar.endpoints:
            met = f" by {e.satisfied_by}" if e.satisfied_by else ""
            lines.append(f"  {e.code.ljust(width)}  {_day(e.target_date)}  "
                         f"{_span(e.window_start, e.window_end)}  {e.status.value}{met}")
    return "\n".join(lines)


@schedule_group.command("preview")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--anchor", "actual", multiple=True, metavar="NAME=YYYY-MM-DD",
              help="An anchor's actual date (repeatable)")
@click.option("--planned-anchor", "planned", multiple=True, metavar="NAME=YYYY-MM-DD",
              help="An anchor's planned date: its visits are provisional (repeatable)")
@click.option("--event", "events", multiple=True,
              metavar="TYPE=YYYY-MM-DD|response=VALUE@YYYY-MM-DD",
              help="A recorded event: response, progression, death, withdrawal, "
                   "lost_to_follow_up, screen_failure, study_completed (repeatable)")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="Statuses as of this date [default: today in the study's time zone]")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def preview(file: Path, actual: tuple[str, ...], planned: tuple[str, ...],
            events: tuple[str, ...], as_of: str | None, fmt: str) -> None:
    """Print the calendar FILE gives a patient with the given anchor dates and events."""
    protocol = load_protocol(file)
    anchors = _anchors(protocol, actual, planned)
    recorded = _events(protocol, events)
    if as_of is not None:
        today = _date(as_of, "--as-of", as_of)
    else:
        # The only place the clock is read: "today" is the study's local date.
        today = local_today(datetime.now(UTC), protocol.study.time_zone)
    plan = build_plan(protocol)
    # As an enrolment would: an actual anchor (not after today) completes the visit that
    # records it.
    past = {name: a for name, a in anchors.items() if a.date <= today}
    calendar = build_calendar(plan, anchors, recorded, anchor_records(plan, past),
                              today=today)
    rows = _rows(calendar)
    if fmt == "json":
        click.echo(json.dumps([{k: _iso(v) for k, v in r.items()} for r in rows], indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _cell(v) for k, v in r.items()})
    else:
        click.echo(_table(protocol, calendar, anchors))


schedule_group.add_command(import_usdm_command)
COMMANDS: list[click.Command] = [schedule_group]
