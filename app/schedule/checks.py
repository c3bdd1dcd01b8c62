"""Cross-reference checks of a schedule file, run on the raw YAML data.

The pydantic models check each entry's shape. What needs the whole file is checked
here: names that must exist (anchors, visits), codes that must be unique (visit codes
after series expansion, sites, anchors, phases, endpoints, periods, declared event
values), series templates, cycles in visit-relative timing, study-day notation under the
study's convention, and endpoints that no visit can ever satisfy. What events carry
(declared values, phase conditions on them) and visits that record an anchor are checked
by :mod:`app.schedule.event_checks`; what all checks share is in
:mod:`app.schedule.check_context`.

The checks read the raw data (plain dicts and lists) and skip whatever has the wrong
shape, so they also run when the models refused the file: a wrong type and an unknown
anchor are then reported in the same run.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import ValidationError

from app.schedule.check_context import (
    CODE,
    CheckContext,
    Path,
    Problem,
    VisitEntry,
    as_duration,
    as_text,
    did_you_mean,
    entries,
    format_path,
)
from app.schedule.covering import check_covered_by
from app.schedule.durations import Duration
from app.schedule.event_checks import check_condition, check_event_values, check_recording
from app.schedule.language import Visit
from app.schedule.plan import MAIN_PHASE, expand_codes, resolve
from app.schedule.repeat_checks import (
    check_repeats,
    in_plan_order,
    misplaced_occurrence,
    occurrences_of,
)
from app.schedule.repeats import OCCURRENCE, occurrence_code
from app.schedule.sdtm import visit_numbers
from app.schedule.window_checks import check_horizons

_TEMPLATE_FIELDS = frozenset({"n", "i"})


class _Checker(CheckContext):
    # -- sections ---------------------------------------------------------------------

    def run(self) -> list[Problem]:
        self.anchors = self.unique("anchors", "anchor", key="name")
        declared = entries(self.root, "anchors")
        self.recorded_later = {item["name"] for _, item in declared
                               if isinstance(item.get("name"), str)
                               and item.get("recorded") == "later"}
        self.unique("sites", "site code")
        study = self.root.get("study")
        if isinstance(study, dict) and "study_day_from" in study:
            self.anchor_ref(("study", "study_day_from"), study["study_day_from"])
        check_event_values(self)
        if "default_anchor" in self.root:
            self.anchor_ref(("default_anchor",), self.root["default_anchor"])
        main = as_text(self.root.get("default_anchor")) or next(
            (as_text(item.get("name")) for _, item in declared), None)
        for path, raw in entries(self.root, "visits"):
            self.visits.append(VisitEntry(path, raw, MAIN_PHASE, main))
        self.phases()
        for entry in self.visits:
            self.visit(entry)
        self.visit_numbers()
        self.timing()
        check_repeats(self)
        check_recording(self)
        check_covered_by(self)
        check_horizons(self)
        self.endpoints()
        self.periods()
        return self.problems

    def phases(self) -> None:
        self.unique("phases", "phase code")
        for path, phase in entries(self.root, "phases"):
            code = as_text(phase.get("code"))
            if code == MAIN_PHASE:
                self.add(path + ("code",), f'"{MAIN_PHASE}" names the main schedule; '
                                           "choose another phase code")
            self.anchor_ref(path + ("anchor",), phase.get("anchor"))
            condition = phase.get("condition")
            if isinstance(condition, dict):
                check_condition(self, path + ("condition",), condition)
            for vpath, raw in entries(phase, "visits", path):
                self.visits.append(VisitEntry(vpath, raw, code or f"phases[{path[1]}]",
                                               as_text(phase.get("anchor")),
                                               occurrences=occurrences_of(phase)))

    def visit(self, entry: VisitEntry) -> None:
        path, raw = entry.path, entry.raw
        self.anchor_ref(path + ("anchor",), raw.get("anchor"))
        points = raw.get("at")
        if isinstance(points, list):
            self.time_points(path + ("at",), points)
        else:
            self.study_day(path + ("at",), points)
        code = as_text(raw.get("code"))
        if code is None or misplaced_occurrence(self, entry):
            return
        # Each occurrence of a repeating phase makes its own codes (RT1-D1, RT2-D1, ...).
        each = [(k, occurrence_code(code, entry.phase, k))
                for k in range(1, entry.occurrences + 1)] or [(0, code)]
        made_by: list[tuple[int, str]] = []
        if "series" in raw or isinstance(points, list):
            if not self.template(path, raw, entry.occurrences > 0):
                return
            timing = {"series": raw["series"]} if "series" in raw else {"at": points}
            try:
                # Only code and timing matter here; other mistakes are reported elsewhere.
                for k, template in each:
                    visit = Visit.model_validate({"code": template, "name": "-"} | timing)
                    made_by += [(k, made) for made in expand_codes(visit)]
            except ValidationError:
                return
        else:
            if "{" in code.replace(OCCURRENCE, "") or "}" in code.replace(OCCURRENCE, ""):
                self.add(path + ("code",), "only the code of a series or of a list of time "
                                           "points may use {n}, {i} or {day}")
                return
            made_by = each
        entry.codes = [made for _, made in made_by]
        for k, made in made_by:
            if not CODE.match(made):
                self.add(path + ("code",), f'"{made}" is not a valid visit code: letters, digits '
                                           "and _ . + -, starting with a letter or digit")
            elif made in self.codes:
                duplicate = self.duplicate(made, code, self.codes[made])
                self.add(path + ("code",), f"occurrence {k}: {duplicate}" if k else duplicate)
            else:
                self.codes[made] = entry

    def duplicate(self, made: str, template: str, first: VisitEntry) -> str:
        """A visit code used twice, naming the template that made either of them."""
        first_template = as_text(first.raw.get("code"))
        where = self.at(first.path)
        if made != template:
            already = (f'made by "{first_template}" at {where}' if first_template != made
                       else f"used by {where}")
            return f'the code "{made}" made by "{template}" is already {already}'
        if first_template is not None and first_template != made:
            return f'duplicate visit code "{made}": {where} already makes it from ' \
                   f'"{first_template}"'
        line = self.line(first.path)
        return f'duplicate visit code "{made}" (first at {format_path(first.path)}' + (
            ")" if line is None else f", line {line})")

    def visit_numbers(self) -> None:
        """SDTM VISITNUMs, declared or counted on from the previous visit, are unique."""
        declared: list[float | None] = []
        owners: list[VisitEntry] = []
        for entry, i in in_plan_order(self.visits):
            number = entry.raw.get("visitnum")
            start = float(number) if isinstance(number, int | float) else None
            declared.append(None if start is None else start + i)
            owners.append(entry)
        seen: dict[float, VisitEntry] = {}
        for number, entry in zip(visit_numbers(declared), owners, strict=True):
            first = seen.setdefault(number, entry)
            if first is not entry:
                self.add(entry.path + ("visitnum",),
                         f"visit number {number:g} is already taken by the visit at "
                         f"{format_path(first.path)} (a visit without visitnum takes the "
                         "previous visit's number + 1)")

    def time_points(self, path: Path, points: list[Any]) -> None:
        """Each time point of a list once, and each a study day that exists."""
        seen: dict[Duration, int] = {}
        for i, point in enumerate(points):
            self.study_day(path + (i,), point)
            d = as_duration(point)
            if d is None:
                continue
            if d in seen:
                self.add(path + (i,), f'time point "{d}" is listed twice (first at '
                                      f"{format_path(path + (seen[d],))})")
            else:
                seen[d] = i

    def template(self, path: Path, raw: dict[str, Any], repeating: bool = False) -> bool:
        """A series' code must name {n} or {i} ({day} too for a list of study days); code
        and name may use nothing else ({occurrence} too, in a repeating phase)."""
        points = raw.get("at")
        fields = _TEMPLATE_FIELDS | ({"occurrence"} if repeating else set())
        if isinstance(points, list):
            # Points that are not durations are reported on their own.
            parsed = [d for d in map(as_duration, points) if d is not None]
            if parsed and all(d.study_day for d in parsed):
                fields = fields | {"day"}
        ok = True
        for key in ("code", "name"):
            text = as_text(raw.get(key))
            if text is None:
                continue
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                self.add(path + (key,), f"bad template: {exc} (write {{n}} or {{i}})")
                ok = False
                continue
            if names - fields:
                bad = ", ".join(f"{{{f}}}" for f in sorted(names - fields))
                day = ", {day} (the study day, in a list of study days)"
                self.add(path + (key,), f"unknown placeholder {bad}: use {{n}} (the time point)"
                                        f"{day if 'day' in names else ''} "
                                        "or {i} (the position in the series)")
                ok = False
            elif key == "code" and not names - {"occurrence"}:
                self.add(path + (key,), "a series code must contain {n} or {i}, "
                                        "or every time point gets the same code")
                ok = False
        return ok

    def timing(self) -> None:
        """after_visit must name a visit, never reach into a conditional phase from the
        main schedule, and never form a cycle."""
        edges: dict[str, tuple[str, VisitEntry]] = {}
        for entry in self.visits:
            target = as_text(entry.raw.get("after_visit"))
            if target is None or entry.occurrences:  # refused in a repeating phase
                continue
            path = entry.path + ("after_visit",)
            at = as_duration(entry.raw.get("at"))
            if at is not None and at.study_day:
                self.add(entry.path + ("at",), f'write the time after visit {target} as '
                                               f'"{at.amount} days", not "day {at.amount}"')
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

    def endpoints(self) -> None:
        self.unique("endpoints", "endpoint code")
        carried: dict[str, set[str]] = {}
        for entry in self.visits:
            assessments = entry.raw.get("assessments")
            names = {a for a in assessments if isinstance(a, str)} if isinstance(
                assessments, list) else set()
            for code in entry.codes:
                carried[code] = names
        for path, ep in entries(self.root, "endpoints"):
            self.anchor_ref(path + ("anchor",), ep.get("anchor"))
            seen: set[Duration] = set()
            points = ep.get("at")
            for i, at in enumerate(points if isinstance(points, list) else []):
                self.study_day(path + ("at", i), at)
                d = as_duration(at)
                if d is not None and d in seen:
                    self.add(path + ("at", i), f'time point "{d}" is listed twice')
                elif d is not None:
                    seen.add(d)
            assessment = as_text(ep.get("assessment")) or as_text(ep.get("code"))
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
        for path, period in entries(self.root, "periods"):
            self.anchor_ref(path + ("anchor",), period.get("anchor"))
            self.anchor_ref(path + ("to_anchor",), period.get("to_anchor"))
            self.study_day(path + ("from",), period.get("from"))
            self.study_day(path + ("to",), period.get("to"))
            start, end = as_duration(period.get("from")), as_duration(period.get("to"))
            if start is None or end is None or self.anchor_day is None:
                continue
            if period.get("to_anchor", period.get("anchor")) != period.get("anchor"):
                continue  # two anchors: only their dates tell the order
            # Any anchor date shows the order; a 31st shows month clamping at its worst.
            ref, day = date(2001, 1, 31), self.anchor_day
            if resolve(end, day).apply(ref) < resolve(start, day).apply(ref):
                self.add(path + ("to",), f'"{end}" is before "from" ({start})')


def check_protocol(
    data: object, line_of: Callable[[Path], int | None] | None = None
) -> list[Problem]:
    """Every cross-reference problem of a file's raw data (empty when it has none).

    ``line_of`` gives the line a value was written on, for messages that point at a
    second place of the file (the first of two duplicate codes).
    """
    if not isinstance(data, dict):
        return []
    return _Checker(data, line_of).run()
