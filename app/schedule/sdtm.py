"""CDISC SDTM (IG v3.3) conventions of the SV and TV domains, without a database.

- study days (``--DY``): the date minus the reference start date (RFSTDTC) plus one on
  or after it, the plain difference before it: there is no Day 0;
- VISITNUM: a visit's declared ``visitnum`` (a series numbers its visits from it, 1
  apart), else the previous visit's number + 1, in protocol order (main schedule, then
  each phase); an unscheduled visit takes the previous planned visit's number + .01,
  .02, ...;
- EPOCH: a visit's declared ``epoch``, else its phase's, else SCREENING before its
  anchor, TREATMENT on the anchor's day and FOLLOW-UP after it; FOLLOW-UP for the visits
  of a conditional phase;
- VISITDY: the planned study day, for a visit timed in days from the reference anchor;
- USUBJID: the protocol's template of ``{study}``, ``{site}`` and ``{subject}``, else the
  subject id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from app.schedule.plan import MAIN_PHASE, Plan, VisitDef

SCREENING = "SCREENING"
TREATMENT = "TREATMENT"
FOLLOW_UP = "FOLLOW-UP"
UNSCHEDULED_STEP = 0.01
UNSCHEDULED = "UNSCHEDULED "  # VISIT of an unscheduled visit: this and its code


def study_day(day: date, reference: date) -> int:
    """SDTM's study day of ``day``: Day 1 is the reference date, the day before is Day -1."""
    difference = (day - reference).days
    return difference + 1 if difference >= 0 else difference


def visit_numbers(declared: Iterable[float | None]) -> list[float]:
    """Each visit's VISITNUM: the declared one, else the previous one + 1 (from 0)."""
    numbers: list[float] = []
    previous = 0.0
    for number in declared:
        previous = previous + 1 if number is None else number
        numbers.append(previous)
    return numbers


def default_epoch(visit: VisitDef) -> str:
    if visit.epoch is not None:
        return visit.epoch
    if visit.phase != MAIN_PHASE:
        return FOLLOW_UP
    months, days = visit.offset.months, visit.offset.days
    if months < 0 or (months == 0 and days < 0):
        return SCREENING
    if months == 0 and days == 0 and visit.after_visit is None:
        return TREATMENT
    return FOLLOW_UP


@dataclass(frozen=True, slots=True)
class TrialVisit:
    """One planned visit as the TV domain (and SV's planned visits) say it."""

    code: str
    name: str
    visitnum: float
    visitdy: int | None
    epoch: str
    rule: str  # TVSTRL: how the protocol times it


@lru_cache(maxsize=64)
def trial_visits(plan: Plan) -> tuple[TrialVisit, ...]:
    """The protocol's visits in protocol order, numbered."""
    reference = plan.protocol.reference_anchor
    numbers = visit_numbers(v.visitnum for v in plan.visits)
    return tuple(
        TrialVisit(code=v.code, name=v.name, visitnum=number,
                   visitdy=_planned_day(v, reference), epoch=default_epoch(v), rule=v.timing)
        for v, number in zip(plan.visits, numbers, strict=True)
    )


def _planned_day(visit: VisitDef, reference: str) -> int | None:
    if visit.anchor != reference or visit.offset.months != 0:
        return None
    days = visit.offset.days
    return days + 1 if days >= 0 else days


def usubjid(template: str | None, *, study: str, site: str, subject: str) -> str:
    if template is None:
        return subject
    return template.format(study=study, site=site, subject=subject)


@dataclass(frozen=True, slots=True)
class AttendedVisit:
    """A visit that took place: a planned one by its code, or an unscheduled one."""

    code: str
    name: str
    unscheduled: bool
    day: date
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SubjectVisit:
    """One record of SV."""

    visitnum: float
    visit: str
    visitdy: int | None
    epoch: str
    start: date
    study_day: int | None
    description: str | None  # SVUPDES: what an unscheduled visit was


def subject_visits(
    visits: Sequence[AttendedVisit], planned: Sequence[TrialVisit], reference: date | None
) -> list[SubjectVisit]:
    """A subject's SV records, in date order: planned visits numbered from the protocol,
    unscheduled ones after the planned visit before them (+ .01, + .02, ...)."""
    by_code = {t.code: t for t in planned}
    out: list[SubjectVisit] = []
    previous: TrialVisit | None = None
    extra = 0
    for visit in sorted(visits, key=lambda v: (v.day, v.unscheduled)):
        trial = None if visit.unscheduled else by_code.get(visit.code)
        day = None if reference is None else study_day(visit.day, reference)
        if trial is not None:
            previous, extra = trial, 0
            out.append(SubjectVisit(trial.visitnum, trial.name, trial.visitdy, trial.epoch,
                                    visit.day, day, None))
            continue
        extra += 1
        base = 0.0 if previous is None else previous.visitnum
        out.append(SubjectVisit(
            visitnum=round(base + extra * UNSCHEDULED_STEP, 2), visit=UNSCHEDULED + visit.code,
            visitdy=None, epoch=SCREENING if previous is None else previous.epoch,
            start=visit.day, study_day=day, description=visit.note or visit.name,
        ))
    return out
