"""Enrol many subjects at once: the CSV import, the batch API and the demo data.

Rows arrive in chunks (a CSV file is never read whole). Each row is checked with the
same rules as a single enrolment, so a bad row is reported with where it came from
(CSV line or batch index), column and message. Every row of the input is checked
before anything is committed; without ``skip_invalid`` one bad row means nothing is
imported (the caller's transaction is rolled back by the raised error).

Speed: the plan is built once per protocol version, expansions of subjects with the
same anchor dates are shared (an import has no recorded visits or events, so the
calendar depends on the anchors alone: an actual anchor completes the visit that
records it, as a single enrolment does), and rows are written by
:class:`~app.services.bulk.writer.RowWriter`, never as ORM objects. Duplicates against
earlier chunks are found by the database itself (earlier chunks are already written in
this transaction), so memory does not grow with the number of rows.

Audit: one ``subject.enrolled`` record per subject, written in bulk, like a single
enrolment writes (21 CFR Part 11 wants the record per subject, not per file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, Connection, String, any_, cast, func, select, text
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidRows
from app.models import (
    AnchorDateRow,
    AuditRecord,
    Site,
    Study,
    StudySite,
    Subject,
    SubjectEvent,
    Visit,
)
from app.schedule.dates import local_today
from app.schedule.eligibility import CONSENT_ANCHOR, age_at
from app.schedule.expand import AnchorDate, Expansion, expand
from app.schedule.lifecycle import Lifecycle
from app.schedule.plan import Plan
from app.schedule.recording import anchor_records, completed_by_anchors
from app.services.bulk.checks import check_enrolment
from app.services.bulk.layout import (
    ASSESSMENTS,
    RECORDED_AT,
    UPDATED_AT,
    VISIT_COLUMNS,
    VISIT_DATES,
    visit_tuples,
)
from app.services.bulk.rows import CHUNK_ROWS, Enrolment, History, ImportResult, Item, RowProblem
from app.services.bulk.writer import RowWriter
from app.services.studies import current_version, get_study, plan_of

ENROLLED = "subject.enrolled"


class BulkEnroller:
    """Checks and writes chunks of enrolments into one study, in the caller's transaction.

    ``now`` is the instant of the enrolment; the rules compare dates with each site's
    local date at that instant, unless ``today`` fixes it (the demo's ``--as-of``).
    """

    def __init__(
        self,
        session: Session,
        *,
        study_code: str,
        actor: Actor,
        skip_invalid: bool = False,
        now: datetime,
        today: date | None = None,
        max_problems: int = 100_000,
    ) -> None:
        actor.require_write()
        self.session = session
        self.actor = actor
        self.skip_invalid = skip_invalid
        self.max_problems = max_problems
        self.study: Study = get_study(session, study_code, actor)
        # Bulk enrolments queue on the study row as single ones do (see enrol), so the
        # target and the unique subject ids are checked against committed data.
        session.execute(select(Study.id).where(Study.id == self.study.id).with_for_update())
        version = current_version(session, self.study)
        self.version_id, self.version_name = version.id, version.version
        self.plan: Plan = plan_of(version)
        self.upcoming_days = self.plan.protocol.study.upcoming_days
        self.now: datetime = now
        self.sites: dict[str, tuple[int, date]] = {}
        for site in session.scalars(
            select(Site).join(StudySite, StudySite.site_id == Site.id)
            .where(StudySite.study_id == self.study.id)
        ):
            if actor.sees(study=self.study.code, site=site.code):
                self.sites[site.code] = (site.id, today or local_today(now, site.time_zone))
        self.anchor_names = frozenset(a.name for a in self.plan.protocol.anchors)
        self.enrolled = session.scalar(
            select(func.count()).select_from(Subject).where(Subject.study_id == self.study.id)
        ) or 0
        # Subjects with a larger id were written by this very import.
        self.first_new_pk = (session.scalar(select(func.max(Subject.id))) or 0) + 1
        self.problems: list[RowProblem] = []
        self.problem_count = 0
        self.imported = 0
        self.visits = 0
        self.skipped = 0
        connection = session.connection()
        self._subjects = _writer(connection, Subject, (
            "id", "study_id", "site_id", "enrolled_site_id", "subject_id", "protocol_version_id",
            "consent_date",
            "date_of_birth", "lifecycle", "created_at", "updated_at"))
        self._anchors = _writer(connection, AnchorDateRow,
                                ("subject_pk", "name", "date", "actual", "updated_at"))
        self._events = _writer(connection, SubjectEvent,
                               ("subject_pk", "type", "date", "value", "recorded_at"))
        self._visits = _writer(connection, Visit, VISIT_COLUMNS)
        self._audit = _writer(connection, AuditRecord, (
            "at", "actor", "role", "action", "entity", "study_code", "site_code",
            "subject_id", "key", "after", "user_name", "user_display_name", "token_name",
        ))
        # Values every row repeats are converted for the driver once.
        self._now_db = self._subjects.processor("created_at")(now)
        self._day = lru_cache(maxsize=None)(self._subjects.processor("consent_date"))
        self._json = self._audit.processor("after")
        json_list = self._visits.processor("assessments")
        self._assessments = lru_cache(maxsize=1024)(lambda codes: json_list(list(codes)))
        self.used_anchors = frozenset(
            {v.anchor for v in self.plan.visits if v.anchor} | {p.anchor for p in self.plan.phases})
        self._templates: Callable[[tuple[tuple[str, date, bool], ...]], list[tuple[Any, ...]]]
        self._templates = lru_cache(maxsize=8192)(self._template)

    # -- checking -------------------------------------------------------------------

    def _problem(self, problem: RowProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)

    def add(self, items: Iterable[Item]) -> None:
        """Check one chunk; write its good rows (they are rolled back if the import fails)."""
        good: list[tuple[int, Enrolment, History | None]] = []
        seen: dict[str, int] = {}
        for where, parsed, history in items:
            if (isinstance(parsed, Enrolment) and CONSENT_ANCHOR in self.anchor_names
                    and CONSENT_ANCHOR not in parsed.anchors):
                # The consent anchor is the consent date, never a column of its own.
                parsed = replace(parsed, anchors={
                    **parsed.anchors, CONSENT_ANCHOR: AnchorDate(parsed.consent_date)})
            problems = (parsed if isinstance(parsed, list)
                        else self._check(where, parsed, history))
            if not problems and isinstance(parsed, Enrolment):
                if parsed.subject_id in seen:
                    problems = [RowProblem(where, "subject_id",
                                           f"{parsed.subject_id} appears earlier in this input")]
                else:
                    seen[parsed.subject_id] = where
                    good.append((where, parsed, history))
            for problem in problems:
                self._problem(problem)
            if problems:
                self.skipped += 1
        good = self._drop_existing(good)
        capacity = self.study.target_enrolment - self.enrolled - self.imported
        for where, _, _ in good[max(capacity, 0):]:
            self._problem(RowProblem(where, "", f"study {self.study.code} is full: target"
                                     f" enrolment is {self.study.target_enrolment}"))
            self.skipped += 1
        self._write(good[: max(capacity, 0)])

    def _check(self, where: int, row: Enrolment, history: History | None) -> list[RowProblem]:
        site = self.sites.get(row.site)
        if site is None:
            return [RowProblem(where, "site", f"site {row.site} does not take part in study"
                               f" {self.study.code} (or is not visible to this token)")]
        return [RowProblem(where, column, message)
                for column, message in check_enrolment(
                    self.plan, row, today=site[1], events=history.events if history else ())]

    def _drop_existing(
        self, good: list[tuple[int, Enrolment, History | None]]
    ) -> list[tuple[int, Enrolment, History | None]]:
        if not good:
            return good
        ids = [row.subject_id for _, row, _ in good]
        if self.session.get_bind().dialect.name == "postgresql":
            # One array parameter: psycopg prepares a statement run this often, and
            # PostgreSQL's generic plan for "IN ($1, ..., $1000)" filters every row of
            # the study against the list (3 s a query at 100,000 subjects) where
            # "= ANY($1)" probes the unique index (a few ms).
            wanted = Subject.subject_id == any_(cast(ids, ARRAY(String)))
        else:
            wanted = Subject.subject_id.in_(ids)
        existing = dict(self.session.execute(
            select(Subject.subject_id, Subject.id)
            .where(Subject.study_id == self.study.id, wanted)
        ).tuples().all())
        if not existing:
            return good
        kept = []
        for where, row, history in good:
            pk = existing.get(row.subject_id)
            if pk is None:
                kept.append((where, row, history))
                continue
            message = (f"{row.subject_id} appears earlier in this input" if pk >= self.first_new_pk
                       else f"{row.subject_id} is already enrolled in {self.study.code}")
            self._problem(RowProblem(where, "subject_id", message))
            self.skipped += 1
        return kept

    # -- writing --------------------------------------------------------------------

    def _write(self, good: list[tuple[int, Enrolment, History | None]]) -> None:
        if not good:
            return
        study_id, now, version, day = self.study.id, self._now_db, self.version_id, self._day
        pks = self._next_ids(len(good))
        self._subjects.write(
            ((pk, study_id, self.sites[row.site][0], self.sites[row.site][0], row.subject_id,
              version,
              day(row.consent_date), day(row.date_of_birth),
              (history.lifecycle if history else Lifecycle.ACTIVE).value, now, now)
             for pk, (_, row, history) in zip(pks, good, strict=True)),
            adapted=True,
        )
        anchors: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        visits: list[tuple[Any, ...]] = []
        audit: list[tuple[Any, ...]] = []
        used = self.used_anchors
        for pk, (_, row, history) in zip(pks, good, strict=True):
            site_id = self.sites[row.site][0]
            for name, anchor in row.anchors.items():
                anchors.append((pk, name, day(anchor.date), anchor.actual, now))
            if history is None or (not history.events and not history.records):
                # Only the anchors visits are timed from decide the calendar.
                key = tuple(sorted((n, a.date, a.actual) for n, a in row.anchors.items()
                                   if n in used))
                visits += [(pk, site_id, *values) for values in self._templates(key)]
            else:
                events += [(pk, e.type.value, day(e.date), e.value, now) for e in history.events]
                # The anchors' own visits are theirs to record (one fact, one entry).
                records = {**history.records, **anchor_records(self.plan, row.anchors)}
                expansion = expand(self.plan, row.anchors, history.events, records)
                visits += [self._adapt_visit(t) for t in self._tuples(expansion, pk, site_id)]
            audit.append((now, self.actor.name, self.actor.role.value, ENROLLED, "subject",
                          self.study.code, row.site, row.subject_id, row.subject_id,
                          self._json(_audit_after(row, self.version_name, self.plan)),
                          self.actor.user, self.actor.display_name, self.actor.token))
        self._anchors.write(anchors, adapted=True)
        self._events.write(events, adapted=True)
        self._visits.write(visits, adapted=True)
        self._audit.write(audit, adapted=True)
        self.imported += len(good)
        self.visits += len(visits)

    def _next_ids(self, count: int) -> list[int]:
        """Primary keys for new subjects, taken before the rows are written.

        Ids known up front let the visit rows go out in the same batch without reading
        each subject back. PostgreSQL hands them out from the column's sequence (safe
        alongside single enrolments); SQLite serialises writers (BEGIN IMMEDIATE), so
        the next free ids are ours until commit.
        """
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            return list(connection.execute(
                text("SELECT nextval(pg_get_serial_sequence('subjects', 'id'))"
                     " FROM generate_series(1, :n)"), {"n": count}).scalars())
        start = (connection.execute(select(func.max(Subject.id))).scalar() or 0) + 1
        return list(range(start, start + count))

    def _tuples(self, expansion: Expansion, pk: int, site_id: int) -> list[tuple[Any, ...]]:
        return visit_tuples(expansion, subject_pk=pk, study_id=self.study.id, site_id=site_id,
                            upcoming_days=self.upcoming_days, now=self.now)

    def _template(self, key: tuple[tuple[str, date, bool], ...]) -> list[tuple[Any, ...]]:
        # The visit rows of every subject with these anchors, adapted for the driver,
        # without their first two values (subject_pk, site_id).
        anchors = {name: AnchorDate(d, actual) for name, d, actual in key}
        # An actual anchor completes the visit that records it (the infusion, D0).
        expansion = expand(self.plan, anchors, records=anchor_records(self.plan, anchors))
        rows = self._tuples(expansion, 0, 0)
        return [self._adapt_visit(t)[2:] for t in rows]

    def _adapt_visit(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        # RowWriter.adapt with the repeated values (dates, assessment lists, "now")
        # converted once: the demo's histories make every calendar different.
        values = list(row)
        day = self._day
        for i in VISIT_DATES:
            if values[i] is not None:
                values[i] = day(values[i])
        values[ASSESSMENTS] = self._assessments(tuple(values[ASSESSMENTS]))
        if values[RECORDED_AT] is not None:
            values[RECORDED_AT] = self._now_db
        values[UPDATED_AT] = self._now_db
        return tuple(values)

    def finish(self) -> ImportResult:
        """The outcome; raises :class:`InvalidRows` when rows were bad and not skipped."""
        if self.problem_count and not self.skip_invalid:
            more = self.problem_count - len(self.problems)
            raise InvalidRows(
                f"{self.problem_count} invalid row(s); nothing was imported"
                + (f" ({more} not listed)" if more else ""),
                errors=[p.as_dict() for p in self.problems],
            )
        return ImportResult(self.study.code, self.imported, self.visits, self.skipped,
                            tuple(self.problems))


def _writer(connection: Connection, model: Any, columns: Sequence[str]) -> RowWriter:
    return RowWriter(connection, model.__table__, columns)


def _audit_after(row: Enrolment, version: str, plan: Plan) -> dict[str, Any]:
    # The same record a single enrolment writes (the date of birth stays out of it).
    return {
        "site": row.site,
        "consent_date": row.consent_date.isoformat(),
        "age_at_consent": age_at(row.date_of_birth, row.consent_date),
        "protocol_version": version,
        "anchors": {n: {"date": a.date.isoformat(), "actual": a.actual}
                    for n, a in row.anchors.items()},
    } | completed_by_anchors(anchor_records(plan, row.anchors))


def enrol_many(
    session: Session, *, study_code: str, actor: Actor, rows: Sequence[Enrolment],
    now: datetime,
) -> ImportResult:
    """The batch API: all rows or none; problems carry the row's index in ``rows``."""
    enroller = BulkEnroller(session, study_code=study_code, actor=actor, now=now)
    for start in range(0, len(rows), CHUNK_ROWS):
        enroller.add((start + i, row, None) for i, row in enumerate(rows[start:start + CHUNK_ROWS]))
    return enroller.finish()
