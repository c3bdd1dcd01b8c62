"""followup db upgrade|downgrade|current"""

from __future__ import annotations

import click

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
    migrate.upgrade(url=ctx.settings.database_url, revision=revision)
    click.echo(f"database at {revision}", err=True)


@db_group.command("downgrade")
@click.option("--revision", required=True, help="Target revision, or 'base'")
@pass_cli
def downgrade(ctx: CliContext, revision: str) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(url=ctx.settings.database_url, revision=revision)
    click.echo(f"database at {revision}", err=True)


COMMANDS = [db_group]
