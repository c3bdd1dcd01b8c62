"""Cross-reference checks of a schedule file, run on the raw YAML data.

The pydantic models check each entry's shape. What needs the whole file is checked
here: names that must exist (anchors, visits), codes that must be unique (visit codes
after series expansion, sites, anchors, phases, endpoints, periods, declared event
values), series templates, cycles in visit-relative timing, study-day notation under the
study's convention, endpoints that no visit can ever satisfy, phase conditions on values
the protocol does not declare, and visits that record an anchor.

The checks read the raw data (plain dicts and lists) and skip whatever has the wrong
shape, so they also run when the models refused the file: a wrong type and an unknown
anchor are then reported in the same run.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from app.schedule.dates import Offset
from app.schedule.language import (
    CODE_PATTERN,
    Condition,
    Duration,
    EventValues,
    Visit,
    parse_duration,
)
from app.schedule.plan import MAIN_PHASE, expand_codes, resolve
from app.schedule.vocabulary import unknown_value_message

Path = tuple[str | int, ...]
_CODE = re.compile(CODE_PATTERN)
_TEMPLATE_FIELDS = frozenset({"n", "i"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: where (a field path) and what.

    It is shown at the value's position, at the key's with ``at_key``, or at
    ``position`` (line, column) when the reader already knows it.
    """

    path: Path
    message: str
    at_key: bool = False
    position: tuple[int, int] | None = None


