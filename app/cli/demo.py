"""followup demo generate"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import click

from app.cli.context import CliContext, pass_cli
from app.services.demo import generate


@click.group("demo")
def demo_group() -> None:
    """Synthetic data to try the service with."""


@demo_group.command("generate")
@click.option("--subjects", default=500, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--sites", default=6, show_default=True, type=click.IntRange(1, 999))
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]),
              help="The date the history runs up to (default: today, UTC)")
@click.option("--seed", default=1, show_default=True, type=int,
              help="The same seed, size and date give the same rows")
@pass_cli
def generate_command(
    ctx: CliContext, subjects: int, sites: int, as_of: datetime | None, seed: int
) -> None:
    """Enrol SUBJECTS subjects with two years of history into demo copies of both seed
    trials (study codes UCART-SLE-DEMO and CART-HSCT-MM-DEMO) at SITES new sites.

    Refused when ENVIRONMENT=production: a production database holds trials' real data,
    and demo rows would sit beside them in its audit trail and backups."""
    if ctx.settings.environment == "production":
        click.echo("error: demo data is never written with ENVIRONMENT=production (the"
                   " database holds real trial data): generate it in a database of its own,"
                   " with ENVIRONMENT=development", err=True)
        raise click.exceptions.Exit(1)
    day: date = as_of.date() if as_of else datetime.now(UTC).date()
    with ctx.unit_of_work() as session, click.progressbar(
        length=subjects, label="generating", file=sys.stderr, hidden=not sys.stderr.isatty()
    ) as bar:
        result = generate(session, actor=ctx.actor, subjects=subjects, sites=sites, as_of=day,
                          seed=seed, on_chunk=bar.update)
    click.echo(f"{result.subjects} subjects with {result.visits} visits at {result.sites} sites"
               f" in {', '.join(result.studies)}, as of {day.isoformat()}")


COMMANDS: list[click.Command] = [demo_group]
