"""`followup site recipients add|remove|list` against a real, committed database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from app.cli import cli
from app.db import transaction
from app.models import AuditRecord
from tests.conftest import BACKENDS
from tests.helpers_digest import MM, SLE, CommittedDb, committed_world


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    yield from committed_world(request.param, tmp_path)


def followup(db: CommittedDb, *args: str) -> Result:
    return CliRunner().invoke(cli, ["site", "recipients", *args],
                              env={"DATABASE_URL": db.url}, catch_exceptions=False)


def test_add_list_remove(world_db: CommittedDb) -> None:
    added = followup(world_db, "add", "YC3H", " Li.Na@YC3H.Example ")
    assert added.exit_code == 0, added.output
    assert added.stdout == "Li.Na@yc3h.example receives the YC3H digest (all studies)\n"
    assert followup(world_db, "add", "YC3H", "mm@yc3h.example", "--study", MM).exit_code == 0
    assert followup(world_db, "add", "WTCH", "crc@wtch.example").exit_code == 0
    listed = followup(world_db, "list")
    assert listed.stdout.splitlines() == [
        "WTCH\tcrc@wtch.example\t*",
        "YC3H\tLi.Na@yc3h.example\t*",
        f"YC3H\tmm@yc3h.example\t{MM}",
    ]
    assert followup(world_db, "list", "WTCH").stdout == "WTCH\tcrc@wtch.example\t*\n"

    # The study filter is part of the entry: removing without it finds nothing.
    missing = followup(world_db, "remove", "YC3H", "mm@yc3h.example")
    assert missing.exit_code == 1
    assert "mm@yc3h.example does not receive the YC3H digest (all studies)" in missing.stderr
    removed = followup(world_db, "remove", "YC3H", "mm@yc3h.example", "--study", MM)
    assert removed.exit_code == 0
    assert "mm@yc3h.example" not in followup(world_db, "list", "YC3H").stdout

    with transaction(world_db.factory, write=False) as session:
        trail = session.execute(
            select(AuditRecord.action, AuditRecord.site_code, AuditRecord.key,
                   AuditRecord.study_code).order_by(AuditRecord.id)
        ).all()
    assert [tuple(row) for row in trail] == [
        ("digest.recipient_added", "YC3H", "Li.Na@yc3h.example", None),
        ("digest.recipient_added", "YC3H", "mm@yc3h.example", MM),
        ("digest.recipient_added", "WTCH", "crc@wtch.example", None),
        ("digest.recipient_removed", "YC3H", "mm@yc3h.example", MM),
    ]


REFUSALS = [
    (("add", "YC3H", "not-an-address"), "error: invalid email address 'not-an-address'"),
    (("add", "NOPE", "a@b.example"), "error: site NOPE not found"),
    (("add", "YC3H", "a@b.example", "--study", "NOPE"), "error: study NOPE not found"),
    (("add", "WTCH", "a@b.example", "--study", MM), f"error: study {MM} does not run at site WTCH"),
    (("remove", "YC3H", "a@b.example"), "error: a@b.example does not receive the YC3H digest"),
    (("list", "NOPE"), "error: site NOPE not found"),
]


def test_refusals_name_the_problem(world_db: CommittedDb) -> None:
    # One database for all the cases: a refused command changes nothing.
    for args, message in REFUSALS:
        result = followup(world_db, *args)
        assert (result.exit_code, result.stdout) == (1, ""), args
        assert result.stderr.startswith(message), result.stderr
    assert followup(world_db, "list").stdout == ""


def test_duplicates_are_refused_per_filter(world_db: CommittedDb) -> None:
    assert followup(world_db, "add", "YC3H", "crc@yc3h.example").exit_code == 0
    again = followup(world_db, "add", "YC3H", "crc@YC3H.example")
    assert again.exit_code == 1
    assert "crc@yc3h.example already receives the YC3H digest (all studies)" in again.stderr
    assert followup(world_db, "add", "YC3H", "crc@yc3h.example", "--study", SLE).exit_code == 0
