"""Calendar feeds (RFC 5545): private per-site feed tokens and the iCalendar documents.

Calendar apps subscribe to a URL and cannot send an Authorization header, so a site's
feed is reached with its own token in the query string. Such a token only ever reads
one site's visit dates; it is random, shown once, stored as SHA-256 and revocable,
like an API token.

Every visit becomes one all-day event spanning its window (DTEND is exclusive, so it is
the day after the window's last day), titled with the subject id and visit code only.
It says the visit's status as of the site's today (overdue, due, completed, missed ...),
computed by the same rules as every page and the worklist, never the stored state: a
planned visit is overdue or upcoming, not "planned". A visit that does not apply to the
subject (a phase that never opened, an optional visit whose window passed) is no visit
of the subject's: it is left out of both feeds.
Its UID is built from study, subject and visit code, so when a visit moves (an anchor
corrected) the calendar app replaces the event instead of adding a second one; SEQUENCE
and LAST-MODIFIED come from the visit row's ``updated_at`` so the newer copy wins.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor, Role
from app.errors import Forbidden, NotAuthenticated, NotFound
from app.models import ApiToken, FeedToken, Site, Study, Subject, Visit
from app.schedule.dates import local_today
from app.schedule.status import State, Status
from app.services.audit import record_audit
from app.services.sites import find_site
from app.services.status_sql import status_expr
from app.services.subjects.loading import get_subject, subject_calendar
from app.services.subjects.visit_rows import StoredCalendar
from app.services.tokens import hash_token, is_active

FEED_TOKEN_PREFIX = "fd_"
PRODID = "-//followup//visit calendar//EN"
# How far ahead a site's feed reaches: a year of visits is what a calendar app shows
# usefully, and it bounds the document for large sites.
SITE_FEED_HORIZON_DAYS = 366
# SEQUENCE must be a small integer that grows with each revision: seconds since 2020.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedVisit:
    """What one calendar event says about one visit (nothing about the patient)."""

    study: str
    subject: str
    code: str
    name: str
    status: Status  # as of the site's today
    target_date: date | None
    window_start: date
    window_end: date
    actual_date: date | None
    updated_at: datetime
    days_overdue: int | None = None


@dataclass(frozen=True, slots=True)
class CreatedFeedToken:
    id: int
    site: str
    token: str  # shown once
    created_by: str
    created_at: datetime


def visit_uid(study: str, subject: str, code: str) -> str:
    """Stable across re-anchoring and re-export: the same visit is always the same event."""
    return f"{study}-{subject}-{code}@followup"


def feed_url(base_url: str, site: str, token: str) -> str:
    """The private URL a calendar app subscribes to (``base_url`` from the settings)."""
    return f"{base_url.rstrip('/')}/api/v1/sites/{site}/calendar.ics?token={token}"


def webcal(url: str) -> str:
    """The same URL with the webcal scheme, which calendar apps open as a subscription."""
    return "webcal://" + url.split("://", 1)[1] if "://" in url else url


def sequence_of(updated_at: datetime) -> int:
    return max(0, int((updated_at - _SEQUENCE_EPOCH).total_seconds()))


def render_ics(visits: Iterable[FeedVisit], *, name: str, refresh_minutes: int = 60) -> bytes:
    """An iCalendar document with one all-day VEVENT per dated visit."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    # RFC 7986 REFRESH-INTERVAL and its older Apple/Microsoft spelling.
    cal.add("refresh-interval", timedelta(minutes=refresh_minutes),
            parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", f"PT{refresh_minutes}M")
    for visit in visits:
        cal.add_component(_event(visit))
    data: bytes = cal.to_ical()
    return data


def _event(visit: FeedVisit) -> Event:
    event = Event()
    event.add("uid", visit_uid(visit.study, visit.subject, visit.code))
    event.add("dtstamp", visit.updated_at)
    event.add("last-modified", visit.updated_at)
    event.add("sequence", sequence_of(visit.updated_at))
    event.add("summary", f"{visit.subject} {visit.code}")
    event.add("dtstart", visit.window_start)
    event.add("dtend", visit.window_end + timedelta(days=1))
    lines = [f"{visit.study}: {visit.name}"]
    if visit.target_date is not None:
        lines.append(f"Target {visit.target_date.isoformat()}, window "
                     f"{visit.window_start.isoformat()} to {visit.window_end.isoformat()}")
    if visit.actual_date is not None:
        lines.append(f"Done {visit.actual_date.isoformat()}")
    lines.append(f"Status: {status_text(visit)}")
    event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if visit.status is Status.CANCELLED else "CONFIRMED")
    # A window is a span of acceptable days, not an appointment: it must not block time.
    event.add("transp", "TRANSPARENT")
    event.add("categories", [visit.status.value.replace("_", " ")])
    return event


