"""followup protocol activate|diff|impact|apply"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime

import click

from app.cli.context import CliContext, pass_cli
from app.cli.protocol_output import (
    IMPACT_COLUMNS,
    diff_json,
    diff_table,
    impact_json,
    impact_rows,
    impact_table,
)
from app.errors import Conflict
from app.services.amendments.apply import Outcome, apply_amendment
from app.services.amendments.preview import diff_versions, impacts, subjects_of
from app.services.amendments.run import blocked_why, summary_line
from app.services.studies import activate_version


@click.group("protocol")
def protocol_group() -> None:
    """Protocol versions and amendments: activate, diff, impact, apply."""


@protocol_group.command("activate")
@click.argument("study")
@click.argument("version")
@pass_cli
def activate(ctx: CliContext, study: str, version: str) -> None:
    """Enrol new subjects of STUDY on VERSION (a version already loaded).

    Subjects already enrolled keep their version until `followup protocol apply`.
    """
    with ctx.unit_of_work() as session:
        changed = activate_version(session, study=study, version=version, actor=ctx.actor)
    click.echo(f"{study} {version} {'is now' if changed else 'was already'} the active version")


@protocol_group.command("diff")
@click.argument("study")
@click.option("--from", "from_version", required=True, help="The version diffed from")
@click.option("--to", "to_version", required=True, help="The version diffed to")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_cli
def diff(ctx: CliContext, study: str, from_version: str, to_version: str, fmt: str) -> None:
    """What changes from one loaded version of STUDY to another."""
    with ctx.unit_of_work(write=False) as session:
        result = diff_versions(session, study=study, from_version=from_version,
                               to_version=to_version, actor=ctx.actor)
    if fmt == "json":
        click.echo(json.dumps(diff_json(result), indent=2))
    else:
        click.echo(diff_table(result))


@protocol_group.command("impact")
@click.argument("study")
@click.option("--to", "to_version", required=True, help="The version subjects would move to")
@click.option("--subject", "subject_ids", multiple=True, help="Only this subject (repeatable)")
@click.option("--site", default=None, help="Only the subjects at this site")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@pass_cli
def impact(ctx: CliContext, study: str, to_version: str, subject_ids: tuple[str, ...],
           site: str | None, fmt: str) -> None:
    """What moving each subject of STUDY to a version would do (nothing is written).

    Lists, per subject, each visit that would move, appear, be cancelled (removed by the
    amendment) or change status, a completed visit that would fall outside its new
    window, the endpoint windows that change, and the subjects blocked by a missing
    re-consent.
    """
    now = datetime.now(UTC)
    with ctx.unit_of_work(write=False) as session:
        found = impacts(session, study=study, to_version=to_version, actor=ctx.actor, now=now,
                        subject_ids=subject_ids, site=site)
    if fmt == "json":
        click.echo(json.dumps(impact_json(found), indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=IMPACT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(impact_rows(found))
    else:
        click.echo(impact_table(found))


@protocol_group.command("apply")
@click.argument("study")
@click.option("--to", "to_version", required=True, help="The version subjects move to")
@click.option("--reason", required=True, help="Why (kept in each subject's audit record)")
@click.option("--subject", "subject_ids", multiple=True, help="This subject (repeatable)")
@click.option("--site", default=None, help="Every subject at this site")
@click.option("--all", "every", is_flag=True, help="Every subject of the study")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing")
@pass_cli
def apply(ctx: CliContext, study: str, to_version: str, reason: str,
          subject_ids: tuple[str, ...], site: str | None, every: bool, dry_run: bool) -> None:
    """Move subjects of STUDY to a version: one transaction per subject.

    Give exactly one of --subject, --site or --all. Recorded visits keep every fact;
    visits the version removed are cancelled, never deleted. A subject already on the
    version is left alone, one waiting for its re-consent is skipped and listed. If the
    run stops, the subjects before the stop are moved and the rest are not: run it again.
    """
    if sum((bool(subject_ids), site is not None, every)) != 1:
        raise click.UsageError("give exactly one of --subject, --site or --all")
    if dry_run:
        click.get_current_context().invoke(impact, study=study, to_version=to_version,
                                           subject_ids=subject_ids, site=site, fmt="table")
        return
    now = datetime.now(UTC)
    with ctx.unit_of_work(write=False) as session:
        ids = subjects_of(session, study=study, actor=ctx.actor, subject_ids=subject_ids,
                          site=site)
    counts = dict.fromkeys(Outcome, 0)
    blocked: list[str] = []
    with click.progressbar(ids, label=f"applying {to_version}", file=sys.stderr,
                           hidden=not sys.stderr.isatty()) as bar:
        for subject_id in bar:
            try:
                with ctx.unit_of_work() as session:
                    done = apply_amendment(session, study=study, subject_id=subject_id,
                                           to_version=to_version, reason=reason,
                                           actor=ctx.actor, now=now)
            except Conflict as exc:
                blocked.append(f"{subject_id}: {blocked_why(exc)}")
                continue
            counts[done.outcome] += 1
    click.echo(summary_line(study, to_version, counts[Outcome.APPLIED],
                            counts[Outcome.ALREADY], len(blocked)))
    for line in blocked:
        click.echo(f"blocked {line}", err=True)


COMMANDS: list[click.Command] = [protocol_group]
