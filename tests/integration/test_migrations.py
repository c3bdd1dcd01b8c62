"""The migrations build exactly the schema the models describe, and they run backwards too.

Each test gets a fresh, empty database of its backend (an SQLite file, or a new PostgreSQL
schema when TEST_DATABASE_URL is set). The comparison is Alembic's autogenerate
(``compare_metadata``) run inside ``app/migrations/env.py`` itself, so it uses the options the
project's own ``alembic revision --autogenerate`` uses (``compare_type`` and whatever is
added there later), never a copy of them that could drift.
"""

from __future__ import annotations

import pprint
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from app import migrate
from app.db import make_engine
from tests.conftest import BACKENDS, drop_database, fresh_database_url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def schema_diffs(url: str) -> list[Any]:
    """What autogenerate would put in a new migration for the database at ``url``.

    The database must be at the head revision. Nothing is migrated.
    """
    config = migrate.alembic_config(url=url)
    script = ScriptDirectory.from_config(config)
    found: list[Any] = []

    def compare(_revision: Any, context: MigrationContext) -> list[Any]:
        assert set(context.get_current_heads()) == set(script.get_heads()), (
            "the database is not at the head revision"
        )
        found.extend(compare_metadata(context, context.opts["target_metadata"]))
        return []  # run no migration

    with EnvironmentContext(config, script, fn=compare):
        script.run_env()
    return found


def assert_no_diffs(url: str) -> None:
    diffs = schema_diffs(url)
    assert diffs == [], (
        "the migrations and the models disagree; a new migration should do this:\n"
        + pprint.pformat(diffs, width=100)
    )


# Every object of the database but Alembic's own version table (and its key).
SQLITE_OBJECTS = """
SELECT type || ' ' || name FROM sqlite_master WHERE tbl_name != 'alembic_version'
"""
POSTGRESQL_OBJECTS = """
SELECT 'relation ' || c.relname FROM pg_class c
 WHERE c.relnamespace = current_schema()::regnamespace
   AND c.relname::text NOT IN ('alembic_version', 'alembic_version_pkc')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p
 WHERE p.pronamespace = current_schema()::regnamespace
UNION ALL
SELECT 'trigger ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t
 WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
"""


def leftovers(engine: Engine) -> list[str]:
    """The application's tables, indexes, triggers, functions and types in the database."""
    query = SQLITE_OBJECTS if engine.dialect.name == "sqlite" else POSTGRESQL_OBJECTS
    with engine.connect() as conn:
        return sorted(conn.execute(text(query)).scalars())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revisions_from_base() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def test_migrations_build_the_schema_of_the_models(empty_url: str) -> None:
    migrate.upgrade(url=empty_url)
    assert_no_diffs(empty_url)


def test_the_comparison_sees_a_schema_that_drifted(empty_url: str, empty_engine: Engine) -> None:
    """The check above is live: a column the models lack and an index they have but the
    database lacks are both reported."""
    migrate.upgrade(url=empty_url)
    with empty_engine.begin() as conn:
        conn.execute(text("ALTER TABLE sites ADD COLUMN colour VARCHAR(20)"))
        conn.execute(text("DROP INDEX ix_visits_site_state_target"))
    # Column and index operations are tuples ending in the column or index; type and
    # nullability changes come as lists of tuples, which these two never are.
    found = {(d[0], d[-1].name) for d in schema_diffs(empty_url) if isinstance(d, tuple)}
    assert {("add_index", "ix_visits_site_state_target"), ("remove_column", "colour")} <= found


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_the_models(
    empty_url: str, empty_engine: Engine
) -> None:
    migrate.upgrade(url=empty_url)
    assert current_revision(empty_engine) == migrate.head_revision()
    assert leftovers(empty_engine) != []

    migrate.downgrade(url=empty_url, revision="base")
    assert current_revision(empty_engine) is None
    assert leftovers(empty_engine) == []

    migrate.upgrade(url=empty_url)
    assert current_revision(empty_engine) == migrate.head_revision()
    assert_no_diffs(empty_url)


def test_every_migration_steps_down_and_up_again(empty_url: str, empty_engine: Engine) -> None:
    """Each revision's downgrade undoes exactly its upgrade, one step at a time."""
    revisions = revisions_from_base()
    assert revisions[-1] == migrate.head_revision()
    for before, revision in zip(["base", *revisions[:-1]], revisions, strict=True):
        migrate.upgrade(url=empty_url, revision=revision)
        upgraded = leftovers(empty_engine)
        migrate.downgrade(url=empty_url, revision=before)
        assert current_revision(empty_engine) == (None if before == "base" else before)
        migrate.upgrade(url=empty_url, revision=revision)
        assert current_revision(empty_engine) == revision
        assert leftovers(empty_engine) == upgraded, f"{revision} down and up again differs"
    assert_no_diffs(empty_url)
