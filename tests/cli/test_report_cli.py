"""followup report compliance|endpoints: the hand-counted study of tests/helpers_reports.py
as a table, CSV and JSON; CSV cells a spreadsheet would run are neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.services.reports.export import as_csv, safe_cell
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_reports import seed_report_study


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        seed_report_study(session)
    engine.dispose()
    yield url
    drop_database(url)


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_compliance_as_csv(database: str) -> None:
    code, out, err = invoke(database, "compliance", "--study", "UCART-SLE",
                            "--as-of", "2026-09-01", "--format", "csv")
    assert code == 0, err
    lines = list(csv.DictReader(io.StringIO(out)))
    by_key = {(line["site"], line["visit"]): line for line in lines}
    assert by_key[("YC3H", "D28")] == {
        "site": "YC3H", "visit": "D28", "expected": "3", "in_window": "1", "early": "0",
        "late": "1", "missed_documented": "0", "missed_undocumented": "1", "overdue": "0",
        "in_window_rate": "0.3333", "early_rate": "0.0000", "late_rate": "0.3333",
        "missed_documented_rate": "0.0000", "missed_undocumented_rate": "0.3333",
        "overdue_rate": "0.0000",
    }
    assert by_key[("YC3H", "M9")]["in_window_rate"] == ""  # nothing expected yet
    assert by_key[("WTCH", "*")]["expected"] == "9"
    assert by_key[("*", "D14")]["missed_undocumented"] == "2"
    assert by_key[("*", "*")]["expected"] == "24"
    assert len(lines) == 2 * 11 + 2 + 11 + 1


def test_compliance_as_a_table_and_json(database: str) -> None:
    code, out, _ = invoke(database, "compliance", "--study", "UCART-SLE", "--as-of",
                          "2026-09-01")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["site", "visit", "expected", "in_window", "early", "late",
                              "missed_documented", "missed_undocumented", "overdue",
                              "in_window_rate", "early_rate", "late_rate",
                              "missed_documented_rate", "missed_undocumented_rate",
                              "overdue_rate"]
    assert rows[-1].split()[:3] == ["*", "*", "24"]
    code, out, _ = invoke(database, "compliance", "--study", "UCART-SLE", "--as-of",
                          "2026-09-01", "--format", "json")
    body = json.loads(out)
    assert body["as_of"] == {"WTCH": "2026-09-01", "YC3H": "2026-09-01"}
    assert body["total"]["overdue"] == 3


def test_endpoints(database: str) -> None:
    code, out, err = invoke(database, "endpoints", "--study", "UCART-SLE", "--as-of",
                            "2026-09-01", "--format", "csv")
    assert code == 0, err
    lines = {(line["site"], line["time_point"]): line
             for line in csv.DictReader(io.StringIO(out))}
    assert lines[("YC3H", "DORIS@6 months")] == {
        "site": "YC3H", "time_point": "DORIS@6 months", "met": "1", "open": "0",
        "scheduled": "0", "missed": "2", "pending": "1", "cancelled": "0", "decided": "3",
        "met_rate": "0.3333"}
    assert lines[("*", "DORIS@6 months")]["missed"] == "3"


def test_an_unknown_study_is_one_line_and_exit_1(database: str) -> None:
    code, out, err = invoke(database, "endpoints", "--study", "NO-SUCH")
    assert code == 1 and out == ""
    assert err.strip() == "error: study NO-SUCH not found"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_are_neutralised(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    assert as_csv([["a", cell]]).startswith("a,")
    assert "'" + cell[0] in as_csv([["a", cell]])


@pytest.mark.parametrize("cell", ["YC3H", "D-2", "0.3333", "", "DORIS@6 months"])
def test_ordinary_cells_are_left_alone(cell: str) -> None:
    assert safe_cell(cell) == cell
