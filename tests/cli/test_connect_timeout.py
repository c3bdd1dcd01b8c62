"""Connecting to PostgreSQL is bounded by DB_CONNECT_TIMEOUT_SECONDS: the setting reaches
the driver of the server's and the commands' engines, and a database that cannot be
reached stops `followup db check` with one line and exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from app.cli import cli
from app.cli.context import CliContext
from app.db import DEFAULT_CONNECT_TIMEOUT, make_engine
from app.main import create_app
from app.settings import Settings
from tests.conftest import PG_URL
from tests.helpers_net import free_port

needs_postgres = pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL tests skipped: TEST_DATABASE_URL is not set"
)


def settings(url: str, **values: Any) -> Settings:
    return Settings(_env_file=None, database_url=url, **values)  # type: ignore[call-arg]


def engines(url: str, **values: Any) -> dict[str, Engine]:
    """The engine the server builds and the one the commands build, from the same settings."""
    s = settings(url, **values)
    server = create_app(s).state.engine
    command = CliContext(_settings=s).factory.kw["bind"]
    return {"server": server, "command": command}


def connect_args(engine: Engine) -> dict[str, Any]:
    """What the engine hands the driver's connect(), caught on the way (the attempt then
    goes on, and fails: nothing listens)."""
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _catch(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)

    with pytest.raises(OperationalError):
        engine.connect().close()
    engine.dispose()
    return seen


def test_the_setting_reaches_the_connect_args_of_the_server_and_the_commands() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"
    for name, engine in engines(url, db_connect_timeout_seconds=7).items():
        assert connect_args(engine)["connect_timeout"] == 7, name
    for name, engine in engines(url).items():
        assert connect_args(engine)["connect_timeout"] == DEFAULT_CONNECT_TIMEOUT == 5, name
    # A connect_timeout written in DATABASE_URL itself is kept.
    for name, engine in engines(f"{url}?connect_timeout=9").items():
        assert connect_args(engine)["connect_timeout"] == "9", name


def test_sqlite_has_no_connect_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_timeout=7)
    assert engine.dialect.create_connect_args(engine.url)[1].get("connect_timeout") is None
    with engine.connect():
        pass
    engine.dispose()


@needs_postgres
def test_a_real_connection_carries_the_timeout() -> None:
    assert PG_URL is not None
    for name, engine in engines(PG_URL, db_connect_timeout_seconds=7).items():
        with engine.connect() as conn:
            parameters = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        engine.dispose()
        assert parameters["connect_timeout"] == "7", name


def test_db_check_on_a_port_where_nothing_listens_is_one_line_and_exit_1() -> None:
    port = free_port()
    result = CliRunner().invoke(cli, ["db", "check"], env={
        "DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{port}/x",
        "DB_CONNECT_TIMEOUT_SECONDS": "2",
    })
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: database unreachable: ")
    assert f'"127.0.0.1", port {port} failed: Connection refused' in line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a server that hangs.
    The kernel completes the handshakes from the backlog; nothing ever reads or answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_db_check_gives_up_on_a_server_that_never_answers(
    silent_server: int, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    env |= {"DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{silent_server}/x",
            "DB_CONNECT_TIMEOUT_SECONDS": "2"}
    # Without the setting psycopg waits 130 s: the run would not end within the limit
    # below (a guard against hanging, far above the 2 s asked for).
    result = subprocess.run(
        [str(Path(sys.executable).parent / "followup"), "db", "check"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "error: database unreachable: connection timeout expired"
    ]


def test_a_connect_timeout_below_libpq_minimum_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["db", "check"], env={
        "DATABASE_URL": "sqlite://", "DB_CONNECT_TIMEOUT_SECONDS": "1",
    })
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: configuration: DB_CONNECT_TIMEOUT_SECONDS: Input should be greater than or"
        " equal to 2"
    ]
