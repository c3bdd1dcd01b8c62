"""The `followup` command. Errors: one line per problem on stderr and a non-zero exit."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from app.errors import FollowupError, ScheduleError

# Each command lives in the module of the same name (its COMMANDS). They are imported
# when used, not up front: `followup serve` then starts without loading the rest of
# the application, which keeps the supervisor of several workers small and fast.
# `followup --help` lists them from the summaries below (each the first paragraph of
# the command's own help; a test keeps them equal) and so imports none of them.
COMMAND_SUMMARIES = {
    "db": "Database migrations (the schema comes only from them).",
    "demo": "Synthetic data to try the service with.",
    "digest": "Daily email digest per site: overdue, due and upcoming visits.",
    "export": "A study's subjects and visits as CSV, CDISC ODM 1.3.2 or SDTM.",
    "protocol": "Protocol versions and amendments: activate, diff, impact, apply.",
    "report": "Visit compliance and endpoint completeness reports.",
    "schedule": "Schedule files: validate, preview, load into the database.",
    "serve": "Serve the API and web pages with uvicorn.",
    "site": "Sites.",
    "subjects": "Subjects of a study.",
    "token": "API tokens: create, list, revoke.",
    "user": "People who sign in with a password: create, list, update, disable.",
}
COMMAND_MODULES = tuple(COMMAND_SUMMARIES)


class FollowupGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMAND_MODULES and name not in self.commands:
            module = importlib.import_module(f"app.cli.{name}")
            for command in module.COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, from COMMAND_SUMMARIES for the commands not loaded yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # A stand-in carrying the summary shortens it exactly as the command would.
            command = self.commands.get(name) or click.Command(name, help=COMMAND_SUMMARIES[name])
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            # Only now: it imports SQLAlchemy and Alembic, which `--help` must not.
            from app.cli.context import CliContext
            from app.cli.failures import describe_failure

            obj = ctx.obj if isinstance(ctx.obj, CliContext) else None
            summary = describe_failure(exc, database_url=obj.database_url if obj else None)
            if summary is None:
                raise
            click.echo(f"error: {summary}", err=True)
            ctx.exit(1)


@click.group(cls=FollowupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug", is_flag=True,
    help="Show the traceback of a database error instead of one line.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """followup: visit schedules and follow-up for clinical trials."""
    # Here, not at the top: `followup --help` never gets this far (nor needs settings).
    from app.cli.context import CliContext

    ctx.obj = CliContext(debug=debug)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))
