"""A CDISC USDM v4 study definition -> a schedule file of our language (YAML text).

Pure: JSON text in, YAML text and the list of what could not be translated out (each
:class:`~app.schedule.usdm_visits.Warning` at its JSON path). The YAML is written
line by line with comments saying where each value came from, strings quoted as JSON
(which YAML reads the same); the loader then validates it like any other file.

The study (code, title, registry id, version, planned enrolment) comes from the first
study version and its first design that holds the timeline; the visits from one
ScheduleTimeline (the main one unless named), read by :mod:`.usdm_visits`; a timeline of
early termination becomes a phase opened by withdrawal (:mod:`.usdm_phases`), the other
timelines are listed as not imported. A file that is not USDM 4 raises
:class:`~app.errors.ScheduleError` with one line saying why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from app.errors import ScheduleError
from app.schedule.timing import NO_WINDOW, Window
from app.schedule.usdm_phases import PhaseSpec, is_early_termination, withdrawal_phase
from app.schedule.usdm_visits import (
    AnchorSpec,
    JsonPath,
    TimelineReader,
    VisitSpec,
    Warning,
    decode,
    encounters_of,
    json_path,
    make_code,
    objects,
    text,
)

__all__ = ["UsdmImport", "Warning", "import_usdm"]


@dataclass(frozen=True, slots=True)
class UsdmImport:
    yaml: str
    warnings: tuple[Warning, ...]
    timeline: str
    other_timelines: tuple[str, ...]  # not imported
    phase_timelines: tuple[str, ...] = ()  # imported as phases opened by withdrawal


@dataclass(frozen=True, slots=True)
class _Timeline:
    name: str
    main: bool
    path: JsonPath
    data: Mapping[str, Any]
    design: Mapping[str, Any]


def _fail(source: str, path: JsonPath, message: str) -> ScheduleError:
    return ScheduleError([f"{source}: {json_path(path)}: {message}"])


def _document(text_: str, source: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text_)
    except json.JSONDecodeError as exc:
        raise ScheduleError([f"{source}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("study"), dict) or not isinstance(
        data.get("usdmVersion"), str
    ):
        raise _fail(source, (), 'not a USDM document: the root must be an object with "study" '
                    'and "usdmVersion" (USDM Wrapper)')
    if not data["usdmVersion"].startswith("4"):
        raise _fail(source, ("usdmVersion",), f'USDM version "{data["usdmVersion"]}": '
                    "only USDM 4 is read")
    return data


def _timelines(study: Mapping[str, Any], source: str) -> list[_Timeline]:
    versions = objects(study.get("versions"))
    if not versions:
        raise _fail(source, ("study", "versions"), "no study version")
    v, version = versions[0]
    out: list[_Timeline] = []
    for d, design in objects(version.get("studyDesigns")):
        for t, timeline in objects(design.get("scheduleTimelines")):
            path: JsonPath = ("study", "versions", v, "studyDesigns", d, "scheduleTimelines", t)
            name = text(timeline.get("name"))
            if not name:
                raise _fail(source, (*path, "name"), "a schedule timeline has no name")
            out.append(_Timeline(name, timeline.get("mainTimeline") is True, path, timeline,
                                 design))
    if not out:
        raise _fail(source, ("study", "versions", v, "studyDesigns"), "no schedule timeline")
    return out


def _listed(timelines: list[_Timeline]) -> str:
    return ", ".join(f'"{t.name}"' + (" (main)" if t.main else "") for t in timelines)


def _choose(timelines: list[_Timeline], wanted: str | None, source: str) -> _Timeline:
    if wanted is None:
        found = next((t for t in timelines if t.main), None)
        if found is None:
            raise ScheduleError([f"{source}: no timeline is marked mainTimeline; name one "
                                 f"with --timeline: {_listed(timelines)}"])
        return found
    found = next((t for t in timelines if wanted in (t.name, text(t.data.get("id")))), None)
    if found is None:
        raise ScheduleError([f'{source}: no timeline "{wanted}"; the file has '
                             f"{_listed(timelines)}"])
    return found


# -- the study section ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Study:
    code: str
    title: str
    registry_id: str | None
    version: str
    enrolment: int
    notes: tuple[str, ...]


def _study(doc: Mapping[str, Any], chosen: _Timeline, warn: list[Warning]) -> _Study:
    study = doc["study"]
    version = objects(study.get("versions"))[0][1]
    organizations = {text(o.get("id")): decode(o.get("type")).lower()
                     for _, o in objects(version.get("organizations"))}
    sponsor = registry = None
    for _, ident in objects(version.get("studyIdentifiers")):
        kind = organizations.get(text(ident.get("scopeId")), "")
        if "sponsor" in kind and sponsor is None:
            sponsor = text(ident.get("text"))
        if "registry" in kind and registry is None:
            registry = text(ident.get("text"))
    titles = {decode(t.get("type")): text(t.get("text"))
              for _, t in objects(version.get("titles"))}
    title = (titles.get("Official Study Title") or next(iter(titles.values()), "")
             or text(study.get("name")) or "Imported study")
    code = make_code(sponsor, text(study.get("name")))
    population = chosen.design.get("population")
    planned = population.get("plannedEnrollmentNumber") if isinstance(population, dict) else None
    enrolment = _number(planned)
    notes = [f"code: the sponsor's study identifier ({sponsor})" if sponsor == code
             else f'code: from the study name "{text(study.get("name"))}"']
    if enrolment is None:
        warn.append(Warning(json_path((*chosen.path[:-2], "population")),
                            "no plannedEnrollmentNumber: target_enrolment set to 1"))
        enrolment = 1
    return _Study(code, title[:300], (registry or "")[:40] or None,
                  text(version.get("versionIdentifier"))[:40] or "1", enrolment, tuple(notes))


def _number(quantity: object) -> int | None:
    if not isinstance(quantity, Mapping):
        return None
    for key in ("value", "maxValue"):
        value = quantity.get(key)
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
            return min(int(value), 1_000_000)
    return None


# -- YAML ---------------------------------------------------------------------------------


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _comment(line: str) -> str:
    return "# " + " ".join(line.split())


def _window(window: Window) -> str | None:
    if window == NO_WINDOW:
        return None
    if window.before == window.after:
        return str(window.before)
    return f"{{before: {window.before}, after: {window.after}}}"


def _visit_lines(visit: VisitSpec, indent: str = "  ") -> list[str]:
    lines = [indent + _comment(c) for c in visit.comments]
    lines.append(f"{indent}- code: {_q(visit.code)}")
    more = indent + "  "
    lines.append(f"{more}name: {_q(visit.name)}")
    if visit.after_visit:
        lines.append(f"{more}after_visit: {_q(visit.after_visit)}")
    lines.append(f"{more}at: {visit.at}")
    if (window := _window(visit.window)) is not None:
        lines.append(f"{more}window: {window}")
    if visit.kind != "clinic":
        lines.append(f"{more}kind: {visit.kind}")
    if visit.optional:
        lines.append(f"{more}optional: true")
    if visit.records:
        lines.append(f"{more}records: {visit.records}")
    return lines


def _phase_lines(phase: PhaseSpec) -> list[str]:
    lines = ["  " + _comment(c) for c in phase.comments]
    lines += [f"  - code: {_q(phase.code)}", f"    name: {_q(phase.name)}",
              "    condition: {event: withdrawal}", "    visits:"]
    for visit in phase.visits:
        lines += _visit_lines(visit, "      ")
    return lines


def _yaml(source: str, doc: Mapping[str, Any], chosen: _Timeline, others: list[_Timeline],
          study: _Study, anchor: AnchorSpec, visits: list[VisitSpec],
          phases: list[tuple[_Timeline, PhaseSpec]]) -> str:
    lines = [
        _comment(f"Imported from CDISC USDM {doc['usdmVersion']} ({PurePath(source).name}): "
                 f'timeline "{chosen.name}" at {json_path(chosen.path)}.'),
        "# Each visit says the instance, encounter and timings it comes from. Timings are",
        "# offsets from the anchor; chained timings are summed down to it.",
    ]
    for timeline, phase in phases:
        lines.append(_comment(f'Timeline "{timeline.name}" at {json_path(timeline.path)}: the'
                              f" phase {phase.code}, opened by withdrawal."))
    if others:
        lines.append(_comment(f"Other timelines, not imported (--timeline NAME): "
                              f"{_listed(others)}."))
    day_note = ("the anchor is Day 1, no Day 0 (a Fixed Reference P1D)" if anchor.anchor_day
                else "the anchor is Day 0 (a Fixed Reference P0D)")
    lines += [
        "study:",
        f"  {_comment(study.notes[0])}",
        f"  code: {_q(study.code)}",
        f"  title: {_q(study.title)}",
    ]
    if study.registry_id:
        lines.append(f"  registry_id: {_q(study.registry_id)}")
    lines += [
        f"  version: {_q(study.version)}",
        f"  target_enrolment: {study.enrolment}   # plannedEnrollmentNumber",
        '  time_zone: "UTC"   # USDM has no time zone: set the sites\' zone',
        f"  anchor_day: {anchor.anchor_day}   {_comment(day_note)}",
        "",
        "anchors:",
        f"  {_comment(f'the Fixed Reference instance {anchor.instance}')}",
        f"  - name: {anchor.name}",
        f"    label: {_q(anchor.label)}",
        "    recorded: later",
        "",
        "visits:",
    ]
    for visit in visits:
        lines += _visit_lines(visit)
    if phases:
        lines += ["", "phases:"]
        for _, phase in phases:
            lines += _phase_lines(phase)
    return "\n".join(lines) + "\n"


def import_usdm(text_: str, *, source: str, timeline: str | None = None) -> UsdmImport:
    """Translate a USDM v4 JSON document; raises ScheduleError when it is not one."""
    doc = _document(text_, source)
    timelines = _timelines(doc["study"], source)
    chosen = _choose(timelines, timeline, source)
    reader = TimelineReader(chosen.data, chosen.path, encounters_of(chosen.design))
    anchor = reader.anchor()
    visits = reader.visits(anchor)
    if not visits:
        raise _fail(source, chosen.path, f'timeline "{chosen.name}" has no instance with an '
                    "encounter and a timing: no visit to import")
    warnings: list[Warning] = []
    study = _study(doc, chosen, warnings)
    others: list[_Timeline] = []
    phases: list[tuple[_Timeline, PhaseSpec]] = []
    taken = {v.code for v in visits}
    for other in timelines:
        if other is chosen:
            continue
        phase = (withdrawal_phase(other.data, other.path, encounters_of(other.design), taken,
                                  {p.code for _, p in phases}, warnings)
                 if is_early_termination(other.data) else None)
        if phase is None:
            others.append(other)
            continue
        phases.append((other, phase))
        taken |= {v.code for v in phase.visits}
    yaml_text = _yaml(source, doc, chosen, others, study, anchor, visits, phases)
    return UsdmImport(yaml_text, tuple(reader.warnings + warnings), chosen.name,
                      tuple(t.name for t in others), tuple(t.name for t, _ in phases))
