from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


def _enrolment_site(context: DefaultExecutionContext) -> Any:
    # SQLAlchemy leaves this accessor untyped; it returns the row's insert parameters.
    return context.get_current_parameters()["site_id"]  # type: ignore[no-untyped-call]


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("study_id", "subject_id"),
        Index("ix_subjects_study_site", "study_id", "site_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="RESTRICT"))
    # The site the subject is at now: the enrolment site, or the destination of its
    # latest transfer (kept in step with the transfer events by the calendar sync).
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    # Kept so that the site at any date follows from it and the transfer events; a new
    # subject is at the site it is enrolled at.
    enrolled_site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="RESTRICT"), default=_enrolment_site
    )
    subject_id: Mapped[str] = mapped_column(String(40))
    protocol_version_id: Mapped[int] = mapped_column(
        ForeignKey("protocol_versions.id", ondelete="RESTRICT")
    )
    consent_date: Mapped[date] = mapped_column(Date)
    date_of_birth: Mapped[date] = mapped_column(Date)
    # active, died, withdrawn, lost_to_follow_up, screen_failed, completed
    # (app.schedule.lifecycle.Lifecycle), derived from the subject's events (and, when
    # the protocol says so, from its calendar) and stored so lists can filter on it
    lifecycle: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AnchorDateRow(Base):
    __tablename__ = "anchor_dates"
    __table_args__ = (UniqueConstraint("subject_pk", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    date: Mapped[date] = mapped_column(Date)
    actual: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SubjectEvent(Base):
    """Lifecycle events (app.schedule.lifecycle.EventType), each with its own date."""

    __tablename__ = "subject_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_pk: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))
    date: Mapped[date] = mapped_column(Date)
    value: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Visit(Base):
    """One visit of one subject: planned dates, and what was recorded.

    ``study_id`` is copied from the subject, and ``site_id`` is the site in effect on the
    visit's date (a transfer leaves the visits before it with the old site), so the
    worklist runs on one table with a partial index over the visits still to do.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("subject_pk", "code"),
        # Worklist: "site X, not done, window closed before today, oldest first".
        Index(
            "ix_visits_open_site_window_end",
            "site_id",
            "window_end",
            postgresql_where=text("state = 'planned'"),
            sqlite_where=text("state = 'planned'"),
        ),
        Index(
            "ix_visits_open_site_window_start",
            "site_id",
            "window_start",
            postgresql_where=text("state = 'planned'"),
            sqlite_where=text("state = 'planned'"),
        ),
        Index("ix_visits_site_state_target", "site_id", "state", "target_date"),
        # Worklist: "site X, not done, counting as missed (derived) by today".
        Index(
            "ix_visits_open_site_missed_from",
            "site_id",
            "missed_from",
            postgresql_where=text("state = 'planned' AND missed_from IS NOT NULL"),
            sqlite_where=text("state = 'planned' AND missed_from IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="RESTRICT"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    optional: Mapped[bool] = mapped_column(Boolean, default=False)
    unscheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    # planned, completed, missed, cancelled, not_applicable, pending (app.schedule.status.State)
    state: Mapped[str] = mapped_column(String(20))
    target_date: Mapped[date | None] = mapped_column(Date)
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    # window_start minus the study's "upcoming" horizon: lets SQL say "upcoming".
    upcoming_from: Mapped[date | None] = mapped_column(Date)
    # From this date a visit still to do counts as missed (derived by the engine: a later
    # visit was done, the protocol's grace period passed, the subject left); lets SQL say
    # "missed, not documented" without the protocol.
    missed_from: Mapped[date | None] = mapped_column(Date)
    # False for a visit the protocol gives no window (``window: none``): never graded early
    # or late; its window is the span it is due (from its target to its horizon).
    graded: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # True for a visit of a phase the end of follow-up opens (early termination): due
    # after the subject left, so the worklist shows it with the subjects still on study.
    after_leaving: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    study_day: Mapped[int | None] = mapped_column(Integer)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    actual_date: Mapped[date | None] = mapped_column(Date)
    assessments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(2000))
    reason: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