def format_path(path: Path) -> str:
    """``("visits", 5, "window", "after")`` -> ``visits[5].window.after``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass
class _VisitEntry:
    path: Path
    raw: dict[str, Any]
    phase: str  # MAIN_PHASE or the phase's code
    default_anchor: str | None  # the anchor of its schedule (the study's, or the phase's)
    codes: list[str] = field(default_factory=list)


def _entries(data: dict[str, Any], key: str, base: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    return [(base + (key, i), item) for i, item in enumerate(items) if isinstance(item, dict)]


def _duration(value: object) -> Duration | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class _Checker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.problems: list[Problem] = []
        study = root.get("study")
        day = study.get("anchor_day") if isinstance(study, dict) else None
        self.anchor_day = day if day in (0, 1) and not isinstance(day, bool) else None
        self.anchors: set[str] = set()
        self.recorded_later: set[str] = set()  # anchors recorded after enrolment
        self.visits: list[_VisitEntry] = []
        self.codes: dict[str, _VisitEntry] = {}
        self.vocabularies: dict[str, list[str]] = {}

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def unique(self, section: str, what: str, key: str = "code") -> set[str]:
        seen: dict[str, Path] = {}
        for path, item in _entries(self.root, section):
            value = _text(item.get(key))
            if value is None:
                continue
            if value in seen:
                self.add(path + (key,), f'duplicate {what} "{value}" (first at '
                                        f"{format_path(seen[value])})")
            else:
                seen[value] = path
        return set(seen)

    def anchor_ref(self, path: Path, value: object) -> None:
        name = _text(value)
        if name is None or not self.anchors or name in self.anchors:
            return
        self.add(path, f'unknown anchor "{name}"{did_you_mean(name, self.anchors)}; '
                       f"declared anchors: {', '.join(sorted(self.anchors))}")

    def study_day(self, path: Path, value: object) -> None:
        """Day 0 does not exist when the anchor is Day 1 (SDTM convention)."""
        d = _duration(value)
        if d is not None and d.study_day and d.amount == 0 and self.anchor_day == 1:
            self.add(path, "there is no day 0 when study.anchor_day is 1 "
                           '(the anchor is "day 1" and the day before it "day -1")')

    # -- sections ---------------------------------------------------------------------

    def run(self) -> list[Problem]:
        self.anchors = self.unique("anchors", "anchor", key="name")
        declared = _entries(self.root, "anchors")
        self.recorded_later = {item["name"] for _, item in declared
                               if isinstance(item.get("name"), str)
                               and item.get("recorded") == "later"}
        self.unique("sites", "site code")
        self.event_values()
        if "default_anchor" in self.root:
            self.anchor_ref(("default_anchor",), self.root["default_anchor"])
        main = _text(self.root.get("default_anchor")) or next(
            (_text(item.get("name")) for _, item in declared), None)
        for path, raw in _entries(self.root, "visits"):
            self.visits.append(_VisitEntry(path, raw, MAIN_PHASE, main))
        self.phases()
        for entry in self.visits:
            self.visit(entry)
        self.timing()
        self.recording()
        self.endpoints()
        self.periods()
        return self.problems

    def phases(self) -> None:
        self.unique("phases", "phase code")
        for path, phase in _entries(self.root, "phases"):
            code = _text(phase.get("code"))
            if code == MAIN_PHASE:
                self.add(path + ("code",), f'"{MAIN_PHASE}" names the main schedule; '
                                           "choose another phase code")
            self.anchor_ref(path + ("anchor",), phase.get("anchor"))
            condition = phase.get("condition")
            if isinstance(condition, dict):
                self.condition(path + ("condition",), condition)
            for vpath, raw in _entries(phase, "visits", path):
                self.visits.append(_VisitEntry(vpath, raw, code or f"phases[{path[1]}]",
                                               _text(phase.get("anchor"))))

    def event_values(self) -> None:
        """Each declared value once. Values are case-sensitive codes, but two that differ
        only in case (CR, cr) would be told apart by nobody recording them."""
        section = self.root.get("event_values")
        if not isinstance(section, dict):
            return
        # Other keys are reported as unknown by the models.
        for event in (e for e in section if e in EventValues.model_fields):
            seen: dict[str, tuple[str, Path]] = {}  # casefolded -> (as written, where)
            for path, term in _entries(section, event, ("event_values",)):
                value = _text(term.get("value"))
                if value is None or not _CODE.match(value):
                    continue
                first = seen.get(value.casefold())
                if first is None:
                    seen[value.casefold()] = (value, path)
                elif first[0] == value:
                    self.add(path + ("value",), f'duplicate {event} value "{value}" (first at '
                                                f"{format_path(first[1])})")
                else:
                    self.add(path + ("value",), f'"{value}" differs from "{first[0]}" (first at '
                                                f"{format_path(first[1])}) only in case: "
                                                "declare one of them")
            self.vocabularies[event] = [value for value, _ in seen.values()]

    def condition(self, path: Path, condition: dict[str, Any]) -> None:
        """A condition names only values its event declares (when it declares any)."""
        event = _text(condition.get("event", Condition.model_fields["event"].default))
        declared = self.vocabularies.get(event) if event is not None else None
        values = condition.get("values")
        if event is None or not declared or not isinstance(values, list):
            return
        for i, value in enumerate(values):
            if isinstance(value, str) and value not in declared:
                self.add(path + ("values", i), unknown_value_message(event, value, declared))

    def visit(self, entry: _VisitEntry) -> None:
        path, raw = entry.path, entry.raw
        self.anchor_ref(path + ("anchor",), raw.get("anchor"))
        self.study_day(path + ("at",), raw.get("at"))
        code = _text(raw.get("code"))
        if code is None:
            return
        if "series" in raw:
            if not self.template(path, raw):
                return
            try:
                # Only code and series matter here; other mistakes are reported elsewhere.
                visit = Visit.model_validate({"code": code, "name": "-", "series": raw["series"]})
            except ValidationError:
                return
            entry.codes = expand_codes(visit)
        else:
            if "{" in code or "}" in code:
                self.add(path + ("code",), "only a series code may use {n} or {i}")
                return
            entry.codes = [code]
        for made in entry.codes:
            if not _CODE.match(made):
                self.add(path + ("code",), f'"{made}" is not a valid visit code: letters, digits '
                                           "and _ . + -, starting with a letter or digit")
            elif made in self.codes:
                first = self.codes[made]
                self.add(path + ("code",), f'duplicate visit code "{made}" (first at '
                                           f"{format_path(first.path)})")
            else:
                self.codes[made] = entry

    def template(self, path: Path, raw: dict[str, Any]) -> bool:
        """A series' code must name {n} or {i}; code and name may use nothing else."""
        ok = True
        for key in ("code", "name"):
            text = _text(raw.get(key))
            if text is None:
                continue
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                self.add(path + (key,), f"bad template: {exc} (write {{n}} or {{i}})")
                ok = False
                continue
            if names - _TEMPLATE_FIELDS:
                bad = ", ".join(f"{{{f}}}" for f in sorted(names - _TEMPLATE_FIELDS))
                self.add(path + (key,), f"unknown placeholder {bad}: use {{n}} (the time point) "
                                        "or {i} (the position in the series)")
                ok = False
            elif key == "code" and not names:
                self.add(path + (key,), "a series code must contain {n} or {i}, "
                                        "or every time point gets the same code")
                ok = False
        return ok

    def timing(self) -> None:
        """after_visit must name a visit, never reach into a conditional phase from the
        main schedule, and never form a cycle."""
        edges: dict[str, tuple[str, _VisitEntry]] = {}
        for entry in self.visits:
            target = _text(entry.raw.get("after_visit"))
            if target is None:
                continue
            path = entry.path + ("after_visit",)
            at = _duration(entry.raw.get("at"))
            if at is not None and at.study_day:
                self.add(entry.path + ("at",), f'write the time after visit {target} as '
                                               f'"{at.amount} days", not "day {at.amount}"')
            elif at is not None and at.amount < 0:
                self.add(entry.path + ("at",), f"must be >= 0 days after visit {target}")
            found = self.codes.get(target)
            if found is None:
                self.add(path, f'unknown visit "{target}"{did_you_mean(target, self.codes)}')
                continue
            if entry.phase == MAIN_PHASE and found.phase != MAIN_PHASE:
                self.add(path, f"a visit of the main schedule cannot be timed from visit "
                               f"{target} of the conditional phase {found.phase}")
            for code in entry.codes:
                edges[code] = (target, entry)
        reported: set[frozenset[str]] = set()
        for start in edges:
            chain: list[str] = []
            node: str | None = start
            while node is not None and node in edges and node not in chain:
                chain.append(node)
                node = edges[node][0]
            if node is None or node not in chain:
                continue
            cycle = chain[chain.index(node):]
            if frozenset(cycle) in reported:
                continue
            reported.add(frozenset(cycle))
            entry = min((edges[c][1] for c in cycle), key=self.visits.index)
            first = entry.codes[0]
            loop = cycle[cycle.index(first):] + cycle[: cycle.index(first)] + [first]
            message = (f"visit {first} is timed after itself" if len(cycle) == 1
                       else f"timing cycle: {' -> '.join(loop)}")
            self.add(entry.path + ("after_visit",), message)

    def recording(self) -> None:
        """A visit that records an anchor is the anchor's own entry: it happens on the
        anchor's day (day 0, or day 1 under the Day 1 convention), with no window, timed
        from that very anchor, which is recorded after enrolment; a series cannot record
        one (an anchor has one date), and an anchor is recorded by one visit at most."""
        recorders: dict[str, _VisitEntry] = {}
        for entry in self.visits:
            name = _text(entry.raw.get("records"))
            if name is None:
                continue
            path = entry.path + ("records",)
            if self.anchors and name not in self.anchors:
                self.anchor_ref(path, name)
                continue
            if name in recorders:
                first = recorders[name]
                self.add(path, f"anchor {name} is already recorded by visit "
                               f"{_text(first.raw.get('code'))} (at {format_path(first.path)})")
                continue
            recorders[name] = entry
            if self.anchors and name not in self.recorded_later:
                self.add(path, f"anchor {name} is recorded at enrolment; a visit can only "
                               "record an anchor recorded later")
            if "series" in entry.raw:
                self.add(path, "a series cannot record an anchor: the anchor has one date")
                continue
            after = _text(entry.raw.get("after_visit"))
            timed_from = _text(entry.raw.get("anchor")) or entry.default_anchor
            if after is not None:
                self.add(path, f"a visit that records anchor {name} is timed from it, not "
                               f"after visit {after}")
            elif timed_from is not None and timed_from != name:
                self.add(path, f"a visit that records anchor {name} must be timed from it, "
                               f"not from {timed_from} (add anchor: {name})")
            at = _duration(entry.raw.get("at"))
            if at is not None and self.anchor_day is not None and not (
                    at.study_day and at.amount == 0 and self.anchor_day == 1) and resolve(
                    at, self.anchor_day) != Offset():
                day = f"day {self.anchor_day}"
                self.add(entry.path + ("at",), f'a visit that records anchor {name} is on '
                                               f'the anchor\'s day: write "{day}"')
            self.no_window(entry, name)

    def no_window(self, entry: _VisitEntry, name: str) -> None:
        window = entry.raw.get("window")
        sides = [window] if not isinstance(window, dict) else [
            window.get("before"), window.get("after")]
        if any(d is not None and d.amount != 0 for d in map(_duration, sides)):
            self.add(entry.path + ("window",), f"a visit that records anchor {name} has no "
                                               "window: it is done on the anchor's day")

    def endpoints(self) -> None:
        self.unique("endpoints", "endpoint code")
        carried: dict[str, set[str]] = {}
        for entry in self.visits:
            assessments = entry.raw.get("assessments")
            names = {a for a in assessments if isinstance(a, str)} if isinstance(
                assessments, list) else set()
            for code in entry.codes:
                carried[code] = names
        for path, ep in _entries(self.root, "endpoints"):
            self.anchor_ref(path + ("anchor",), ep.get("anchor"))
            seen: set[Duration] = set()
            points = ep.get("at")
            for i, at in enumerate(points if isinstance(points, list) else []):
                self.study_day(path + ("at", i), at)
                d = _duration(at)
                if d is not None and d in seen:
                    self.add(path + ("at", i), f'time point "{d}" is listed twice')
                elif d is not None:
                    seen.add(d)
            assessment = _text(ep.get("assessment")) or _text(ep.get("code"))
            allowed = ep.get("satisfied_by")
            if isinstance(allowed, list):
                if not allowed:
                    self.add(path + ("satisfied_by",), "must list at least one visit "
                                                       "(leave it out to accept any visit)")
                for i, code in enumerate(allowed):
                    if not isinstance(code, str):
                        continue
                    if code not in self.codes:
                        self.add(path + ("satisfied_by", i),
                                 f'unknown visit "{code}"{did_you_mean(code, self.codes)}')
                    elif assessment is not None and assessment not in carried[code]:
                        self.add(path + ("satisfied_by", i),
                                 f"visit {code} does not carry the assessment {assessment}")
            elif (assessment is not None and self.codes
                    and not any(assessment in names for names in carried.values())):
                key = "assessment" if "assessment" in ep else "code"
                self.add(path + (key,), f"no visit carries the assessment {assessment}, so this "
                                        "endpoint can never be met (list it in a visit's "
                                        "assessments)")

    def periods(self) -> None:
        self.unique("periods", "period code")
        for path, period in _entries(self.root, "periods"):
            self.anchor_ref(path + ("anchor",), period.get("anchor"))
            self.study_day(path + ("from",), period.get("from"))
            self.study_day(path + ("to",), period.get("to"))
            start, end = _duration(period.get("from")), _duration(period.get("to"))
            if start is None or end is None or self.anchor_day is None:
                continue
            # Any anchor date shows the order; a 31st shows month clamping at its worst.
            ref, day = date(2001, 1, 31), self.anchor_day
            if resolve(end, day).apply(ref) < resolve(start, day).apply(ref):
                self.add(path + ("to",), f'"{end}" is before "from" ({start})')


def check_protocol(data: object) -> list[Problem]:
    """Every cross-reference problem of a file's raw data (empty when it has none)."""
    if not isinstance(data, dict):
        return []
    return _Checker(data).run()
