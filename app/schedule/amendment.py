"""What changes between two versions of a protocol (pure).

:func:`diff_plans` compares two expanded plans section by section: visits (a series
counts as its time points, as the engine sees them), conditional phases, endpoint
windows, periods and event vocabularies. Each difference is one :class:`Change` with
both values written as the protocol writes them, so a reader needs neither file to
follow it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from app.schedule.language import Amendment, Endpoint, Period, Protocol
from app.schedule.plan import PhaseDef, Plan, VisitDef


class Section(StrEnum):
    VISIT = "visit"
    PHASE = "phase"
    ENDPOINT = "endpoint"
    PERIOD = "period"
    VOCABULARY = "vocabulary"


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    RETIMED = "retimed"  # offset or anchor (or the visit it is timed after)
    WINDOW = "window"
    CHANGED = "changed"  # any other field: kind, assessments, name, ...


@dataclass(frozen=True, slots=True)
class Change:
    section: Section
    code: str  # visit, phase, endpoint or period code; the event type for a vocabulary
    kind: ChangeKind
    field: str | None = None  # None when the whole item was added or removed
    before: str | None = None  # a removed item: its timing and window (or anchor)
    after: str | None = None  # an added item: the same


@dataclass(frozen=True, slots=True)
class ProtocolDiff:
    study: str
    from_version: str
    to_version: str
    amendment: Amendment | None  # the metadata of the version diffed to
    changes: tuple[Change, ...]

    def of(self, section: Section) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.section is section)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _window(before: int, after: int) -> str:
    return f"-{_days(before)} / +{_days(after)}"


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values) or "(none)"


# How each compared field of a visit is shown, and the kind of change it makes.
_VISIT_FIELDS: tuple[tuple[str, ChangeKind, Callable[[VisitDef], str]], ...] = (
    ("timing", ChangeKind.RETIMED, lambda v: v.timing),
    ("window", ChangeKind.WINDOW, lambda v: _window(v.before_days, v.after_days)
     if v.graded else "none" if v.due_until_next else f"none, due for {_days(v.after_days)}"),
    ("name", ChangeKind.CHANGED, lambda v: v.name),
    ("phase", ChangeKind.CHANGED, lambda v: v.phase),
    ("kind", ChangeKind.CHANGED, lambda v: v.kind),
    ("assessments", ChangeKind.CHANGED, lambda v: _listed(v.assessments)),
    ("optional", ChangeKind.CHANGED, lambda v: str(v.optional).lower()),
    ("stops_at_progression", ChangeKind.CHANGED,
     lambda v: str(v.stops_at_progression).lower()),
    ("missed_after", ChangeKind.CHANGED,
     lambda v: "never" if v.missed_after_days is None else _days(v.missed_after_days)),
    ("records", ChangeKind.CHANGED, lambda v: v.records_anchor or "(none)"),
)

_PHASE_FIELDS: tuple[tuple[str, ChangeKind, Callable[[PhaseDef], str]], ...] = (
    ("anchor", ChangeKind.RETIMED, lambda p: p.anchor),
    ("name", ChangeKind.CHANGED, lambda p: p.name),
    ("opens_on", ChangeKind.CHANGED, lambda p: _listed(p.opens_on)),
    ("closes_on", ChangeKind.CHANGED, lambda p: _listed(p.closes_on)),
)

_ENDPOINT_FIELDS: tuple[tuple[str, ChangeKind, Callable[[Endpoint], str]], ...] = (
    ("anchor", ChangeKind.RETIMED, lambda e: e.anchor),
    ("at", ChangeKind.RETIMED, lambda e: _listed(str(a) for a in e.time_points)),
    ("window", ChangeKind.WINDOW, lambda e: f"-{e.window.before} / +{e.window.after}"),
    ("name", ChangeKind.CHANGED, lambda e: e.name),
    ("assessment", ChangeKind.CHANGED, lambda e: e.assessment_code),
    ("satisfied_by", ChangeKind.CHANGED,
     lambda e: "any visit" if e.satisfied_by is None else _listed(e.satisfied_by)),
)

_PERIOD_FIELDS: tuple[tuple[str, ChangeKind, Callable[[Period], str]], ...] = (
    ("anchor", ChangeKind.RETIMED, lambda p: p.anchor),
    ("span", ChangeKind.RETIMED, lambda p: f"{p.start} .. {p.end}"),
    ("name", ChangeKind.CHANGED, lambda p: p.name),
)


T = TypeVar("T")


def _compare(
    section: Section,
    old: Mapping[str, T],
    new: Mapping[str, T],
    fields: tuple[tuple[str, ChangeKind, Callable[[T], str]], ...],
) -> list[Change]:
    def summary(item: T) -> str:  # an item added or removed, by its first two fields
        return "; ".join(f"{name} {shown(item)}" for name, _, shown in fields[:2])

    out: list[Change] = []
    for code, item in old.items():
        if code not in new:
            out.append(Change(section, code, ChangeKind.REMOVED, None, summary(item), None))
            continue
        for name, kind, shown in fields:
            before, after = shown(item), shown(new[code])
            if before != after:
                out.append(Change(section, code, kind, name, before, after))
    out += [Change(section, code, ChangeKind.ADDED, None, None, summary(item))
            for code, item in new.items() if code not in old]
    return out


def _vocabulary(old: Protocol, new: Protocol) -> list[Change]:
    before, after = old.event_values.declared(), new.event_values.declared()
    out: list[Change] = []
    for event in sorted({*before, *after}):
        was = [t.value for t in before.get(event, ())]
        now = [t.value for t in after.get(event, ())]
        out += [Change(Section.VOCABULARY, event, ChangeKind.REMOVED, "value", v, None)
                for v in was if v not in now]
        out += [Change(Section.VOCABULARY, event, ChangeKind.ADDED, "value", None, v)
                for v in now if v not in was]
    return out


def diff_plans(old: Plan, new: Plan) -> ProtocolDiff:
    """Every difference between two versions, visits first, each section in the order of
    the old version (removed and changed items) then of the new one (added items).

    The study day of a visit is written the way its protocol wrote it ("day 14",
    "3 months after infusion"); a visit timed from a visit says so ("7 days after D0").
    """
    changes = _compare(Section.VISIT, {v.code: v for v in old.visits},
                       {v.code: v for v in new.visits}, _VISIT_FIELDS)
    changes += _compare(Section.PHASE, {p.code: p for p in old.phases},
                        {p.code: p for p in new.phases}, _PHASE_FIELDS)
    changes += _compare(Section.ENDPOINT, {e.code: e for e in old.protocol.endpoints},
                        {e.code: e for e in new.protocol.endpoints}, _ENDPOINT_FIELDS)
    changes += _compare(Section.PERIOD, {p.code: p for p in old.protocol.periods},
                        {p.code: p for p in new.protocol.periods}, _PERIOD_FIELDS)
    changes += _vocabulary(old.protocol, new.protocol)
    return ProtocolDiff(
        study=new.protocol.study.code,
        from_version=old.protocol.study.version,
        to_version=new.protocol.study.version,
        amendment=new.protocol.amendment,
        changes=tuple(changes),
    )
