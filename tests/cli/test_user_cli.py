"""followup user create|list|disable|enable|reset-password against a real database."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.errors import NotAuthenticated
from app.models import AuditRecord, User
from app.services.accounts.signin import check_password_sign_in
from tests.conftest import BACKENDS, drop_database, fresh_database_url

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("users"))
    migrate.upgrade(url=url)
    assert run(url, "schedule", "load", str(SCHEDULES)).exit_code == 0
    yield url
    drop_database(url)


def run(database: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": database},
                              catch_exceptions=False)


def signs_in(database: str, username: str, password: str) -> bool:
    engine = make_engine(database)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            check_password_sign_in(session, username=username, password=password,
                                   address=None, now=utcnow())
        return True
    except NotAuthenticated:
        return False
    finally:
        engine.dispose()


def test_create_prints_a_one_time_password_once_and_list_never_shows_it(database: str) -> None:
    created = run(database, "user", "create", "li.wei", "--name", "Dr Li Wei",
                  "--role", "coordinator", "--site", "YC3H")
    assert created.exit_code == 0, created.stderr
    password = created.stdout.strip()
    assert len(password) == 20 and "\n" not in password
    assert "must be changed at the first sign-in" in created.stderr
    listed = run(database, "user", "list")
    header, line = listed.stdout.splitlines()[:2]
    assert header.split("\t") == ["username", "name", "role", "sites", "studies", "created",
                                  "must_change_password", "state", "email"]
    fields = line.split("\t")
    assert fields[:5] + fields[6:] == [
        "li.wei", "Dr Li Wei", "coordinator", "YC3H", "-", "yes", "active", "-"]
    assert password not in listed.stdout
    assert signs_in(database, "li.wei", password)


def test_disable_enable_and_reset(database: str) -> None:
    first = run(database, "user", "create", "ana.m", "--name", "Ana M", "--role", "monitor",
                "--study", "UCART-SLE").stdout.strip()
    assert run(database, "user", "disable", "ana.m").exit_code == 0
    assert "disabled" in run(database, "user", "list").stdout
    assert not signs_in(database, "ana.m", first)
    assert run(database, "user", "enable", "ana.m").exit_code == 0
    reset = run(database, "user", "reset-password", "ana.m")
    assert reset.exit_code == 0 and "next sign-in" in reset.stderr
    second = reset.stdout.strip()
    assert second != first and signs_in(database, "ana.m", second)
    refused = CliRunner().invoke(cli, ["user", "create", "robot", "--name", "R",
                                               "--role", "edc"],
                                 env={"DATABASE_URL": database})
    assert refused.exit_code != 0
    engine = make_engine(database)
    try:
        with transaction(make_sessionmaker(engine), write=False) as session:
            actions = list(session.scalars(select(AuditRecord.action).where(
                AuditRecord.key == "ana.m").order_by(AuditRecord.id)))
            assert actions == ["user.created", "user.disabled", "user.enabled",
                               "user.password_reset"]
            assert session.scalars(select(User.must_change_password).where(
                User.username == "ana.m")).one() is True
    finally:
        engine.dispose()


def test_the_readmes_first_admin_person_can_sign_in(database: str) -> None:
    """The command the README's first steps give makes an admin person who signs in."""
    readme = (SCHEDULES.parent / "README.md").read_text(encoding="utf-8")
    (line,) = [x for x in readme.splitlines() if x.startswith(".venv/bin/followup user create")]
    args = shlex.split(line)[1:]
    created = run(database, *args)
    assert created.exit_code == 0, created.stderr
    username = args[2]
    assert signs_in(database, username, created.stdout.strip())
    listed = run(database, "user", "list").stdout
    assert any(row.split("\t")[:3] == [username, "Ada Lovelace", "admin"]
               for row in listed.splitlines())


def test_update_changes_role_and_scope_with_one_line_errors(database: str) -> None:
    created = run(database, "user", "create", "mei.lin", "--name", "Mei Lin",
                  "--role", "coordinator", "--site", "YC3H")
    assert created.exit_code == 0, created.stderr
    changed = run(database, "user", "update", "mei.lin", "--site", "YC3H", "--site", "WTCH")
    assert changed.exit_code == 0, changed.stderr
    assert changed.stdout.split("\t")[:5] == ["mei.lin", "Mei Lin", "coordinator",
                                              "WTCH,YC3H", "-"]
    monitor = run(database, "user", "update", "mei.lin", "--role", "monitor", "--no-sites",
                  "--study", "UCART-SLE", "--name", "Dr Mei Lin")
    assert monitor.exit_code == 0, monitor.stderr
    assert monitor.stdout.split("\t")[:5] == ["mei.lin", "Dr Mei Lin", "monitor", "-",
                                              "UCART-SLE"]
    for args, message in [
        (["--no-studies"], "a monitor user needs at least one study"),
        (["--site", "NOPE"], "unknown site(s): NOPE"),
    ]:
        refused = run(database, "user", "update", "mei.lin", *args)
        assert refused.exit_code != 0
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], refused.stderr
    both = run(database, "user", "update", "mei.lin", "--site", "YC3H", "--no-sites")
    assert both.exit_code == 2 and "Error: give --site or --no-sites" in both.stderr
    missing = run(database, "user", "update", "nobody", "--site", "YC3H")
    assert missing.exit_code != 0 and "no user named nobody" in missing.stderr
    engine = make_engine(database)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            user = session.scalars(select(User).where(User.username == "mei.lin")).one()
            assert (user.role, user.sites, user.studies) == ("monitor", [], ["UCART-SLE"])
            befores = [r.before for r in session.scalars(
                select(AuditRecord).where(AuditRecord.action == "user.updated",
                                          AuditRecord.key == "mei.lin")
                .order_by(AuditRecord.id))]
    finally:
        engine.dispose()
    assert befores == [{"sites": ["YC3H"]},
                       {"display_name": "Mei Lin", "role": "coordinator",
                        "sites": ["WTCH", "YC3H"], "studies": []}]


def test_an_e_mail_address_for_single_sign_on(database: str) -> None:
    created = run(database, "user", "create", "wu.fang", "--name", "Wu Fang",
                  "--role", "coordinator", "--site", "YC3H", "--email", "Wu.Fang@H.example")
    assert created.exit_code == 0, created.stderr
    changed = run(database, "user", "set-email", "wu.fang", "fang.wu@h.example")
    assert changed.exit_code == 0 and "fang.wu@h.example" in changed.stderr
    taken = CliRunner().invoke(cli, ["user", "create", "wu.f2", "--name", "W",
                                     "--role", "coordinator", "--site", "YC3H",
                                     "--email", "FANG.WU@h.example"],
                               env={"DATABASE_URL": database})
    assert taken.exit_code == 1 and "another user has the e-mail address" in taken.stderr
    assert len(taken.stderr.strip().splitlines()) == 1
    listed = run(database, "user", "list").stdout.splitlines()
    assert [row.split("\t")[-1] for row in listed if row.startswith("wu.fang\t")] == [
        "fang.wu@h.example"]
    engine = make_engine(database)
    try:
        with transaction(make_sessionmaker(engine), write=False) as session:
            assert session.scalars(select(User.email).where(
                User.username == "wu.fang")).one() == "fang.wu@h.example"
    finally:
        engine.dispose()