def status_text(visit: FeedVisit) -> str:
    """"overdue (3 days)", "completed out of window", "due" ..."""
    text = visit.status.value.replace("_", " ")
    if visit.days_overdue:
        text += f" ({visit.days_overdue} day{'s' if visit.days_overdue != 1 else ''})"
    return text


# -- one subject ---------------------------------------------------------------------


def feed_visits_of(calendar: StoredCalendar, *, study: str, subject: str) -> list[FeedVisit]:
    """The dated visits of a subject's calendar with their status, less those that do not
    apply (pending ones have no date to show).

    A cancelled visit stays, marked ``STATUS:CANCELLED``: this feed is downloaded and
    imported, and an import replaces the events it carries (by UID) but never removes one
    it no longer carries, so a visit cancelled since the last import must come as
    cancelled to leave the calendar.
    """
    return [
        FeedVisit(study, subject, r.code, r.name, v.info.status, r.target_date,
                  r.window_start, r.window_end, r.actual_date, r.updated_at,
                  v.info.days_overdue)
        for v in calendar.visits
        if (r := v.row).window_start is not None and r.window_end is not None
        and v.info.status is not Status.NOT_APPLICABLE
    ]


def subject_feed(
    session: Session, *, study: str, subject_id: str, actor: Actor, now: datetime
) -> bytes:
    """One subject's whole calendar: every dated visit that applies, done or not, with its
    status (cancelled ones marked cancelled)."""
    loaded = get_subject(session, study=study, subject_id=subject_id, actor=actor)
    calendar = subject_calendar(session, loaded, today=loaded.today(now))
    visits = feed_visits_of(calendar, study=study, subject=subject_id)
    return render_ics(visits, name=f"followup {study} {subject_id}")


# -- one site ------------------------------------------------------------------------


# What a site's coordinators still have to do: what their feed lists. Cancelled, missed
# and not applicable visits, done ones too, are nobody's task; a subscribed calendar
# drops an event that a refreshed feed no longer carries.
TO_DO = (Status.OVERDUE, Status.DUE, Status.UPCOMING, Status.SCHEDULED)


def site_feed_visits(session: Session, site: Site, *, now: datetime) -> list[FeedVisit]:
    """Visits still to do at a site: every overdue one, and those ahead within a year,
    with their status computed in SQL by the worklist's rules."""
    today = local_today(now, site.time_zone)
    horizon = today + timedelta(days=SITE_FEED_HORIZON_DAYS)
    status = status_expr(today)
    rows = session.execute(
        select(
            Study.code, Subject.subject_id, Visit.code, Visit.name, status,
            Visit.target_date, Visit.window_start, Visit.window_end, Visit.actual_date,
            Visit.updated_at,
        )
        .join(Subject, Subject.id == Visit.subject_pk)
        .join(Study, Study.id == Visit.study_id)
        .where(
            Visit.site_id == site.id,
            Visit.state == State.PLANNED.value,
            Visit.window_start.is_not(None),
            Visit.window_start <= horizon,
            status.in_([s.value for s in TO_DO]),
        )
        .order_by(Visit.window_start, Subject.subject_id, Visit.code)
    ).tuples().all()
    return [
        FeedVisit(study, subject, code, name, Status(value), target, start, end, actual,
                  updated, (today - end).days if value == Status.OVERDUE.value else None)
        for study, subject, code, name, value, target, start, end, actual, updated in rows
        if start is not None and end is not None
    ]


