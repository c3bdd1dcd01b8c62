"""followup export: files of a study's data, audited, refused in one line when they cannot be."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AuditRecord
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_exports import (
    FORMULA,
    ODM_NS,
    fhir_bundle,
    fhir_resources,
    odm_schema,
    seed_history,
)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        seed_history(session)
    engine.dispose()
    yield url
    drop_database(url)


def invoke(url: str, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, ["export", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.stdout_bytes, result.stderr


def exports_audited(url: str) -> list[tuple[str, str | None, str | None, str | None]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditRecord.actor, AuditRecord.study_code, AuditRecord.site_code,
                   AuditRecord.key).where(AuditRecord.action == "study.exported")
            .order_by(AuditRecord.id)
        ).tuples().all()
    engine.dispose()
    return list(rows)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where files are exported to (the SQLite database lives beside it)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


def test_odm_to_a_file_is_valid_and_audited(database: str, folder: Path) -> None:
    out = folder / "sle.xml"
    code, stdout, err = invoke(database, "odm", "--study", "UCART-SLE", "--out", str(out))
    assert code == 0, err
    assert stdout == b""
    assert err == f"exported UCART-SLE as odm to {out} ({out.stat().st_size} bytes)\n"
    root = etree.parse(str(out))
    schema = odm_schema()
    assert schema.validate(root), schema.error_log
    assert [s.get("SubjectKey") for s in root.iterfind(".//odm:SubjectData", ODM_NS)] == [
        "S-001", "S-002", "S-003"]
    assert list(folder.iterdir()) == [out]  # no partial file left behind
    assert exports_audited(database) == [("system", "UCART-SLE", None, "odm")]


def test_csv_of_one_site_to_standard_output(database: str) -> None:
    code, stdout, err = invoke(database, "csv", "--study", "UCART-SLE", "--site", "WTCH")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(stdout.decode("utf-8-sig"), newline="")))
    assert sorted({r["subject_id"] for r in rows}) == ["S-002", "S-003"]
    code, stdout, err = invoke(database, "csv", "--study", "UCART-SLE")
    assert code == 0, err
    assert f"'{FORMULA}".replace('"', '""') in stdout.decode("utf-8-sig")
    assert exports_audited(database) == [("system", "UCART-SLE", "WTCH", "csv"),
                                         ("system", "UCART-SLE", None, "csv")]


@pytest.mark.parametrize(("args", "message"), [
    (("odm", "--study", "NOPE"), "error: study NOPE not found\n"),
    (("csv", "--study", "UCART-SLE", "--site", "MM01"),
     "error: site MM01 not found in study UCART-SLE\n"),
])
def test_what_cannot_be_exported_is_one_line_and_no_file(
    database: str, folder: Path, args: tuple[str, ...], message: str
) -> None:
    out = folder / "x.out"
    code, stdout, err = invoke(database, *args, "--out", str(out))
    assert (code, stdout, err) == (1, b"", message)
    assert list(folder.iterdir()) == []
    assert exports_audited(database) == []


def test_fhir_to_standard_output_is_a_valid_bundle(database: str) -> None:
    code, stdout, err = invoke(database, "fhir", "--study", "CART-HSCT-MM")
    assert code == 0, err
    data = fhir_bundle(stdout)
    assert [r["identifier"][0]["value"] for r in fhir_resources(data, "ResearchSubject")] == [
        "MM-001", "MM-002"]
    assert exports_audited(database) == [("system", "CART-HSCT-MM", None, "fhir")]


def test_sdtm_to_a_file_is_a_zip_of_sv_and_tv(database: str, folder: Path) -> None:
    out = folder / "sle.zip"
    code, stdout, err = invoke(database, "sdtm", "--study", "UCART-SLE", "--site", "YC3H",
                               "--out", str(out))
    assert code == 0, err
    assert err == f"exported UCART-SLE as sdtm to {out} ({out.stat().st_size} bytes)\n"
    with zipfile.ZipFile(out) as zipped:
        assert zipped.namelist() == ["sv.csv", "tv.csv", "sv.xpt", "tv.xpt"]
        sv = list(csv.DictReader(io.StringIO(zipped.read("sv.csv").decode("utf-8"),
                                             newline="")))
        assert zipped.read("sv.xpt")[:80].startswith(b"HEADER RECORD*******LIBRARY HEADER")
    assert [(r["USUBJID"], r["VISITNUM"], r["SVSTDY"]) for r in sv] == [
        ("S-001", "3", "1"), ("S-001", "4", "16"), ("S-001", "4.01", "25")]
    assert exports_audited(database) == [("system", "UCART-SLE", "YC3H", "sdtm")]
