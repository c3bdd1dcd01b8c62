"""`followup --help` lists the commands without importing them (nor the application)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import click
import pytest

import app.cli
from app.cli import COMMAND_MODULES
from tests.conftest import ROOT

# What listing the commands must not load: the web stack, the database, the services.
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "pydantic", "psycopg",
         "app.services", "app.db", "app.models", "app.settings")


# Runs `followup ARGS` as `followup` does, then lists every module loaded, on stderr.
PROGRAM = (
    "import atexit, sys\n"
    "atexit.register(lambda: print(*sorted(sys.modules), sep='\\n', file=sys.stderr))\n"
    "from app.cli import main\n"
    "main()\n"
)


def imported_by(*args: str) -> tuple[str, list[str]]:
    """What `followup ARGS` prints in a new process, and every module it imported."""
    child = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == 0, child.stderr
    modules = child.stderr.splitlines()
    assert "app.cli" in modules and "click" in modules  # the list is there and was read
    return child.stdout, modules


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]


@pytest.mark.parametrize("args", [("--help",), ("-h",)])
def test_listing_the_commands_imports_none_of_them(args: tuple[str, ...]) -> None:
    out, modules = imported_by(*args)
    assert heavy(modules) == []
    assert [m for m in modules if m.startswith("app.cli.")] == []
    assert "  digest    Daily email digest per site: overdue, due and upcoming visits.\n" in out


def test_every_summary_is_listed_whole_in_80_columns() -> None:
    """The one line of ``followup --help`` a newcomer reads is never cut with "..."."""
    names = app.cli.COMMAND_SUMMARIES
    room = 80 - 6 - max(len(name) for name in names)
    assert {n: s for n, s in names.items() if len(s) > room} == {}


def test_a_commands_help_imports_that_command_only() -> None:
    out, modules = imported_by("token", "--help")
    assert "API tokens: create, list, revoke." in out
    assert "app.cli.token" in modules
    assert [m for m in modules if m.startswith("app.cli.") and m != "app.cli.token"] == [
        "app.cli.context"
    ]


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_each_listed_summary_is_the_commands_own(name: str) -> None:
    summary = app.cli.COMMAND_SUMMARIES[name]
    (command,) = importlib.import_module(f"app.cli.{name}").COMMANDS
    assert command.name == name and not command.hidden and command.short_help is None
    assert summary == inspect.cleandoc(command.help or "").split("\n\n")[0]
    for limit in (30, 45, 200):  # listed as click would list the loaded command
        stand_in = click.Command(name, help=summary)
        assert command.get_short_help_str(limit) == stand_in.get_short_help_str(limit)