def site_feed(session: Session, *, site_code: str, raw_token: str, now: datetime) -> bytes:
    site = authenticate_feed(session, site_code=site_code, raw_token=raw_token, now=now)
    visits = site_feed_visits(session, site, now=now)
    return render_ics(visits, name=f"followup {site.code} visits")


# -- feed tokens ---------------------------------------------------------------------


def _managed_site(session: Session, actor: Actor, code: str) -> Site:
    """The site, if the actor may manage its feeds: admins, and coordinators of the site.

    A site the actor may not see is not found (its existence is not revealed).
    """
    site = find_site(session, code=code, actor=actor)
    if actor.role is Role.ADMIN:
        return site
    if actor.role is not Role.COORDINATOR:
        raise Forbidden("only a coordinator of the site or an admin manages its calendar feeds")
    if actor.studies is not None:
        # A site's feed shows every study at the site; a study-limited token would see more.
        raise Forbidden("a token limited to some studies may not manage a site's feed")
    return site


def create_feed_token(
    session: Session, *, site: str, actor: Actor, now: datetime
) -> CreatedFeedToken:
    row_site = _managed_site(session, actor, site)
    actor.require_write()
    raw = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = FeedToken(token_hash=hash_token(raw), site_id=row_site.id, created_by=actor.name,
                    created_at=now)
    session.add(row)
    session.flush()
    record_audit(session, actor=actor, action="feed_token.created", entity="feed_token",
                 site=site, key=str(row.id), after={"id": row.id})
    return CreatedFeedToken(row.id, site, raw, row.created_by, row.created_at)


def list_feed_tokens(session: Session, *, site: str, actor: Actor) -> list[FeedToken]:
    row_site = _managed_site(session, actor, site)
    return list(session.scalars(
        select(FeedToken).where(FeedToken.site_id == row_site.id).order_by(FeedToken.id)
    ))


def revoke_feed_token(
    session: Session, *, site: str, token_id: int, actor: Actor, now: datetime
) -> FeedToken:
    """Revoke one feed token from ``now`` on; revoking it again changes nothing."""
    row_site = _managed_site(session, actor, site)
    actor.require_write()
    row = session.scalars(
        select(FeedToken).where(FeedToken.id == token_id, FeedToken.site_id == row_site.id)
    ).first()
    if row is None:
        raise NotFound(f"feed token {token_id} of site {site} not found")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
        record_audit(session, actor=actor, action="feed_token.revoked", entity="feed_token",
                     site=site, key=str(row.id), before={"revoked_at": None},
                     after={"revoked_at": row.revoked_at.isoformat()})
    return row


def authenticate_feed(session: Session, *, site_code: str, raw_token: str, now: datetime) -> Site:
    """The site a feed token opens: NotAuthenticated for an unknown or revoked token
    (never saying which), NotFound for a valid token used on another site's URL."""
    digest = hash_token(raw_token)
    # A feed lives no longer than the API token that made it: revoking or expiring that
    # token closes its feeds too. (Feeds made by the local operator have no such token.)
    found = session.execute(
        select(FeedToken, Site, ApiToken.revoked_at, ApiToken.expires_at)
        .join(Site, Site.id == FeedToken.site_id)
        .outerjoin(ApiToken, ApiToken.name == FeedToken.created_by)
        .where(FeedToken.token_hash == digest)
    ).first()
    if found is None:
        raise NotAuthenticated("invalid or revoked feed token")
    token, site, maker_revoked, maker_expires = found.tuple()
    if not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        raise NotAuthenticated("invalid or revoked feed token")
    if not is_active(maker_revoked, maker_expires, now):
        raise NotAuthenticated("invalid or revoked feed token")
    if site.code != site_code:
        # The holder knows which site the token opens; another site is not there for it.
        raise NotFound(f"site {site_code} not found")
    return site
