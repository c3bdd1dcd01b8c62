"""Turning a site's digest into email messages (plain text + HTML, one per study filter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.services.digest.content import (
    CLOSING_SOON_DAYS,
    FIRST_DIGEST_MISSED_DAYS,
    UPCOMING_DAYS,
    DigestRow,
    SiteDigest,
    iso_with_weekday,
)
from app.services.digest.recipients import Recipient

# An email is read, not scrolled: past this many rows per section the worklist is the place.
MAX_ROWS = 100


@dataclass(frozen=True, slots=True)
class Audience:
    """Recipients sharing one study filter: they get the same message."""

    study: str | None
    emails: tuple[str, ...]


def group_recipients(recipients: Sequence[Recipient]) -> list[Audience]:
    """One audience per distinct filter; "all studies" first, then by study code.

    An address listed both for all studies and for one study gets both messages:
    they differ, and removing either entry is how it is undone.
    """
    groups: dict[str | None, list[str]] = {}
    for recipient in recipients:
        emails = groups.setdefault(recipient.study, [])
        if recipient.email not in emails:
            emails.append(recipient.email)
    order = sorted(groups, key=lambda study: (study is not None, study or ""))
    return [Audience(study, tuple(sorted(groups[study]))) for study in order]


def _plural(word: str, count: int) -> str:
    return word if count == 1 else f"{word}s"


def _closes(row: DigestRow) -> str:
    if row.closes_in_days == 0:
        return "closes today"
    if row.closes_in_days == 1:
        return "closes tomorrow"
    return f"closes in {row.closes_in_days} days"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app", "templates/email"),
        # Escape the HTML part (visit names come from protocol files); never the text part.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plural"] = _plural
    env.filters["day"] = iso_with_weekday
    env.filters["closes"] = _closes
    return env


def subject_line(digest: SiteDigest) -> str:
    """The site, the date, the overdue count and the newly missed one when not 0, e.g.

    ``[followup] YC3H 2026-03-02 (Mon): 3 overdue visits, 1 newly missed``
    """
    where = f"{digest.site} {digest.study_filter}" if digest.study_filter else digest.site
    if digest.all_clear:
        tail = "all clear"
    else:
        count = len(digest.overdue)
        tail = f"{count} overdue {_plural('visit', count)}"
        if digest.newly_missed:
            tail += f", {len(digest.newly_missed)} newly missed"
    return f"[followup] {where} {digest.date_label}: {tail}"


def render(digest: SiteDigest) -> tuple[str, str]:
    """The plain-text and HTML bodies of a digest."""
    env = _environment()
    context = {
        "d": digest,
        "subject": subject_line(digest),
        "overdue": digest.overdue[:MAX_ROWS],
        "due": digest.due[:MAX_ROWS],
        "upcoming": digest.upcoming[:MAX_ROWS],
        "newly_missed": digest.newly_missed[:MAX_ROWS],
        "first_digest_days": FIRST_DIGEST_MISSED_DAYS,
        "closing_days": CLOSING_SOON_DAYS,
        "upcoming_days": UPCOMING_DAYS,
    }
    text = env.get_template("digest.txt").render(context)
    html = env.get_template("digest.html").render(context)
    return text, html


def _domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2]
    # Without it make_msgid() would ask the resolver for this machine's name.
    return domain or "localhost"


def compose(
    digest: SiteDigest, *, to: Sequence[str], sender: str, now: datetime
) -> EmailMessage:
    """One multipart/alternative message of ``digest`` for the addresses ``to``."""
    text, html = render(digest)
    message = EmailMessage()
    message["Subject"] = subject_line(digest)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = make_msgid(
        idstring=f"digest.{digest.site}.{digest.local_date.isoformat()}", domain=_domain_of(sender)
    )
    # RFC 3834: tells mail servers and people's auto-responders not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


@dataclass(frozen=True, slots=True)
class Outgoing:
    audience: Audience
    message: EmailMessage


def messages_for(
    digest: SiteDigest,
    recipients: Sequence[Recipient],
    *,
    sender: str,
    now: datetime,
    base_url: str,
    skip_all_clear: bool,
) -> list[Outgoing]:
    """The messages of one site's digest: one per audience, all-clear ones unless skipped."""
    out: list[Outgoing] = []
    for audience in group_recipients(recipients):
        view = digest if audience.study is None else digest.for_study(
            audience.study, base_url=base_url
        )
        if view.all_clear and skip_all_clear:
            continue
        out.append(Outgoing(audience, compose(view, to=audience.emails, sender=sender, now=now)))
    return out
