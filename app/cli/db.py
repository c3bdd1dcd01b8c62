"""followup db upgrade|downgrade|check"""

from __future__ import annotations

from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from app import migrate
from app.cli.context import CliContext, pass_cli


@click.group("db")
def db_group() -> None:
    """Database migrations (the schema comes only from them)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_cli
def upgrade(ctx: CliContext, revision: str) -> None:
    """Migrate the database named by DATABASE_URL."""
    migrate.upgrade(url=ctx.settings.database_url, revision=revision,
                    connect_timeout=ctx.settings.db_connect_timeout_seconds)
    click.echo(f"database at {revision}", err=True)


@db_group.command("downgrade")
@click.option("--revision", required=True, help="Target revision, or 'base'")
@pass_cli
def downgrade(ctx: CliContext, revision: str) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(url=ctx.settings.database_url, revision=revision,
                      connect_timeout=ctx.settings.db_connect_timeout_seconds)
    click.echo(f"database at {revision}", err=True)


@db_group.command("check")
@pass_cli
def check(ctx: CliContext) -> None:
    """Exit 0 if the database is migrated to the code's revision, else say why and exit 1.

    For start scripts that must not serve an unmigrated database (docker/entrypoint.sh).
    """
    head = migrate.head_revision()
    try:
        current = migrate.current_revision(
            url=ctx.settings.database_url,
            connect_timeout=ctx.settings.db_connect_timeout_seconds,
        )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _refuse(f"database unreachable: {reason}")
    if current != head:
        _refuse(f"database at revision {current or 'none (never migrated)'}, the code needs"
                f" {head}: run `followup db upgrade`")
    click.echo(f"database at {head} (head)", err=True)


def _refuse(line: str) -> NoReturn:
    click.echo(f"error: {line}", err=True)
    raise click.exceptions.Exit(1)


COMMANDS = [db_group]
