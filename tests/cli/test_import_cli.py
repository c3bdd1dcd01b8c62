"""followup subjects import: one stderr line per bad row, exit status, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.models import Subject
from tests.conftest import drop_database, fresh_database_url
from tests.helpers_subjects import load_seed_studies

HEADER = "subject_id,site,consent_date,date_of_birth,infusion,infusion_planned\n"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url("sqlite", tmp_path_factory.mktemp("cli"))
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
    engine.dispose()
    yield url
    drop_database(url)


def subjects(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(Subject)) or 0
    engine.dispose()
    return n


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_bad_rows_are_listed_with_file_and_line(database: str, tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text(HEADER + "A-1,YC3H,2025-01-05,1980-05-01,2025-02-01,false\n"
                   "A-2,YC3H,2025-01-05,not-a-date,,\nA-3,XX,2025-01-05,1980-05-01,,\n")
    code, out, err = invoke(database, "subjects", "import", str(csv), "--study", "UCART-SLE")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f'{csv}:3: date_of_birth: "not-a-date" is not a date (YYYY-MM-DD)',
        f"{csv}:4: site: site XX does not take part in study UCART-SLE (or is not visible"
        " to this token)",
        "error: 2 invalid row(s); nothing was imported",
    ]
    assert subjects(database) == 0


def test_skip_invalid_imports_the_rest(database: str, tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text(HEADER + "B-1,YC3H,2025-01-05,1980-05-01,2025-02-01,false\n"
                   "B-2,WTCH,2025-01-05,1980-05-01,2025-02-01,planned?\n")
    code, out, err = invoke(database, "subjects", "import", str(csv), "--study", "UCART-SLE",
                            "--skip-invalid")
    assert code == 0, err
    assert out.startswith("imported 1 subject(s) with 11 visit(s) into UCART-SLE; skipped 1")
    assert err.startswith(f"{csv}:3: infusion flag:")
    assert subjects(database) == 1


def test_unknown_study_is_one_line(database: str, tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text(HEADER)
    code, _, err = invoke(database, "subjects", "import", str(csv), "--study", "NOPE")
    assert (code, err) == (1, "error: study NOPE not found\n")


def test_an_unreadable_file_stops_the_import(database: str, tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    before = subjects(database)
    csv.write_bytes(HEADER.encode() + b"C-1,YC3H,2025-01-05,1980-05-01,,\n"
                    b"C-2,YC3H,2025-01-05,1980\xff-05-01,,\n")
    code, out, err = invoke(database, "subjects", "import", str(csv), "--study", "UCART-SLE",
                            "--skip-invalid")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{csv}:1: the file cannot be read from here on: it is not UTF-8 text",
        "error: the file cannot be read from line 1 on",
    ]
    assert subjects(database) == before


def test_an_actual_transplant_before_its_phase_opens_is_a_bad_row(
    database: str, tmp_path: Path
) -> None:
    csv = tmp_path / "mm.csv"
    csv.write_text("subject_id,site,consent_date,date_of_birth,transplant,transplant_planned\n"
                   "T-1,MM01,2025-01-05,1970-05-01,2025-03-01,\n"
                   "T-2,MM01,2025-01-05,1970-05-01,2025-03-01,true\n")
    before = subjects(database)
    code, out, err = invoke(database, "subjects", "import", str(csv), "--study", "CART-HSCT-MM",
                            "--skip-invalid")
    assert code == 0, err
    assert out.startswith("imported 1 subject(s)")
    assert err.splitlines()[0] == (
        f"{csv}:2: transplant: anchor transplant cannot have an actual date: it is recorded"
        " by visit HSCT-D0 of phase HSCT, which has not opened (waiting for response CR/sCR):"
        " record the response that opens it first, or send a planned date (actual: false)")
    assert subjects(database) == before + 1
