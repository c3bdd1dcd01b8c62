"""followup digest send|schedule"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from email.message import EmailMessage

import click

from app.adapters.mail import SmtpSender
from app.cli.context import CliContext, pass_cli
from app.db import utcnow
from app.services.digest.content import iso_with_weekday
from app.services.digest.job import DigestRun, Outcome, SiteResult
from app.services.digest.timing import ScheduleLoop


@click.group("digest")
def digest_group() -> None:
    """Daily email digest per site: overdue, due and upcoming visits."""


def _describe(result: SiteResult) -> str:
    head = f"{result.site} {iso_with_weekday(result.local_date)}"
    if result.outcome in (Outcome.SENT, Outcome.DRY_RUN):
        verb = "sent" if result.outcome is Outcome.SENT else "would send"
        line = (
            f"{head}: {verb} {len(result.messages)} message(s) to {result.recipients}"
            f" recipient(s), {result.overdue} overdue"
        )
        if result.refused:
            line += f"; refused by the server: {', '.join(result.refused)}"
        if result.earlier:
            line += f"; {result.earlier} message(s) sent by an earlier run"
        return line
    if result.outcome is Outcome.FAILED:
        return f"{head}: FAILED: {result.detail}"
    return f"{head}: {result.outcome.value}"


def _print_message(message: EmailMessage) -> None:
    """A readable rendering: the headers, then the plain-text part (decoded)."""
    click.echo("=" * 72)
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        click.echo(f"{header}: {message[header]}")
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    click.echo("")
    if isinstance(text, EmailMessage):
        click.echo(text.get_content().rstrip("\n"))
    if isinstance(html, EmailMessage):
        click.echo(f"\n[and an HTML alternative of {len(html.get_content())} characters]")


@digest_group.command("send")
@click.option(
    "--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
    help="The digest date, as a local date at each site (default: today at each site).",
)
@click.option("--site", "sites", multiple=True, metavar="CODE",
              help="Only this site (repeatable; default: every site).")
@click.option("--dry-run", is_flag=True, help="Print the emails; send and record nothing.")
@click.option("--force", is_flag=True, help="Send again even if already sent (and record it).")
@pass_cli
def send(
    ctx: CliContext, day: datetime | None, sites: tuple[str, ...], dry_run: bool, force: bool
) -> None:
    """Send each site's digest once per local date (safe to run again, e.g. from cron).

    Exits 1, naming the sites, when any site's digest could not be sent: nothing is
    recorded for them, so the next run sends them.
    """
    settings = ctx.settings
    run = DigestRun(
        factory=ctx.factory,
        settings=settings,
        sender=None if dry_run else SmtpSender(settings.smtp),
        clock=utcnow,
        actor=ctx.actor,
    )
    local_date: date | None = day.date() if day is not None else None
    results = run.run(sites=sites or None, local_date=local_date, dry_run=dry_run, force=force)
    for result in results:
        if dry_run:
            for message in result.messages:
                _print_message(message)
        click.echo(_describe(result))
    if not results:
        click.echo("no sites")
    failed = [result.site for result in results if result.outcome is Outcome.FAILED]
    if failed:
        click.echo(f"error: digest not sent for site(s) {', '.join(failed)}", err=True)
        click.get_current_context().exit(1)


@digest_group.command("schedule")
@pass_cli
def schedule(ctx: CliContext) -> None:
    """Run forever, sending each site's digest at its local digest time (default 07:00).

    Restarting is safe: what was sent is recorded, and a digest whose time has passed
    today goes out at start if it has not gone yet.
    """
    settings = ctx.settings
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run = DigestRun(factory=ctx.factory, settings=settings, sender=SmtpSender(settings.smtp),
                    clock=utcnow, actor=ctx.actor)
    loop = ScheduleLoop(
        load_sites=run.site_clocks, load_done=run.done_for, send=run.send_one,
        clock=utcnow, sleep=time.sleep,
    )
    logging.getLogger(__name__).info("digest scheduler started")
    loop.run()


COMMANDS = [digest_group]
