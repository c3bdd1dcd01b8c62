"""A database that cannot be used stops a command with one line naming why, and exit 1.

Real databases throughout: a port nothing listens on, SQLite files in a missing
directory or opened read-only, databases never (or not fully) migrated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app import migrate
from app.cli import cli
from app.db import transaction
from app.models import Site
from tests.conftest import BACKENDS, ROOT, drop_database, fresh_database_url
from tests.helpers_digest import CommittedDb, add_recipient_row, committed_world
from tests.helpers_net import free_port

PASSWORD = "s3cret-pw"


def followup(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": url})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    return line


@pytest.fixture
def unreachable() -> tuple[str, str]:
    """A PostgreSQL URL with a password, on a port nothing listens on; and how it prints."""
    port = free_port()
    return (f"postgresql+psycopg://nobody:{PASSWORD}@127.0.0.1:{port}/x",
            f"postgresql+psycopg://nobody:***@127.0.0.1:{port}/x")


@pytest.mark.parametrize("args", [("db", "upgrade"), ("schedule", "load", "schedules/"),
                                  ("token", "list")])
def test_an_unreachable_database_is_one_line_without_the_password(
    unreachable: tuple[str, str], args: tuple[str, ...]
) -> None:
    url, shown = unreachable
    line = one_error_line(followup(url, *args))
    assert line == f"error: cannot reach the database at {shown}: connection refused"
    assert PASSWORD not in line


def test_a_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'followup.db'}"
    for args in (("db", "upgrade"), ("schedule", "load", "schedules/")):
        assert one_error_line(followup(url, *args)) == (
            f"error: cannot reach the database at {url}: unable to open database file"
            f" (the directory {tmp_path / 'gone'} does not exist)"
        )


def test_a_read_only_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "followup.db"
    migrate.upgrade(url=f"sqlite:///{path}")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert one_error_line(followup(read_only, "schedule", "load", "schedules/")) == (
        f"error: the database at {read_only} is read-only: attempt to write a readonly database"
    )


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists and was never migrated."""
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


@pytest.mark.parametrize("args", [("schedule", "load", "schedules/"), ("token", "list"),
                                  ("digest", "send", "--dry-run")])
def test_a_database_never_migrated_says_to_upgrade(empty_url: str, args: tuple[str, ...]) -> None:
    line = one_error_line(followup(empty_url, *args))
    assert line == "error: the database is not migrated: run followup db upgrade"
    assert followup(empty_url, "db", "upgrade").exit_code == 0
    assert followup(empty_url, *args).exit_code == 0


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    yield from committed_world(request.param, tmp_path)


def test_a_database_one_migration_behind_says_to_upgrade(world_db: CommittedDb) -> None:
    with transaction(world_db.factory) as session:
        site = session.scalars(select(Site).where(Site.code == "YC3H")).one()
        add_recipient_row(session, site, "crc@yc3h.example")
    head = migrate.head_revision()
    assert head is not None
    # Back to before the migration that added digest_messages (314c0af01e72), which
    # sending reads before any mail goes.
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("314c0af01e72")
    behind = script.down_revision
    assert isinstance(behind, str)
    migrate.downgrade(url=world_db.url, revision=behind)
    result = followup(world_db.url, "digest", "send", "--site", "YC3H", "--date", "2026-03-02")
    assert one_error_line(result) == (
        f"error: the database is not migrated to this version (at {behind}, needs {head}):"
        " run followup db upgrade"
    )


def test_an_unknown_revision_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'followup.db'}"
    line = one_error_line(followup(url, "db", "downgrade", "--revision", "nope"))
    assert line == "error: migrations: Can't locate revision identified by 'nope'"


def test_debug_shows_the_traceback_instead(unreachable: tuple[str, str]) -> None:
    url, _ = unreachable
    result = CliRunner().invoke(cli, ["--debug", "token", "list"], env={"DATABASE_URL": url})
    assert isinstance(result.exception, OperationalError)
    assert "error: cannot reach" not in result.output


def test_a_real_process_prints_one_line_and_exits_1(unreachable: tuple[str, str]) -> None:
    url, shown = unreachable

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args], env={**os.environ, "DATABASE_URL": url},
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )

    plain = run("db", "upgrade")
    assert (plain.returncode, plain.stdout) == (1, "")
    assert plain.stderr == f"error: cannot reach the database at {shown}: connection refused\n"
    debug = run("--debug", "db", "upgrade")
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert "sqlalchemy.exc.OperationalError" in debug.stderr
