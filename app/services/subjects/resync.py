"""Re-expand stored subjects: bring every visit row in line with the engine as it is now.

Rows are kept in step with the calendar whenever a subject changes; a database written
by an earlier version of the engine holds rows that differ only because the rules
changed (no ``missed_from`` yet, done visits with the windows they had when recorded).
A resync expands each subject again and stores what differs, exactly as any change of
the subject would (:func:`app.services.subjects.visit_rows.sync_subject`): idempotent,
and a subject whose rows already agree is not written at all.

Each subject that changed gets one ``subject.resynced`` audit record listing the visits
created and changed (before and after), so the trail says why its rows moved; subjects
left unchanged get none. First, a visit that records an anchor and that anchor are
brought in line for subjects stored before the protocol said so
(:mod:`app.services.subjects.reconcile`, each change with its own audit record), and what
disagrees between them is reported, never resolved. The work goes batch by batch (keyset
on the subject id); the caller commits each batch, so a long run holds no lock for long
and can be resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import ProtocolVersion, Site, Study, Subject
from app.services.audit import record_audit
from app.services.studies import get_study, plan_of
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.reconcile import reconcile_subject
from app.services.subjects.sync import sync_subject

BATCH_SUBJECTS = 200


@dataclass(frozen=True, slots=True)
class ResyncBatch:
    """What one batch did: the subjects it went through and those whose rows changed."""

    examined: int
    changed: tuple[str, ...]  # "STUDY/SUBJECT" of each subject changed
    visits_changed: int
    last_id: int | None  # the subject id to continue after; None: no subject was left
    visits_completed: int = 0  # recording visits completed from their actual anchors
    anchors_set: int = 0  # anchors set or confirmed from their completed recording visits
    disagreements: tuple[str, ...] = ()  # "STUDY/SUBJECT: what disagrees", left as they are


def resync_batch(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    study: str | None = None,
    after_id: int = 0,
    limit: int = BATCH_SUBJECTS,
) -> ResyncBatch:
    """Re-expand up to ``limit`` subjects with an id above ``after_id`` (of ``study``, or
    of every study), locking each subject's row as every change of a subject does."""
    actor.require_admin()
    if study is not None:
        get_study(session, study, actor)  # an unknown study is an error, not "nothing"
    statement = (
        select(Subject, Study, Site, ProtocolVersion)
        .join(Study, Study.id == Subject.study_id)
        .join(Site, Site.id == Subject.site_id)
        .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        .where(Subject.id > after_id)
        .order_by(Subject.id)
        .limit(limit)
        .with_for_update(of=Subject)
    )
    if study is not None:
        statement = statement.where(Study.code == study)
    rows = session.execute(statement).tuples().all()
    changed: list[str] = []
    visits = completed = anchors = 0
    disagreements: list[str] = []
    for subject, study_row, site, version in rows:
        name = f"{study_row.code}/{subject.subject_id}"
        reconciled = reconcile_subject(session, LoadedSubject(subject, study_row, site, version),
                                       actor=actor, now=now)
        completed += reconciled.visits_completed
        anchors += reconciled.anchors_set
        disagreements += [f"{name}: {d}" for d in reconciled.disagreements]
        result = sync_subject(session, subject, plan_of(version))
        if not (result.created or result.changed):
            if reconciled.changed:
                changed.append(name)
            continue
        changed.append(name)
        visits += len(result.created) + len(result.changed)
        audit = record_audit(
            session, actor=actor, action="subject.resynced", entity="subject",
            study=study_row.code, site=site.code, subject=subject.subject_id,
            key=subject.subject_id, after=result.summary(),
        )
        audit.at = now
    session.flush()
    return ResyncBatch(len(rows), tuple(changed), visits, rows[-1][0].id if rows else None,
                       completed, anchors, tuple(disagreements))
