"""Subjects: enrolment, reading one or many, anchors (re-anchoring) and lifecycle events.

Every function takes the acting token. A subject the actor may not see is reported as
not found, never as forbidden, so its existence is not revealed. "Today" is always
the subject's site's local date at the instant ``now`` the edge passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import (
    AlreadyExists,
    AlreadyRecorded,
    Forbidden,
    Ineligible,
    InvalidDate,
    InvalidRequest,
    NotFound,
    ReasonRequired,
    StudyFull,
    SubjectEnded,
)
from app.models import AnchorDateRow, ProtocolVersion, Site, Study, StudySite, Subject, SubjectEvent
from app.schedule.dates import local_today
from app.schedule.expand import TERMINAL_EVENTS, EventType
from app.schedule.plan import Plan
from app.services.access import Actor
from app.services.audit import record_audit
from app.services.studies import current_version, get_study, plan_of
from app.services.sync import StoredCalendar, SyncResult, stored_calendar, sync_subject

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)
LIFECYCLES = ("active", "died", "withdrawn", "lost_to_follow_up")
ENDS_AS = {
    EventType.DEATH: "died",
    EventType.WITHDRAWAL: "withdrawn",
    EventType.LOST_TO_FOLLOW_UP: "lost_to_follow_up",
}


@dataclass(frozen=True, slots=True)
class LoadedSubject:
    """A subject with the rows every use case needs beside it."""

    subject: Subject
    study: Study
    site: Site
    version: ProtocolVersion

    @property
    def plan(self) -> Plan:
        return plan_of(self.version)

    def today(self, now: datetime) -> date:
        """The site's local date at the instant ``now``."""
        return local_today(now, self.site.time_zone)

    def audit(
        self,
        session: Session,
        *,
        actor: Actor,
        action: str,
        entity: str,
        key: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """An audit record naming this subject's study, site and subject id."""
        record_audit(
            session, actor=actor, action=action, entity=entity, study=self.study.code,
            site=self.site.code, subject=self.subject.subject_id, key=key, before=before,
            after=after, reason=reason,
        )


def check_date(value: date, what: str) -> None:
    if not MIN_DATE <= value <= MAX_DATE:
        raise InvalidDate(
            f"{what} {value.isoformat()} is outside {MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}"
        )


def require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ReasonRequired(f"{what} needs a reason")
    return reason.strip()


def age_at(date_of_birth: date, day: date) -> int:
    """Age in whole years on ``day`` (a birthday counts from the day itself)."""
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def load_subject(
    session: Session, *, study: str, subject_id: str, actor: Actor, lock: bool = False
) -> LoadedSubject:
    """The subject, if the actor may see it; NotFound otherwise.

    ``lock`` takes the subject's row lock (FOR UPDATE on PostgreSQL; SQLite writers are
    already serialised by BEGIN IMMEDIATE): every change to a subject holds it, so two
    concurrent changes never expand the calendar from stale rows.
    """
    statement = (
        select(Subject, Study, Site, ProtocolVersion)
        .join(Study, Study.id == Subject.study_id)
        .join(Site, Site.id == Subject.site_id)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Study.code == study, Subject.subject_id == subject_id)
    )
    if lock:
        statement = statement.with_for_update(of=Subject).execution_options(
            populate_existing=True
        )
    row = session.execute(statement).first()
    if row is None or not actor.sees(study=study, site=row.Site.code):
        raise NotFound(f"subject {subject_id} not found in study {study}")
    return LoadedSubject(row.Subject, row.Study, row.Site, row.ProtocolVersion)


def get_subject(session: Session, *, study: str, subject_id: str, actor: Actor) -> LoadedSubject:
    return load_subject(session, study=study, subject_id=subject_id, actor=actor)


def subject_calendar(session: Session, loaded: LoadedSubject, *, today: date) -> StoredCalendar:
    """The subject's whole calendar (visits, periods, endpoint windows) as of ``today``."""
    return stored_calendar(session, loaded.subject, loaded.plan, today=today)


