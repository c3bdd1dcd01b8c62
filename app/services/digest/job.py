"""Sending the daily digests exactly once per site and local date.

Sending mail is a side effect no database transaction can roll back, so this module,
unlike the other services, runs its own short transactions (given a session factory):

1. claim the (site, local date) row of ``digest_sends`` (state "sending") and commit;
   the unique constraint lets only one run hold it;
2. build and send the messages not yet accepted, outside any transaction; each
   message the SMTP server accepts (DATA answered 250) is recorded in
   ``digest_messages`` and committed at once, before the next message goes;
3. once every message is accepted, mark the row "sent" and commit; if sending failed,
   mark it "partial" when some messages were accepted (the next run sends only the
   others), or delete the claim when none was, so the next run (cron retry) sends it.

A run that dies between 1 and 3 leaves a "sending" claim; after ``STALE_CLAIM`` another
run may take it over, and sends the messages not recorded. The small window left open
is the classic one: a crash after the server accepted a message and before it is
recorded means one more email, never none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.access import SYSTEM, Actor
from app.adapters.mail import Delivery, MailError, MailSender
from app.db import transaction
from app.errors import NotFound
from app.models import DigestMessage, DigestSend, Site
from app.services.audit import record_audit
from app.services.digest.content import build_site_digest, site_local_date
from app.services.digest.mail import Outgoing, messages_for
from app.services.digest.recipients import recipients_of_site
from app.services.digest.timing import DEFAULT_DIGEST_TIME, SiteClock, parse_digest_time
from app.settings import Settings

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=15)
SENDING, PARTIAL, SENT = "sending", "partial", "sent"


class Outcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    IN_PROGRESS = "being sent by another run"
    NO_RECIPIENTS = "no recipients"
    ALL_CLEAR_SKIPPED = "all clear, not sent (DIGEST_SKIP_ALL_CLEAR)"
    DRY_RUN = "dry run"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SiteResult:
    site: str
    local_date: date
    outcome: Outcome
    overdue: int = 0
    recipients: int = 0
    messages: tuple[EmailMessage, ...] = field(default=(), repr=False)
    refused: tuple[str, ...] = ()
    detail: str = ""
    earlier: int = 0  # messages of this digest accepted in an earlier run, not sent again


@dataclass(frozen=True, slots=True)
class Claim:
    row_id: int
    claimed_at: datetime
    # What a --force run replaced, restored if its resend fails: (sent_at, message_id, n).
    previous: tuple[datetime | None, str | None, int] | None = None


def claim_send(
    session: Session, *, site_id: int, local_date: date, now: datetime, force: bool = False
) -> Claim | Outcome:
    """Take the (site, date) send, or say why not. The caller commits right away."""
    row = session.scalars(
        select(DigestSend).where(
            DigestSend.site_id == site_id, DigestSend.local_date == local_date
        )
    ).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    DigestSend(site_id=site_id, local_date=local_date, state=SENDING,
                               claimed_at=now, recipients=0)
                )
        except IntegrityError:
            # Another run inserted the same claim between our read and our insert.
            return Outcome.IN_PROGRESS
        claimed = session.scalars(
            select(DigestSend.id).where(
                DigestSend.site_id == site_id, DigestSend.local_date == local_date
            )
        ).one()
        return Claim(claimed, now)
    if row.state == SENT and not force:
        return Outcome.ALREADY_SENT
    if row.state == SENDING and row.claimed_at > now - STALE_CLAIM:
        return Outcome.IN_PROGRESS
    # Here the row is "partial" (taken at once), a stale claim, or sent and forced.
    # Compare-and-set: of two runs taking over the same row, one matches it.
    taken = session.execute(
        update(DigestSend)
        .where(DigestSend.id == row.id, DigestSend.state == row.state,
               DigestSend.claimed_at == row.claimed_at)
        .values(state=SENDING, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return Outcome.IN_PROGRESS
    previous = (row.sent_at, row.message_id, row.recipients) if row.state == SENT else None
    return Claim(row.id, now, previous)


def accepted_audiences(session: Session, claim: Claim) -> set[str | None]:
    """The study filters (None: all studies) whose message the server already accepted."""
    return set(
        session.scalars(
            select(DigestMessage.study_code).where(DigestMessage.send_id == claim.row_id)
        )
    )


def record_accepted(
    session: Session,
    claim: Claim,
    *,
    study: str | None,
    message_id: str,
    recipients: int,
    now: datetime,
) -> None:
    """The server accepted the message of ``study``'s audience: it is sent.

    It replaces what an earlier send recorded for that audience (a forced resend).
    """
    session.execute(
        delete(DigestMessage).where(
            DigestMessage.send_id == claim.row_id,
            DigestMessage.study_code.is_not_distinct_from(study),
        )
    )
    session.add(DigestMessage(send_id=claim.row_id, study_code=study, message_id=message_id,
                              recipients=recipients, accepted_at=now))
    session.flush()


def release_claim(session: Session, claim: Claim) -> None:
    """Undo a claim whose sending failed: the digest is not marked as sent.

    Messages the server accepted stay recorded: the row becomes "partial" and the next
    run sends only the others.
    """
    mine = (DigestSend.id == claim.row_id, DigestSend.claimed_at == claim.claimed_at)
    if claim.previous is None:
        recorded = session.scalar(
            select(DigestMessage.id).where(DigestMessage.send_id == claim.row_id).limit(1)
        )
        if recorded is None:
            session.execute(delete(DigestSend).where(*mine))
        else:
            session.execute(update(DigestSend).where(*mine).values(state=PARTIAL))
        return
    sent_at, message_id, recipients = claim.previous
    session.execute(
        update(DigestSend).where(*mine).values(
            state=SENT, sent_at=sent_at, message_id=message_id, recipients=recipients
        )
    )


def mark_sent(session: Session, claim: Claim, *, now: datetime) -> None:
    """Every message is accepted: the digest is sent (its Message-IDs and recipients are
    those of the messages recorded, this run's and earlier runs')."""
    rows = session.execute(
        select(DigestMessage.message_id, DigestMessage.recipients)
        .where(DigestMessage.send_id == claim.row_id)
        .order_by(DigestMessage.id)
    ).all()
    session.execute(
        update(DigestSend).where(DigestSend.id == claim.row_id).values(
            state=SENT, sent_at=now, message_id=_joined([mid for mid, _ in rows]),
            recipients=sum(n for _, n in rows),
        )
    )


def _joined(message_ids: Sequence[str], limit: int = 300) -> str:
    """As many whole Message-IDs as fit the column."""
    kept: list[str] = []
    for mid in message_ids:
        if len(" ".join([*kept, mid])) > limit:
            break
        kept.append(mid)
    return " ".join(kept)


@dataclass
class DigestRun:
    """One `digest send`: its inputs, and the session factory it commits through."""

    factory: sessionmaker[Session]
    settings: Settings
    sender: MailSender | None  # None only for dry runs
    clock: Callable[[], datetime]  # the caller's clock (a fixed one in tests)
    actor: Actor = SYSTEM

    def select_sites(self, codes: Sequence[str] | None) -> list[Site]:
        with transaction(self.factory, write=False) as session:
            statement = select(Site).order_by(Site.code)
            if codes:
                statement = statement.where(Site.code.in_(sorted(set(codes))))
            sites = list(session.scalars(statement))
        missing = sorted(set(codes or ()) - {site.code for site in sites})
        if missing:
            raise NotFound(f"unknown site {', '.join(missing)}")
        return sites

    def run(
        self,
        *,
        sites: Sequence[str] | None = None,
        local_date: date | None = None,
        dry_run: bool = False,
        force: bool = False,
    ) -> list[SiteResult]:
        """Each selected site's digest for ``local_date`` (default: today at that site).

        A failure at one site never stops the others; it is in the results.
        """
        started = self.clock()
        results = []
        for site in self.select_sites(sites):
            day = local_date if local_date is not None else site_local_date(site, started)
            results.append(self.send_site(site, day, dry_run=dry_run, force=force))
        return results

    def _prepare(self, site: Site, day: date) -> tuple[list[Outgoing], int, int]:
        s = self.settings
        with transaction(self.factory, write=False) as session:
            recipients = recipients_of_site(session, site.id)
            if not recipients:
                return [], 0, 0
            digest = build_site_digest(session, site=site, local_date=day, base_url=s.base_url)
        outgoing = messages_for(
            digest, recipients, sender=s.smtp.sender, now=self.clock(), base_url=s.base_url,
            skip_all_clear=s.digest_skip_all_clear,
        )
        return outgoing, len(digest.overdue), len(recipients)

    def send_site(self, site: Site, day: date, *, dry_run: bool, force: bool) -> SiteResult:
        code = site.code
        outgoing, overdue, n_recipients = self._prepare(site, day)
        if n_recipients == 0:
            return SiteResult(code, day, Outcome.NO_RECIPIENTS)
        if not outgoing:
            return SiteResult(code, day, Outcome.ALL_CLEAR_SKIPPED, recipients=n_recipients)
        if dry_run:
            messages = tuple(item.message for item in outgoing)
            addresses = sum(len(item.audience.emails) for item in outgoing)
            return SiteResult(code, day, Outcome.DRY_RUN, overdue, addresses, messages)
        assert self.sender is not None, "a real run needs a mail sender"
        done: set[str | None] = set()
        with transaction(self.factory) as session:
            claim = claim_send(session, site_id=site.id, local_date=day, now=self.clock(),
                               force=force)
            # A forced run sends every message again; any other, those not yet accepted.
            if isinstance(claim, Claim) and not force:
                done = accepted_audiences(session, claim)
        if not isinstance(claim, Claim):
            return SiteResult(code, day, claim, overdue)
        pending = [item for item in outgoing if item.audience.study not in done]
        earlier = len(outgoing) - len(pending)
        messages = tuple(item.message for item in pending)
        addresses = sum(len(item.audience.emails) for item in pending)
        accepted: list[int] = []

        def record(index: int, refused: tuple[str, ...]) -> None:
            item = pending[index]
            with transaction(self.factory) as session:
                record_accepted(
                    session, claim, study=item.audience.study,
                    message_id=str(item.message["Message-ID"]),
                    recipients=len(item.audience.emails) - len(refused), now=self.clock(),
                )
            accepted.append(index)

        try:
            delivery = (
                self.sender.send(messages, on_accepted=record) if messages else Delivery(0)
            )
        except Exception as exc:
            with transaction(self.factory) as session:
                release_claim(session, claim)
            if not isinstance(exc, MailError):
                log.exception("digest %s %s: unexpected error while sending", code, day)
            detail = str(exc)
            if accepted or earlier:
                detail += (f" ({len(accepted) + earlier} of {len(outgoing)} message(s) accepted;"
                           " the next run sends the others)")
            log.warning("digest %s %s not sent: %s", code, day, detail)
            return SiteResult(code, day, Outcome.FAILED, overdue, addresses, messages,
                              detail=detail, earlier=earlier)
        with transaction(self.factory) as session:
            mark_sent(session, claim, now=self.clock())
            record_audit(
                session, actor=self.actor, action="digest.sent", entity="digest", site=code,
                key=day.isoformat(),
                after={"messages": len(messages), "recipients": addresses,
                       "refused": list(delivery.refused), "overdue": overdue, "forced": force,
                       "sent_earlier": earlier},
            )
        log.info("digest %s %s sent: %d message(s) to %d recipient(s), %d overdue"
                 " (%d sent earlier)", code, day, len(messages), addresses, overdue, earlier)
        return SiteResult(code, day, Outcome.SENT, overdue, addresses, messages,
                          refused=delivery.refused, earlier=earlier)

    # The scheduler's view of the database (see app.services.digest.timing.ScheduleLoop).

    def site_clocks(self) -> list[SiteClock]:
        with transaction(self.factory, write=False) as session:
            rows = session.execute(
                select(Site.code, Site.time_zone, Site.digest_time).order_by(Site.code)
            ).all()
        clocks = []
        for code, time_zone, digest_time in rows:
            try:
                at = parse_digest_time(digest_time)
            except ValueError:
                # One bad row must not stop every other site's digest.
                log.error("site %s: bad digest time %r, using the default", code, digest_time)
                at = DEFAULT_DIGEST_TIME
            clocks.append(SiteClock(code, time_zone, at))
        return clocks

    def done_for(self, days: Collection[date]) -> set[tuple[str, date]]:
        """(site, date) pairs sent, or claimed by a live run, for the given dates."""
        fresh = self.clock() - STALE_CLAIM
        with transaction(self.factory, write=False) as session:
            rows = session.execute(
                select(Site.code, DigestSend.local_date)
                .join(Site, Site.id == DigestSend.site_id)
                .where(
                    DigestSend.local_date.in_(sorted(days)),
                    # A "partial" digest is not done: its other messages are due now.
                    (DigestSend.state == SENT)
                    | ((DigestSend.state == SENDING) & (DigestSend.claimed_at > fresh)),
                )
            ).all()
        return {(code, day) for code, day in rows}

    def send_one(self, code: str, day: date) -> bool:
        """Send one site's digest; False only when it failed (to be retried)."""
        (site,) = self.select_sites([code])
        result = self.send_site(site, day, dry_run=False, force=False)
        log.info("digest %s %s: %s", code, day.isoformat(), result.outcome.value)
        return result.outcome is not Outcome.FAILED
