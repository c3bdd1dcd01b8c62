"""followup user create|list|update|disable|enable|set-email|reset-password

People who sign in to the pages with a username and a password. A new or reset
account's one-time password is printed once, alone on stdout (so `$(followup user
create ...)` captures it); it must be changed at the first sign-in. No command shows
a password again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from app.access import PERSON_ROLES
from app.cli.context import CliContext, pass_cli
from app.services.accounts import users as user_service
from app.services.accounts.users import UserView


@click.group("user")
def user_group() -> None:
    """People who sign in with a password: create, list, update, disable."""


@user_group.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True,
              help="The printed name, as on signatures (e.g. 'Dr Li Wei').")
@click.option("--email", default=None, help="Optional; what single sign-on may match.")
@click.option("--role", required=True, type=click.Choice([r.value for r in PERSON_ROLES]))
@click.option("--site", "sites", multiple=True, metavar="CODE", help="Repeatable.")
@click.option("--study", "studies", multiple=True, metavar="CODE", help="Repeatable.")
@pass_cli
def create(ctx: CliContext, username: str, display_name: str, email: str | None, role: str,
           sites: tuple[str, ...], studies: tuple[str, ...]) -> None:
    """Create USERNAME and print a one-time password once."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        created = user_service.create_user(
            session, actor=ctx.actor, username=username, display_name=display_name,
            role=role, sites=sites, studies=studies, now=now, email=email,
        )
    click.echo(f"user {created.user.username} ({created.user.role}) created; the one-time"
               " password is shown once and must be changed at the first sign-in:", err=True)
    click.echo(created.password)


def _line(view: UserView) -> str:
    return "\t".join([
        view.username, view.display_name, view.role, ",".join(view.sites) or "-",
        ",".join(view.studies) or "-", view.created_at.isoformat(timespec="seconds"),
        "yes" if view.must_change_password else "no",
        "disabled" if view.disabled_at else "active", view.email or "-",
    ])


@user_group.command("list")
@pass_cli
def list_(ctx: CliContext) -> None:
    """List users (never their passwords), tab-separated, one a line under a header:
    username, name, role, sites, studies, created, must_change_password, state, email
    ('-' for none)."""
    with ctx.unit_of_work(write=False) as session:
        views = user_service.list_users(session, actor=ctx.actor)
    click.echo("username\tname\trole\tsites\tstudies\tcreated\tmust_change_password\tstate"
               "\temail")
    for view in views:
        click.echo(_line(view))


@user_group.command("update")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="A new printed name.")
@click.option("--role", default=None, type=click.Choice([r.value for r in PERSON_ROLES]),
              help="A new role (made an admin, the user loses sites and studies not given).")
@click.option("--site", "sites", multiple=True, metavar="CODE",
              help="Repeatable: these sites replace the user's.")
@click.option("--no-sites", is_flag=True, help="Limit the user to no site.")
@click.option("--study", "studies", multiple=True, metavar="CODE",
              help="Repeatable: these studies replace the user's.")
@click.option("--no-studies", is_flag=True, help="Limit the user to no study.")
@pass_cli
def update(ctx: CliContext, username: str, display_name: str | None, role: str | None,
           sites: tuple[str, ...], no_sites: bool, studies: tuple[str, ...],
           no_studies: bool) -> None:
    """Change USERNAME's role, sites, studies or name; the rest stays.

    It counts from the user's next request. The last enabled admin keeps the role.
    """
    if (sites and no_sites) or (studies and no_studies):
        raise click.UsageError("give --site or --no-sites (--study or --no-studies), not both")
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        view = user_service.update_user(
            session, actor=ctx.actor, username=username, display_name=display_name,
            role=role, sites=_replacing(sites, no_sites),
            studies=_replacing(studies, no_studies), now=now,
        )
    click.echo(_line(view))


def _replacing(codes: tuple[str, ...], none: bool) -> list[str] | None:
    """The codes that replace the user's, or None to keep theirs."""
    return [] if none else list(codes) if codes else None


@user_group.command("disable")
@click.argument("username")
@pass_cli
def disable(ctx: CliContext, username: str) -> None:
    """Disable USERNAME: their sessions end and their personal tokens are revoked."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        view = user_service.disable_user(session, actor=ctx.actor, username=username, now=now)
    click.echo(f"user {view.username} disabled; their sessions ended and their personal"
               " tokens were revoked", err=True)


@user_group.command("enable")
@click.argument("username")
@pass_cli
def enable(ctx: CliContext, username: str) -> None:
    """Let USERNAME sign in again (revoked tokens stay revoked)."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        view = user_service.enable_user(session, actor=ctx.actor, username=username, now=now)
    click.echo(f"user {view.username} enabled", err=True)


@user_group.command("set-email")
@click.argument("username")
@click.argument("email")
@pass_cli
def set_email(ctx: CliContext, username: str, email: str) -> None:
    """Set USERNAME's e-mail address, which single sign-on may match ('' removes it)."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        view = user_service.set_email(session, actor=ctx.actor, username=username,
                                      email=email, now=now)
    click.echo(f"user {view.username}: e-mail address {view.email or 'removed'}", err=True)


@user_group.command("reset-password")
@click.argument("username")
@pass_cli
def reset_password(ctx: CliContext, username: str) -> None:
    """Give USERNAME a new one-time password, printed once; their sessions end."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        reset = user_service.reset_password(session, actor=ctx.actor, username=username,
                                            now=now)
    click.echo(f"user {reset.user.username}: the one-time password is shown once and must"
               " be changed at the next sign-in:", err=True)
    click.echo(reset.password)


COMMANDS: list[click.Command] = [user_group]
