"""Synthetic but realistic data: both seed trials with two years of follow-up history.

The data goes into demo copies of the seed protocols (study codes ``<seed>-DEMO``, same
schedule, target enrolment 1,000,000), so a demo never changes a real study and never
collides with its subject ids. Sites ``DEMO001``... are spread over several time zones
and take part in both demo studies.

Everything is drawn from one ``random.Random(seed)`` in a fixed order and every
timestamp is the ``as_of`` instant, so the same seed, size and date give identical
rows. Subjects go through the bulk enrolment path (same checks, same rows as a single
enrolment), with their history (events, completed and missed visits) expanded by the
engine: nothing is written that the services could not have written.

Per subject: consent over the two years before ``as_of``, infusion 2-6 weeks later
(planned when still ahead). Past visits: most completed within their window, some
early or late, a few missed, some left open (overdue). Progression, death, withdrawal
and loss to follow-up happen to some; in the myeloma study about 45% reach complete
remission and most of them go on to the transplant phase.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict
from app.models import Study, Subject
from app.schedule.expand import AnchorDate, VisitRecord, expand
from app.schedule.lifecycle import ENDS_AS, TERMINAL_EVENTS, Event, EventType, Lifecycle
from app.schedule.plan import Plan
from app.schedule.status import State
from app.services.audit import record_audit
from app.services.bulk.enroller import BulkEnroller
from app.services.bulk.rows import CHUNK_ROWS, Enrolment, History, Item
from app.services.sites import create_site, link_site
from app.services.studies import current_version, get_study, load_schedule, plan_of

SCHEDULES = Path(__file__).resolve().parent.parent.parent / "schedules"
SEEDS = (("ucart-sle.yaml", 0.6), ("cart-allo-hsct-rrmm.yaml", 0.4))
SUFFIX = "-DEMO"
ZONES = (
    "Asia/Shanghai", "Europe/Berlin", "America/New_York", "America/Los_Angeles",
    "Asia/Kolkata", "Australia/Sydney", "Europe/London", "America/Sao_Paulo",
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    studies: tuple[str, ...]
    sites: int
    subjects: int
    visits: int


def demo_text(seed_text: str) -> str:
    """The demo copy of a seed protocol: another study code, no enrolment limit."""
    text = re.sub(r"(?m)^(study:\s*\n(?:[ #].*\n)*?\s+code:\s*)(\S+)", rf"\g<1>\g<2>{SUFFIX}",
                  seed_text, count=1)
    text = re.sub(r"(?m)^(\s+target_enrolment:\s*)\d+", r"\g<1>1000000", text, count=1)
    # A JSON string is a valid double-quoted YAML scalar.
    return re.sub(r"(?m)^(\s+title:\s*)(.*)$",
                  lambda m: m.group(1) + json.dumps(f"[demo] {m.group(2)}"), text, count=1)


def _setup(session: Session, actor: Actor, sites: int) -> list[tuple[Study, Plan, float]]:
    studies = []
    for name, weight in SEEDS:
        path = SCHEDULES / name
        result = load_schedule(session, text=demo_text(path.read_text(encoding="utf-8")),
                               source=f"demo:{name}", actor=actor)
        study = get_study(session, result.study, actor)
        studies.append((study, plan_of(current_version(session, study)), weight))
    existing = session.scalar(select(func.count()).select_from(Subject).where(
        Subject.study_id.in_([s.id for s, _, _ in studies])))
    if existing:
        raise Conflict(f"the demo studies already have {existing} subjects; generate demo data"
                       " into a fresh database")
    for i in range(1, sites + 1):
        code = f"DEMO{i:03d}"
        create_site(session, actor=actor, code=code, name=f"Demo hospital {i}",
                    time_zone=ZONES[(i - 1) % len(ZONES)])
        for study, _, _ in studies:
            link_site(session, actor=actor, study=study.code, site=code)
    session.flush()
    return studies


class _Story:
    """Draws one subject's enrolment and history; every draw comes from ``rng`` in order."""

    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of

    def day_after(self, start: date, low: int, high: int) -> date:
        return start + timedelta(days=self.rng.randint(low, high))

    def subject(self, plan: Plan, subject_id: str, site: str) -> tuple[Enrolment, History]:
        rng, as_of = self.rng, self.as_of
        age = plan.protocol.study.age
        consent = as_of - timedelta(days=rng.randint(3, 730))
        low = age.min if age is not None and age.min is not None else 24
        high = age.max if age is not None and age.max is not None else max(low + 2, 71)
        years = rng.randint(low + 1, high - 1)
        born = date(consent.year - years, 1, 1) - timedelta(days=rng.randint(0, 300))
        infusion = self.day_after(consent, 14, 42)
        anchors = {"infusion": AnchorDate(infusion, actual=infusion <= as_of)}
        # Nothing happens to a subject before the infusion.
        events = self._events(plan, infusion, anchors) if infusion <= as_of else []
        enrolment = Enrolment(subject_id, site, consent, born, anchors)
        terminal = next((e for e in sorted(events, key=lambda e: e.date)
                         if e.type in TERMINAL_EVENTS), None)
        lifecycle = ENDS_AS[terminal.type] if terminal else Lifecycle.ACTIVE
        full = {"consent": AnchorDate(consent), **anchors}
        records = self._records(plan, full, events)
        return enrolment, History(lifecycle, tuple(events), records)

    def _events(self, plan: Plan, infusion: date, anchors: dict[str, AnchorDate]) -> list[Event]:
        rng, as_of = self.rng, self.as_of
        events: list[Event] = []
        myeloma = bool(plan.phases)
        progression = self.day_after(infusion, 60, 600)
        progresses = rng.random() < (0.25 if myeloma else 0.1)
        # A subject who leaves (or dies) has nothing after it: drawn first, so that a
        # response, a transplant or a progression comes before it or not at all.
        ending: Event | None = None
        draw = rng.random()
        for kind, chance in ((EventType.DEATH, 0.04), (EventType.WITHDRAWAL, 0.08),
                             (EventType.LOST_TO_FOLLOW_UP, 0.10)):
            if draw < chance:
                when = self.day_after(infusion, 10, 700)
                if when <= as_of:
                    ending = Event(kind, when)
                break
        last = ending.date if ending is not None else as_of
        if myeloma and rng.random() < 0.45:
            cr = self.day_after(infusion, 28, 90)
            if cr <= last and (not progresses or cr < progression):
                # The phase's own value: declared by the protocol, so it opens the phase.
                events.append(Event(EventType.RESPONSE, cr, plan.phases[0].opens_on[0]))
                transplant = self.day_after(cr, 30, 75)
                if rng.random() < 0.85 and (ending is None or transplant <= ending.date):
                    anchors["transplant"] = AnchorDate(transplant, actual=transplant <= as_of)
        if progresses and progression <= last:
            events.append(Event(EventType.PROGRESSION, progression))
        if ending is not None:
            events.append(ending)
        return events

    def _records(
        self, plan: Plan, anchors: dict[str, AnchorDate], events: list[Event]
    ) -> dict[str, VisitRecord]:
        rng, as_of = self.rng, self.as_of
        records: dict[str, VisitRecord] = {}
        for visit in expand(plan, anchors, events).visits:
            if visit.state is not State.PLANNED or visit.provisional or visit.target_date is None:
                continue
            start, end, target = visit.window_start, visit.window_end, visit.target_date
            assert start is not None and end is not None
            if start > as_of or plan.by_code[visit.code].records_anchor:
                continue  # not yet; or the anchor's own visit, completed by its date
            assessments = frozenset(plan.by_code[visit.code].assessments)
            draw = rng.random()
            if visit.optional and draw < 0.5:
                continue  # no lymphodepletion: the rest days did not happen
            if end >= as_of:  # window open today: some already came
                if draw < 0.3:
                    actual = min(self.day_after(start, 0, (end - start).days), as_of)
                    records[visit.code] = VisitRecord(State.COMPLETED, actual, assessments)
                continue
            if draw < 0.84:
                actual = target + timedelta(days=round(rng.gauss(0, 1 + (end - start).days / 6)))
                actual = min(max(actual, start), end)
            elif draw < 0.90:
                actual = (self.day_after(end, 1, 12) if rng.random() < 0.7
                          else start - timedelta(days=rng.randint(1, 5)))
            elif draw < 0.94:
                records[visit.code] = VisitRecord(State.MISSED)
                continue
            else:
                continue  # never recorded: overdue
            records[visit.code] = VisitRecord(State.COMPLETED, min(actual, as_of), assessments)
        return records


