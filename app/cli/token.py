"""followup token create|list|revoke|bootstrap|purge-keys

A new token's secret is printed once, alone on stdout (so `$(followup token create ...)`
captures it); everything else goes to stderr.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import click

from app.access import Role
from app.cli.context import CliContext, pass_cli
from app.services import tokens as token_service
from app.services.idempotency import RETENTION, purge_keys
from app.services.tokens import TokenView


@click.group("token")
def token_group() -> None:
    """API tokens: create, list, revoke."""


def _expiry(day: date | None) -> datetime | None:
    # A token "expires 2026-12-31" works through that whole day (UTC).
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--site", "sites", multiple=True, metavar="CODE", help="Repeatable.")
@click.option("--study", "studies", multiple=True, metavar="CODE", help="Repeatable.")
@click.option("--name", default=None, help="Unique name (default: ROLE-<random>).")
@click.option(
    "--expires", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
    help="Last day the token works (UTC), YYYY-MM-DD.",
)
@pass_cli
def create(
    ctx: CliContext, role: str, sites: tuple[str, ...], studies: tuple[str, ...],
    name: str | None, expires: datetime | None,
) -> None:
    """Create a token and print it once."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        created = token_service.create_token(
            session, actor=ctx.actor, role=role, sites=sites, studies=studies, name=name,
            expires_at=_expiry(expires.date() if expires else None), now=now,
        )
    click.echo(f"token {created.token.name} ({created.token.role}) created; "
               "it is shown once, store it now:", err=True)
    click.echo(created.secret)


def _line(view: TokenView, now: datetime) -> str:
    state = "revoked" if view.revoked_at else ("active" if view.active_at(now) else "expired")
    return "\t".join([
        view.name, view.role, ",".join(view.sites) or "-", ",".join(view.studies) or "-",
        view.created_at.isoformat(timespec="seconds"),
        view.expires_at.isoformat(timespec="seconds") if view.expires_at else "-",
        view.revoked_at.isoformat(timespec="seconds") if view.revoked_at else "-",
        state,
    ])


@token_group.command("list")
@pass_cli
def list_(ctx: CliContext) -> None:
    """List tokens (never their secrets), tab-separated."""
    now = datetime.now(UTC)
    with ctx.unit_of_work(write=False) as session:
        views = token_service.list_tokens(session, actor=ctx.actor)
    click.echo("name\trole\tsites\tstudies\tcreated\texpires\trevoked\tstate")
    for view in views:
        click.echo(_line(view, now))


@token_group.command("revoke")
@click.argument("name")
@pass_cli
def revoke(ctx: CliContext, name: str) -> None:
    """Revoke the token NAME from now on."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        view = token_service.revoke_token(session, actor=ctx.actor, name=name, now=now)
    assert view.revoked_at is not None
    click.echo(f"token {name} revoked at {view.revoked_at.isoformat(timespec='seconds')}",
               err=True)


@token_group.command("bootstrap")
@pass_cli
def bootstrap(ctx: CliContext) -> None:
    """Create the first admin token, unless an active admin token exists."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        created = token_service.bootstrap_admin(session, actor=ctx.actor, now=now)
    if created is None:
        click.echo("an admin token already exists (followup token list); none created",
                   err=True)
        return
    click.echo(f"admin token {created.token.name!r} created. It will not be shown again;"
               " store it now:")
    click.echo(created.secret)


@token_group.command("purge-keys")
@click.option(
    "--older-than-hours", default=int(RETENTION.total_seconds() // 3600), show_default=True,
    type=click.IntRange(min=int(RETENTION.total_seconds() // 3600)),
    help="Delete Idempotency-Keys older than this.",
)
@pass_cli
def purge(ctx: CliContext, older_than_hours: int) -> None:
    """Delete stored Idempotency-Key answers past their retention (run it daily)."""
    now = datetime.now(UTC)
    with ctx.unit_of_work() as session:
        count = purge_keys(session, actor=ctx.actor, older_than=timedelta(hours=older_than_hours),
                           now=now)
    click.echo(f"{count} idempotency key(s) purged", err=True)


COMMANDS: list[click.Command] = [token_group]
