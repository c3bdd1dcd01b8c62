"""followup token create|list|revoke|bootstrap|purge-keys against a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from app import migrate
from app.access import Role
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.models import ApiToken, AuditRecord, IdempotencyKey
from app.services.tokens import authenticate, hash_token
from tests.conftest import BACKENDS, drop_database, fresh_database_url

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = make_engine(database)
    yield engine
    engine.dispose()


def run(database: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": database},
                              catch_exceptions=False)


@pytest.fixture
def loaded(database: str) -> str:
    assert run(database, "schedule", "load", str(SCHEDULES)).exit_code == 0
    return database


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One loaded database for the tests that only add uniquely named tokens."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("tokens"))
    migrate.upgrade(url=url)
    assert run(url, "schedule", "load", str(SCHEDULES)).exit_code == 0
    yield url
    drop_database(url)


def test_bootstrap_prints_the_first_admin_token_once(database: str, engine: Engine) -> None:
    first = run(database, "token", "bootstrap")
    assert first.exit_code == 0, first.stderr
    message, secret = first.stdout.splitlines()
    assert "will not be shown again" in message and "'admin'" in message
    with transaction(make_sessionmaker(engine), write=False) as session:
        actor = authenticate(session, secret, now=utcnow())
        assert (actor.name, actor.role) == ("admin", Role.ADMIN)
        assert session.scalar(select(ApiToken.token_hash)) == hash_token(secret)

    again = run(database, "token", "bootstrap")
    assert again.exit_code == 0 and again.stdout == ""
    assert "already exists" in again.stderr

    # Once the admin token is revoked, bootstrap makes a new one (under a new name).
    assert run(database, "token", "revoke", "admin").exit_code == 0
    third = run(database, "token", "bootstrap")
    assert third.exit_code == 0 and "'admin-" in third.stdout


def test_create_list_revoke(loaded: str, engine: Engine) -> None:
    created = run(loaded, "token", "create", "--role", "coordinator", "--site", "YC3H",
                  "--site", "WTCH", "--name", "yc3h-nurse", "--expires", "2099-12-31")
    assert created.exit_code == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("fu_") and "\n" not in secret  # alone on stdout
    assert "shown once" in created.stderr and secret not in created.stderr

    unnamed = run(loaded, "token", "create", "--role", "edc", "--study", "UCART-SLE")
    assert unnamed.exit_code == 0

    listing = run(loaded, "token", "list")
    assert listing.exit_code == 0
    lines = [line.split("\t") for line in listing.stdout.splitlines()]
    assert lines[0] == ["name", "role", "sites", "studies", "created", "expires", "revoked",
                        "state"]
    rows = {line[0]: line for line in lines[1:]}
    nurse = rows["yc3h-nurse"]
    assert nurse[1:4] == ["coordinator", "WTCH,YC3H", "-"]
    assert nurse[5] == "2100-01-01T00:00:00+00:00" and nurse[6:] == ["-", "active"]
    edc_name = next(name for name in rows if name.startswith("edc-"))
    assert rows[edc_name][1:4] == ["edc", "-", "UCART-SLE"]
    assert secret not in listing.stdout and hash_token(secret) not in listing.stdout

    revoked = run(loaded, "token", "revoke", "yc3h-nurse")
    assert revoked.exit_code == 0 and "revoked at" in revoked.stderr
    after = {
        line.split("\t")[0]: line.split("\t")
        for line in run(loaded, "token", "list").stdout.splitlines()[1:]
    }
    assert after["yc3h-nurse"][7] == "revoked" and after["yc3h-nurse"][6] != "-"

    with transaction(make_sessionmaker(engine), write=False) as session:
        trail = session.execute(
            select(AuditRecord.action, AuditRecord.actor, AuditRecord.key)
            .where(AuditRecord.entity == "token").order_by(AuditRecord.id)
        ).all()
    assert [tuple(row) for row in trail] == [
        ("token.created", "system", "yc3h-nurse"),
        ("token.created", "system", edc_name),
        ("token.revoked", "system", "yc3h-nurse"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "coordinator"), "error: a coordinator token needs at least one site"),
        (("--role", "edc"), "error: an edc token needs at least one study"),
        (("--role", "monitor", "--study", "NOPE"), "error: unknown study(ies): NOPE"),
        (("--role", "coordinator", "--site", "NOPE"), "error: unknown site(s): NOPE"),
        (("--role", "admin", "--expires", "2001-01-01"), "error: expires_at is in the past"),
        (("--role", "admin", "--name", "bad name"), "error: a token name is 1-100 letters"),
    ],
)
def test_invalid_creations_fail_with_one_line(
    shared: str, args: tuple[str, ...], message: str
) -> None:
    result = run(shared, "token", "create", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)


def test_duplicate_names_and_unknown_revocations_fail(shared: str) -> None:
    assert run(shared, "token", "create", "--role", "admin", "--name", "ops").exit_code == 0
    duplicate = run(shared, "token", "create", "--role", "admin", "--name", "ops")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr
    unknown = run(shared, "token", "revoke", "nobody")
    assert unknown.exit_code == 1 and unknown.stderr == "error: no token named nobody\n"
    bad_role = run(shared, "token", "create", "--role", "root")
    assert bad_role.exit_code == 2


def test_purge_keys_removes_only_old_answers(database: str, engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        for key, age in (("old", 30), ("young", 2)):
            session.add(IdempotencyKey(
                token_name="edc", key=key, method="POST", path="/api/v1/x", request_hash="h",
                status_code=201, response_body="{}", created_at=utcnow() - timedelta(hours=age),
            ))
    result = run(database, "token", "purge-keys")
    assert result.exit_code == 0 and result.stderr == "1 idempotency key(s) purged\n"
    with transaction(factory, write=False) as session:
        assert session.scalars(select(IdempotencyKey.key)).all() == ["young"]
        assert session.scalar(select(func.count()).select_from(AuditRecord)
                              .where(AuditRecord.action == "idempotency.purged")) == 1
    assert run(database, "token", "purge-keys", "--older-than-hours", "1").exit_code == 2


def test_the_token_expires_after_its_last_day(shared: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    result = run(shared, "token", "create", "--role", "admin", "--expires", tomorrow.isoformat())
    secret = result.stdout.strip()
    engine = make_engine(shared)
    with transaction(make_sessionmaker(engine), write=False) as session:
        end = datetime.combine(tomorrow + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        authenticate(session, secret, now=end - timedelta(seconds=1))
        with pytest.raises(Exception, match="invalid or expired"):
            authenticate(session, secret, now=end)
    engine.dispose()