def generate(
    session: Session,
    *,
    actor: Actor,
    subjects: int,
    sites: int,
    as_of: date,
    seed: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> DemoResult:
    """Create the demo studies, ``sites`` sites and ``subjects`` subjects with history."""
    actor.require_admin()
    studies = _setup(session, actor, sites)
    now = datetime.combine(as_of, time(12), UTC)
    rng = random.Random(seed)
    story = _Story(rng, as_of)
    site_codes = [f"DEMO{i:03d}" for i in range(1, sites + 1)]
    enrollers = {study.code: BulkEnroller(session, study_code=study.code, actor=actor, now=now,
                                          today=as_of) for study, _, _ in studies}
    weights = [w for _, _, w in studies]

    def chunks() -> Iterator[dict[str, list[Item]]]:
        batch: dict[str, list[Item]] = {code: [] for code in enrollers}
        for i in range(1, subjects + 1):
            study, plan, _ = rng.choices(studies, weights)[0]
            enrolment, history = story.subject(plan, f"D{i:06d}", rng.choice(site_codes))
            batch[study.code].append((i, enrolment, history))
            if i % CHUNK_ROWS == 0 or i == subjects:
                yield batch
                batch = {code: [] for code in enrollers}

    for batch in chunks():
        for code, items in batch.items():
            enrollers[code].add(items)
        if on_chunk is not None:
            on_chunk(sum(len(items) for items in batch.values()))
    results = [e.finish() for e in enrollers.values()]
    record_audit(session, actor=actor, action="demo.generated", entity="study",
                 after={"subjects": subjects, "sites": sites, "seed": seed,
                        "as_of": as_of.isoformat()})
    return DemoResult(tuple(enrollers), sites, sum(r.imported for r in results),
                      sum(r.visits for r in results))
