"""When each site's digest is due: a pure planner, and the loop of `followup digest schedule`.

Each site sends at its own local ``digest_time`` (default 07:00 in its time zone). The
planner is a pure function of the instant ``now`` and of what was already sent, so it is
tested with an injected clock; the loop takes the clock and the sleep function as
parameters for the same reason. Restarts are safe: what was sent is read back from the
exactly-once record, and a process started after 07:00 sends today's digest if it has
not gone yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

DEFAULT_DIGEST_TIME = time(7, 0)


@dataclass(frozen=True, slots=True)
class SiteClock:
    code: str
    time_zone: str
    digest_time: time = DEFAULT_DIGEST_TIME


@dataclass(frozen=True, slots=True)
class Wakeup:
    due: tuple[tuple[str, date], ...]  # (site, local date) to send now
    next_at: datetime  # the next instant something becomes due (aware UTC)


def parse_digest_time(value: str | None) -> time:
    """Parse a site's "HH:MM" (24-hour) digest time; empty means the default.

    >>> parse_digest_time("06:30")
    datetime.time(6, 30)
    """
    if not value:
        return DEFAULT_DIGEST_TIME
    hours, sep, minutes = value.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"digest time {value!r} is not HH:MM")
    return time(int(hours), int(minutes))


def send_instant(site: SiteClock, day: date) -> datetime:
    """The UTC instant of ``site``'s digest on its local date ``day``.

    A wall time skipped by a daylight-saving jump is taken in the earlier offset (which
    lands after the jump, so the digest is never early).

    >>> send_instant(SiteClock("YC3H", "Asia/Shanghai"), date(2026, 3, 2)).isoformat()
    '2026-03-01T23:00:00+00:00'
    """
    local = datetime.combine(day, site.digest_time, tzinfo=ZoneInfo(site.time_zone))
    return local.astimezone(UTC)


def plan(
    now: datetime, sites: Sequence[SiteClock], done: Collection[tuple[str, date]]
) -> Wakeup:
    """Which sites are due at ``now`` and when to wake up next.

    A site is due when its local time has reached its digest time and its digest for
    its local date is not in ``done`` (sent, or being sent by another process). Only
    today's digest is considered: a site whose process was down all day does not get
    yesterday's digest the next morning (that one is stale; `digest send --date` can).
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    due: list[tuple[str, date]] = []
    upcoming: list[datetime] = []
    for site in sites:
        today = now.astimezone(ZoneInfo(site.time_zone)).date()
        at = send_instant(site, today)
        if now >= at:
            if (site.code, today) not in done:
                due.append((site.code, today))
            # Tomorrow's digest is the next moment for this site either way.
            upcoming.append(send_instant(site, today + timedelta(days=1)))
        else:
            upcoming.append(at)
    next_at = min(upcoming) if upcoming else now + timedelta(days=1)
    return Wakeup(tuple(sorted(due)), next_at.astimezone(UTC))


@dataclass
class ScheduleLoop:
    """The long-running scheduler, with every dependency on the outside passed in.

    ``load_sites`` reads the sites, ``load_done`` the (site, date) pairs already sent or
    being sent for the given dates, ``send`` sends one site's digest for one date and
    says whether it was handled (sent, or nothing to send) rather than failed.
    """

    load_sites: Callable[[], Sequence[SiteClock]]
    load_done: Callable[[Collection[date]], Collection[tuple[str, date]]]
    send: Callable[[str, date], bool]
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    # Re-read the sites at least this often (new sites, changed digest times).
    max_sleep: timedelta = timedelta(minutes=5)
    # After a failure (SMTP down), retry that often rather than spinning.
    retry_after: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        # Outcomes that leave no record (no recipients, all clear skipped): not retried
        # by this process today. Failures are retried after ``retry_after``.
        self._handled: set[tuple[str, date]] = set()
        self._failed_until: dict[tuple[str, date], datetime] = {}

    def step(self) -> float:
        """Send what is due now; return the seconds to sleep before the next step."""
        now = self.clock()
        sites = self.load_sites()
        days = {now.astimezone(ZoneInfo(site.time_zone)).date() for site in sites}
        # Forget past days, so a process running for months keeps a bounded memory.
        self._handled = {key for key in self._handled if key[1] in days}
        self._failed_until = {k: u for k, u in self._failed_until.items() if k[1] in days}
        done = set(self.load_done(days)) | self._handled
        waiting = {key for key, until in self._failed_until.items() if until > now}
        wakeup = plan(now, sites, done | waiting)
        for code, day in wakeup.due:
            self._failed_until.pop((code, day), None)
            if self.send(code, day):
                self._handled.add((code, day))
            else:
                self._failed_until[(code, day)] = now + self.retry_after
        retries = [until for until in self._failed_until.values() if until > now]
        next_at = min([wakeup.next_at, *retries])
        delay = min((next_at - self.clock()).total_seconds(), self.max_sleep.total_seconds())
        return max(delay, 1.0)

    def run(self, *, steps: int | None = None) -> None:
        """Loop forever (or ``steps`` times, for tests)."""
        count = 0
        while steps is None or count < steps:
            try:
                delay = self.step()
            except Exception:
                # A database or network hiccup must not end a process meant to run for
                # months: log it and try again later (what was sent is in the database).
                log.exception("digest scheduler step failed; retrying")
                delay = self.retry_after.total_seconds()
            count += 1
            log.debug("digest scheduler sleeping %.0f s", delay)
            self.sleep(delay)
