"""The `followup` command. Errors: one line per problem on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from typing import Any

import click

from app.cli import db, demo, digest, schedule, serve, site, subjects, token
from app.cli.context import CliContext
from app.errors import FollowupError, ScheduleError


class FollowupGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScheduleError as exc:
            for line in exc.problems:
                click.echo(line, err=True)
            ctx.exit(1)
        except FollowupError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            ctx.exit(1)


@click.group(cls=FollowupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """followup: visit schedules and follow-up for clinical trials."""
    ctx.obj = CliContext()


for module in (db, schedule, serve, token, digest, site, subjects, demo):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))
