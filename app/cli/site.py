"""followup site recipients add|remove|list"""

from __future__ import annotations

import click

from app.cli.context import CliContext, pass_cli
from app.services.digest.recipients import add_recipient, list_recipients, remove_recipient

STUDY_OPTION = click.option(
    "--study", default=None, metavar="CODE",
    help="Only this study's visits (default: every study of the site).",
)


@click.group("site")
def site_group() -> None:
    """Sites."""


@site_group.group("recipients")
def recipients_group() -> None:
    """Who receives each site's daily digest."""


@recipients_group.command("add")
@click.argument("site")
@click.argument("email")
@STUDY_OPTION
@pass_cli
def add(ctx: CliContext, site: str, email: str, study: str | None) -> None:
    """Add EMAIL to SITE's daily digest."""
    with ctx.unit_of_work() as session:
        added = add_recipient(session, site=site, email=email, study=study, actor=ctx.actor)
    scope = f"study {added.study}" if added.study else "all studies"
    click.echo(f"{added.email} receives the {added.site} digest ({scope})")


@recipients_group.command("remove")
@click.argument("site")
@click.argument("email")
@STUDY_OPTION
@pass_cli
def remove(ctx: CliContext, site: str, email: str, study: str | None) -> None:
    """Remove EMAIL (with that study filter) from SITE's daily digest."""
    with ctx.unit_of_work() as session:
        remove_recipient(session, site=site, email=email, study=study, actor=ctx.actor)
    click.echo(f"removed {email} from the {site} digest")


@recipients_group.command("list")
@click.argument("site", required=False)
@pass_cli
def list_(ctx: CliContext, site: str | None) -> None:
    """List the digest recipients (of SITE, or of every site): site, email, study."""
    with ctx.unit_of_work(write=False) as session:
        rows = list_recipients(session, site=site, actor=ctx.actor)
    for row in rows:
        click.echo(f"{row.site}\t{row.email}\t{row.study or '*'}")
    if not rows:
        click.echo("no recipients", err=True)


COMMANDS = [site_group]