def enrolment_anchors(
    plan: Plan, anchors: Mapping[str, tuple[date, bool]], consent_date: date, today: date
) -> dict[str, tuple[date, bool]]:
    defined = {a.name: a for a in plan.protocol.anchors}
    unknown = sorted(set(anchors) - set(defined))
    if unknown:
        raise InvalidRequest(
            f"unknown anchor {', '.join(unknown)}; the protocol defines {', '.join(defined)}",
            field="anchors",
        )
    chosen = dict(anchors)
    if "consent" in defined:
        given = chosen.setdefault("consent", (consent_date, True))
        if given != (consent_date, True):
            raise InvalidRequest("the consent anchor is the consent date, recorded as actual",
                                 field="anchors.consent")
    missing = [n for n, a in defined.items() if a.recorded == "at_enrolment" and n not in chosen]
    if missing:
        raise InvalidRequest(f"anchor {', '.join(missing)} must be given at enrolment",
                             field="anchors")
    for name, (day, actual) in chosen.items():
        check_date(day, f"anchor {name}")
        if actual and day > today:
            raise InvalidDate(
                f"anchor {name} {day.isoformat()} is in the future (site date {today.isoformat()});"
                " send it as planned (actual: false)"
            )
    return chosen


def check_consent(plan: Plan, consent: date, date_of_birth: date, today: date) -> int:
    """The age at consent, once the consent date is possible and the age eligible."""
    if consent > today:
        raise InvalidDate(f"consent_date {consent.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    if date_of_birth > consent:
        raise InvalidDate("date_of_birth is after consent_date")
    age = age_at(date_of_birth, consent)
    limits = plan.protocol.study.age
    if limits is not None and not limits.min <= age <= limits.max:
        raise Ineligible(
            f"age {age} at consent is outside {limits.min}..{limits.max}",
            age=age, min_age=limits.min, max_age=limits.max,
        )
    return age


def enrol(
    session: Session,
    *,
    study: str,
    subject_id: str,
    site: str,
    consent_date: date,
    date_of_birth: date,
    anchors: Mapping[str, tuple[date, bool]] | None = None,
    actor: Actor,
    now: datetime,
) -> LoadedSubject:
    """Enrol a subject on the study's newest protocol version and build its calendar."""
    actor.require_write()
    study_row = get_study(session, study, actor)
    if actor.sites is not None and site not in actor.sites:
        raise Forbidden(f"this token may not enrol subjects at site {site}")
    # Enrolments into one study queue on the study row, so the target and the unique
    # subject id are checked against committed data (SQLite: BEGIN IMMEDIATE does it).
    session.execute(select(Study.id).where(Study.id == study_row.id).with_for_update())
    site_row = session.scalars(
        select(Site)
        .join(StudySite, StudySite.site_id == Site.id)
        .where(StudySite.study_id == study_row.id, Site.code == site)
    ).first()
    if site_row is None:
        raise InvalidRequest(f"site {site} does not take part in study {study}", field="site")
    today = local_today(now, site_row.time_zone)
    check_date(consent_date, "consent_date")
    check_date(date_of_birth, "date_of_birth")
    version = current_version(session, study_row)
    plan = plan_of(version)
    age = check_consent(plan, consent_date, date_of_birth, today)
    chosen = enrolment_anchors(plan, anchors or {}, consent_date, today)
    taken = session.scalar(
        select(Subject.id).where(Subject.study_id == study_row.id, Subject.subject_id == subject_id)
    )
    if taken is not None:
        raise AlreadyExists(f"subject {subject_id} is already enrolled in study {study}")
    enrolled = session.scalar(
        select(func.count()).select_from(Subject).where(Subject.study_id == study_row.id)
    ) or 0
    if enrolled >= study_row.target_enrolment:
        raise StudyFull(f"study {study} has reached its target of"
                        f" {study_row.target_enrolment} subjects")
    subject = Subject(
        study_id=study_row.id, site_id=site_row.id, subject_id=subject_id,
        protocol_version_id=version.id, consent_date=consent_date,
        date_of_birth=date_of_birth, lifecycle="active",
    )
    session.add(subject)
    session.flush()
    session.add_all(
        AnchorDateRow(subject_pk=subject.id, name=n, date=d, actual=a)
        for n, (d, a) in chosen.items()
    )
    session.flush()
    sync_subject(session, subject, plan)
    loaded = LoadedSubject(subject, study_row, site_row, version)
    # The date of birth stays out of the trail: the age is what eligibility used.
    loaded.audit(
        session, actor=actor, action="subject.enrolled", entity="subject", key=subject_id,
        after={
            "site": site, "consent_date": consent_date.isoformat(), "age_at_consent": age,
            "protocol_version": version.version,
            "anchors": {n: {"date": d.isoformat(), "actual": a} for n, (d, a) in chosen.items()},
        },
    )
    return loaded


def set_anchor(
    session: Session,
    *,
    study: str,
    subject_id: str,
    name: str,
    day: date,
    actual: bool,
    reason: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, bool]:
    """Set, confirm or correct an anchor date; visits not done move with it.

    Setting a new anchor or confirming a planned date unchanged as actual needs no
    reason; changing a date or turning an actual date back into a planned one is a
    correction and does. Returns the subject and whether anything changed.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    defined = {a.name for a in loaded.plan.protocol.anchors}
    if name not in defined:
        raise NotFound(f"anchor {name} is not defined by the protocol of study {study}")
    check_date(day, f"anchor {name}")
    today = loaded.today(now)
    if actual and day > today:
        raise InvalidDate(f"an actual {name} date cannot be in the future"
                          f" (site date {today.isoformat()}); send it as planned")
    if name == "consent":
        # A corrected consent date must pass the checks of enrolment again.
        if not actual:
            raise InvalidRequest("the consent date is always an actual date", field="actual")
        check_consent(loaded.plan, day, loaded.subject.date_of_birth, today)
    row = session.scalars(
        select(AnchorDateRow).where(
            AnchorDateRow.subject_pk == loaded.subject.id, AnchorDateRow.name == name
        )
    ).first()
    after = {"date": day.isoformat(), "actual": actual}
    before = None if row is None else {"date": row.date.isoformat(), "actual": row.actual}
    if before == after:
        return loaded, False
    if row is None:
        action, why = "anchor.set", reason
        row = AnchorDateRow(subject_pk=loaded.subject.id, name=name, date=day, actual=actual)
        session.add(row)
    else:
        confirming = row.date == day and not row.actual and actual
        action = "anchor.confirmed" if confirming else "anchor.corrected"
        why = reason if confirming else require_reason(reason, f"correcting anchor {name}")
        row.date, row.actual = day, actual
    if name == "consent":
        loaded.subject.consent_date = day
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    loaded.audit(session, actor=actor, action=action, entity="anchor", key=name,
                 before=before, after=after | _moved(result), reason=why)
    return loaded, True


def _moved(result: SyncResult) -> dict[str, object]:
    return {"visits_changed": result.changed} if result.changed else {}


def record_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    type: EventType,
    day: date,
    value: str | None = None,
    note: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, SubjectEvent]:
    """Record a response, progression, death, withdrawal or loss to follow-up.

    Death, withdrawal and loss end the subject's follow-up: every visit not done whose
    window had not closed by then is cancelled (kept, with the reason). A withdrawn or
    lost subject may still be reported dead later (overall survival needs it).
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    subject = loaded.subject
    if type is EventType.RESPONSE and not value:
        raise InvalidRequest("a response event needs a value such as CR or PR", field="value")
    if type is not EventType.RESPONSE and value is not None:
        raise InvalidRequest("only a response event carries a value", field="value")
    check_date(day, "date")
    today = loaded.today(now)
    if day > today:
        raise InvalidDate(f"event date {day.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    if day < subject.consent_date:
        raise InvalidDate(f"event date {day.isoformat()} is before consent"
                          f" ({subject.consent_date.isoformat()})")
    if subject.lifecycle == "died":
        if type is EventType.DEATH:
            raise AlreadyRecorded(f"the death of subject {subject_id} is already recorded")
        raise SubjectEnded(f"subject {subject_id} has died; no further events")
    if subject.lifecycle != "active" and type is not EventType.DEATH:
        raise SubjectEnded(f"subject {subject_id} is {subject.lifecycle.replace('_', ' ')};"
                           " only a death may still be recorded")
    before = {"lifecycle": subject.lifecycle}
    event = SubjectEvent(subject_pk=subject.id, type=type.value, date=day, value=value, note=note)
    session.add(event)
    if type in TERMINAL_EVENTS:
        subject.lifecycle = ENDS_AS[type]
    session.flush()
    result = sync_subject(session, subject, loaded.plan)
    after: dict[str, object] = {"type": type.value, "date": day.isoformat(), "value": value,
                                "note": note, "lifecycle": subject.lifecycle}
    loaded.audit(session, actor=actor, action="event.recorded", entity="event",
                 key=type.value, before=before, after=after | _moved(result))
    return loaded, event

