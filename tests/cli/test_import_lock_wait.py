"""Commands are batch work: they wait for another writer longer than a request does."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import migrate
from app.cli import cli
from app.cli.context import BATCH_LOCK_TIMEOUT_SECONDS, CliContext
from app.db import make_engine, make_sessionmaker, transaction
from app.settings import Settings
from tests.conftest import drop_database, fresh_database_url
from tests.helpers_subjects import load_seed_studies

HELD_SECONDS = 2.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url("sqlite", tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
    engine.dispose()
    yield url
    drop_database(url)


def test_an_import_waits_out_a_writer_longer_than_the_request_bound(
    database: str, tmp_path: Path
) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text("subject_id,site,consent_date,date_of_birth,infusion,infusion_planned\n"
                   "W-1,YC3H,2025-01-05,1980-05-01,2025-02-01,false\n")
    holder = sqlite3.connect(database.removeprefix("sqlite:///"), isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(HELD_SECONDS, lambda: holder.execute("ROLLBACK"))
    release.start()
    began = time.monotonic()
    try:
        result = CliRunner().invoke(
            cli, ["subjects", "import", str(csv), "--study", "UCART-SLE"],
            env={"DATABASE_URL": database, "DB_LOCK_TIMEOUT_SECONDS": "0.5"},
        )
    finally:
        release.join()
        holder.close()
    assert result.exit_code == 0, result.output
    assert "imported 1 subject(s)" in result.stdout
    assert time.monotonic() - began >= HELD_SECONDS * 0.9


def test_commands_wait_at_least_the_batch_timeout() -> None:
    short = CliContext(_settings=Settings(database_url="sqlite://", db_lock_timeout_seconds=1))
    long = CliContext(_settings=Settings(database_url="sqlite://", db_lock_timeout_seconds=500))
    for ctx, expected in ((short, BATCH_LOCK_TIMEOUT_SECONDS), (long, 500.0)):
        engine = ctx.factory.kw["bind"]
        with engine.connect() as conn:
            busy_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert busy_ms == expected * 1000
        engine.dispose()
