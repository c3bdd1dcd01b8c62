"""The daily digest of one site, as data: what is overdue, due and coming up, and which
visits began to count as missed since the previous digest.

Everything is computed for the site's local date: a Shanghai site's digest for
2026-03-02 lists what is overdue on Shanghai's 2 March, whatever the server's clock.
Rows carry the subject id and nothing else about the patient.

Overdue and due come from the worklist's SQL (:mod:`app.services.status_sql`, the
twin of :func:`app.schedule.status.visit_status`), so the digest never disagrees with
the worklist or the calendar on a status: a visit that counts as missed (derived) is
not overdue. "Newly missed" lists the visits whose ``missed_from`` lies after the local
date of the previous digest sent to the site and up to today (the first digest looks
back ``FIRST_DIGEST_MISSED_DAYS``): each derived miss is announced once, by the first
digest sent after it began to count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import DigestSend, Site, Study, StudySite, Subject, Visit
from app.schedule.dates import local_today
from app.schedule.status import Status
from app.services.sites import find_site
from app.services.status_sql import PLANNED, Urgency, in_class, status_expr

# "Due" also lists visits whose window closes within this many days (even if it opens
# tomorrow): after that the visit is overdue, so the coordinator must book it now.
CLOSING_SOON_DAYS = 3
# "Coming up" lists windows that open within this many days.
UPCOMING_DAYS = 7
# A site's first digest lists the visits that began to count as missed this many days
# back (later digests: since the previous one).
FIRST_DIGEST_MISSED_DAYS = 7

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def iso_with_weekday(day: date) -> str:
    """An ISO date followed by its English weekday, independent of the process locale.

    >>> iso_with_weekday(date(2026, 3, 2))
    '2026-03-02 (Mon)'
    """
    return f"{day.isoformat()} ({WEEKDAYS[day.weekday()]})"


@dataclass(frozen=True, slots=True)
class DigestRow:
    subject_id: str
    study: str
    visit_code: str
    visit_name: str
    optional: bool
    target_date: date | None
    window_start: date
    window_end: date
    days_overdue: int  # > 0 only in the overdue and newly missed sections
    closes_in_days: int  # days from the digest date to the last day of the window
    opens_in_days: int  # days from the digest date to the first day (<= 0: open)
    missed_from: date | None = None  # newly missed only: the day it began to count


@dataclass(frozen=True, slots=True)
class StudySummary:
    study: str
    overdue: int
    due: int
    upcoming: int
    newly_missed: int

    @property
    def line(self) -> str:
        line = f"{self.study}: {self.overdue} overdue, {self.due} due, {self.upcoming} coming up"
        return line + (f", {self.newly_missed} newly missed" if self.newly_missed else "")


@dataclass(frozen=True, slots=True)
class SiteDigest:
    site: str
    site_name: str
    time_zone: str
    local_date: date
    study_filter: str | None
    overdue: tuple[DigestRow, ...]
    due: tuple[DigestRow, ...]
    upcoming: tuple[DigestRow, ...]
    studies: tuple[StudySummary, ...]
    worklist_url: str
    newly_missed: tuple[DigestRow, ...]
    # The local date of the previous digest sent to the site (None: this is the first);
    # newly missed are the visits that began to count as missed after missed_after.
    previous_digest: date | None
    missed_after: date

    @property
    def all_clear(self) -> bool:
        return not (self.overdue or self.due or self.upcoming or self.newly_missed)

    @property
    def date_label(self) -> str:
        return iso_with_weekday(self.local_date)

    def for_study(self, study: str, *, base_url: str) -> SiteDigest:
        """The same digest restricted to one study (for recipients with a filter)."""

        def keep(rows: tuple[DigestRow, ...]) -> tuple[DigestRow, ...]:
            return tuple(row for row in rows if row.study == study)

        summaries = tuple(s for s in self.studies if s.study == study) or (
            StudySummary(study, 0, 0, 0, 0),
        )
        return replace(
            self,
            study_filter=study,
            overdue=keep(self.overdue),
            due=keep(self.due),
            upcoming=keep(self.upcoming),
            newly_missed=keep(self.newly_missed),
            studies=summaries,
            worklist_url=worklist_url(base_url, self.site, study),
        )


def worklist_url(base_url: str, site: str, study: str | None = None) -> str:
    """The worklist page of a site, optionally filtered to one study.

    >>> worklist_url("https://fu.example.org/", "YC3H", "UCART-SLE")
    'https://fu.example.org/worklist?site=YC3H&study=UCART-SLE'
    """
    query = {"site": site} | ({"study": study} if study else {})
    return f"{base_url.rstrip('/')}/worklist?{urlencode(query)}"


def site_local_date(site: Site, now: datetime) -> date:
    """Today at the site, for an aware ``now``."""
    return local_today(now, site.time_zone)


def _section_rows(
    session: Session, site_id: int, today: date, studies: frozenset[str] | None
) -> tuple[list[DigestRow], list[DigestRow], list[DigestRow]]:
    """Overdue, due and coming-up rows, in one query.

    Overdue and due are the worklist's own classes and status expression (one rule for
    both); the digest adds the windows opening within ``UPCOMING_DAYS`` (a fixed
    look-ahead for a morning email, where the worklist uses each study's horizon).
    """
    horizon = today + timedelta(days=UPCOMING_DAYS)
    opening_soon = and_(
        Visit.window_start > today, Visit.window_start <= horizon, Visit.window_end.is_not(None)
    )
    statement = (
        select(
            Subject.subject_id,
            Study.code,
            Visit.code,
            Visit.name,
            Visit.optional,
            Visit.target_date,
            Visit.window_start,
            Visit.window_end,
            status_expr(today).label("status"),
        )
        .join(Subject, Subject.id == Visit.subject_pk)
        .join(Study, Study.id == Visit.study_id)
        .where(
            # The range every section lies in, on the partial index (site_id,
            # window_start) WHERE state = 'planned'; then the sections themselves.
            Visit.site_id == site_id,
            Visit.state == PLANNED,
            Visit.window_start <= horizon,
            or_(
                in_class(Urgency.OVERDUE, [site_id], today),
                in_class(Urgency.DUE, [site_id], today),
                opening_soon,
            ),
        )
    )
    if studies is not None:
        statement = statement.where(Study.code.in_(sorted(studies)))
    overdue: list[DigestRow] = []
    due: list[DigestRow] = []
    upcoming: list[DigestRow] = []
    for subject_id, study, code, name, optional, target, start, end, status in session.execute(
        statement
    ):
        assert start is not None and end is not None  # every section has a window
        row = DigestRow(
            subject_id=subject_id, study=study, visit_code=code, visit_name=name,
            optional=optional, target_date=target, window_start=start, window_end=end,
            days_overdue=max((today - end).days, 0),
            closes_in_days=(end - today).days, opens_in_days=(start - today).days,
        )
        if status == Status.OVERDUE.value:
            overdue.append(row)
        elif status == Status.DUE.value or (row.opens_in_days > 0
                                            and row.closes_in_days <= CLOSING_SOON_DAYS):
            # A window that has not opened but closes within days must be booked now.
            due.append(row)
        elif row.opens_in_days > 0:
            upcoming.append(row)
        # Anything else with a closed window (a derived miss) is in no section of these.
    # Stable, reproducible orders: the most urgent first, then by study and subject.
    overdue.sort(key=lambda r: (r.window_end, r.study, r.subject_id, r.visit_code))
    due.sort(key=lambda r: (r.window_end, r.study, r.subject_id, r.visit_code))
    upcoming.sort(key=lambda r: (r.window_start, r.study, r.subject_id, r.visit_code))
    return overdue, due, upcoming


def previous_digest(session: Session, site_id: int, before: date) -> date | None:
    """The local date of the last digest sent in full to the site before ``before``
    (a partial send does not count: some of its recipients never got it)."""
    return session.scalar(
        select(func.max(DigestSend.local_date)).where(
            DigestSend.site_id == site_id,
            DigestSend.local_date < before,
            DigestSend.sent_at.is_not(None),  # set once every message was accepted
        )
    )


def _newly_missed_rows(
    session: Session, site_id: int, today: date, after: date,
    studies: frozenset[str] | None,
) -> list[DigestRow]:
    """Visits that began to count as missed (derived) after ``after`` and by ``today``:
    one range of the partial index (site_id, missed_from) WHERE state = 'planned'."""
    statement = (
        select(Subject.subject_id, Study.code, Visit.code, Visit.name, Visit.optional,
               Visit.target_date, Visit.window_start, Visit.window_end, Visit.missed_from)
        .join(Subject, Subject.id == Visit.subject_pk)
        .join(Study, Study.id == Visit.study_id)
        .where(in_class(Urgency.MISSED_UNDOCUMENTED, [site_id], today),
               Visit.missed_from > after)
    )
    if studies is not None:
        statement = statement.where(Study.code.in_(sorted(studies)))
    rows = []
    for subject_id, study, code, name, optional, target, start, end, since in session.execute(
        statement
    ):
        assert start is not None and end is not None  # a derived miss has a closed window
        rows.append(DigestRow(
            subject_id=subject_id, study=study, visit_code=code, visit_name=name,
            optional=optional, target_date=target, window_start=start, window_end=end,
            days_overdue=(today - end).days, closes_in_days=(end - today).days,
            opens_in_days=(start - today).days, missed_from=since,
        ))
    rows.sort(key=lambda r: (r.missed_from or today, r.study, r.subject_id, r.visit_code))
    return rows


def _site_studies(session: Session, site_id: int, studies: frozenset[str] | None) -> list[str]:
    statement = (
        select(Study.code)
        .join(StudySite, StudySite.study_id == Study.id)
        .where(StudySite.site_id == site_id)
    )
    if studies is not None:
        statement = statement.where(Study.code.in_(sorted(studies)))
    return list(session.scalars(statement.order_by(Study.code)))


def build_site_digest(
    session: Session,
    *,
    site: Site,
    local_date: date,
    base_url: str,
    studies: frozenset[str] | None = None,
) -> SiteDigest:
    """The digest of ``site`` for its local date ``local_date`` (data only, no sending).

    ``studies`` limits the rows to those studies (``None``: all the site's studies).
    """
    overdue, due, upcoming = _section_rows(session, site.id, local_date, studies)
    previous = previous_digest(session, site.id, local_date)
    after = previous if previous is not None else local_date - timedelta(
        days=FIRST_DIGEST_MISSED_DAYS)
    missed = _newly_missed_rows(session, site.id, local_date, after, studies)
    codes = set(_site_studies(session, site.id, studies))
    codes |= {row.study for row in (*overdue, *due, *upcoming, *missed)}

    def count(section: list[DigestRow], study: str) -> int:
        return sum(1 for row in section if row.study == study)

    summaries = tuple(
        StudySummary(code, count(overdue, code), count(due, code), count(upcoming, code),
                     count(missed, code))
        for code in sorted(codes)
    )
    return SiteDigest(
        site=site.code, site_name=site.name, time_zone=site.time_zone, local_date=local_date,
        study_filter=None, overdue=tuple(overdue), due=tuple(due), upcoming=tuple(upcoming),
        studies=summaries, worklist_url=worklist_url(base_url, site.code),
        newly_missed=tuple(missed), previous_digest=previous, missed_after=after,
    )


def preview_site_digest(
    session: Session,
    *,
    site: str,
    local_date: date | None,
    now: datetime,
    base_url: str,
    actor: Actor,
) -> SiteDigest:
    """The digest as the actor may see it: only its sites (404 otherwise), only its studies."""
    row = find_site(session, code=site, actor=actor)
    day = local_date if local_date is not None else site_local_date(row, now)
    return build_site_digest(
        session, site=row, local_date=day, base_url=base_url, studies=actor.studies
    )
