"""followup protocol activate|diff|impact|apply, on a real database of each backend."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import migrate
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AuditRecord, ProtocolVersion, Subject, Visit
from app.services.amendments import apply as apply_module
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_amendments import V2_PATH, subjects_in_every_state
from tests.helpers_subjects import SLE, load_seed_studies


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        subjects_in_every_state(session)
    engine.dispose()
    assert invoke(url, "schedule", "load", str(V2_PATH))[0] == 0
    yield url
    drop_database(url)


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def versions(url: str) -> dict[str, str]:
    """Subject id -> the version it is on."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Subject.subject_id, ProtocolVersion.version)
            .join(ProtocolVersion, ProtocolVersion.id == Subject.protocol_version_id)
        ).tuples().all()
    engine.dispose()
    return dict(rows)


def visit_rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Subject.subject_id, Visit.code, Visit.state, Visit.target_date,
                   Visit.window_end, Visit.reason)
            .join(Subject, Subject.id == Visit.subject_pk).order_by(Visit.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def amended_audits(url: str) -> list[str | None]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.scalars(select(AuditRecord.subject_id).where(
            AuditRecord.action == "subject.amended").order_by(AuditRecord.id)).all()
    engine.dispose()
    return list(found)


def test_diff_as_a_table_and_as_json(database: str) -> None:
    code, out, _ = invoke(database, "protocol", "diff", SLE, "--from", "1.1", "--to", "2.0")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "UCART-SLE: 1.1 -> 2.0"
    assert lines[1] == "amendment 1 of 2027-03-15; re-consent to version 2.0 required"
    assert any(line.split()[:4] == ["visit", "M3", "retimed", "timing"] for line in lines)
    code, out, _ = invoke(database, "protocol", "diff", SLE, "--from", "1.1", "--to", "2.0",
                          "--format", "json")
    body = json.loads(out)
    assert body["amendment"]["number"] == 1
    assert {"section": "visit", "code": "D14", "change": "window", "field": "window",
            "before": "-2 days / +2 days", "after": "-3 days / +3 days"} in body["changes"]
    code, _, err = invoke(database, "protocol", "diff", SLE, "--from", "1.1", "--to", "7")
    assert code == 1 and err == "error: study UCART-SLE has no protocol version 7\n"


def test_impact_as_csv_writes_nothing(database: str) -> None:
    before = visit_rows(database)
    code, out, _ = invoke(database, "protocol", "impact", SLE, "--to", "2.0", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    m3 = next(r for r in rows if r["subject_id"] == "MID" and r["code"] == "M3")
    assert m3["effects"] == "moved+out_of_window" and m3["actual_date"] == "2026-05-08"
    assert m3["window_end_before"] == "2026-05-08" and m3["window_end_after"] == "2026-05-03"
    assert {r["blocked"] for r in rows if r["subject_id"] == "RC"} == {
        "amendment 1 needs re-consent to consent version 2.0"}
    assert visit_rows(database) == before
    code, out, _ = invoke(database, "protocol", "impact", SLE, "--to", "2.0", "--subject", "NS")
    assert code == 0 and out.splitlines()[0] == "NS (YC3H) 1.1 -> 2.0"
    assert "M9" in out and "cancelled" in out


def test_apply_all_then_again(database: str) -> None:
    code, out, err = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--all",
                            "--reason", "amendment 1 approved")
    assert code == 0, err
    assert out == "UCART-SLE 2.0: 3 subject(s) moved, 0 already on it, 1 blocked\n"
    assert err == "blocked RC: amendment 1 needs re-consent to consent version 2.0\n"
    assert versions(database) == {"NS": "2.0", "MID": "2.0", "WD": "2.0", "RC": "1.1"}
    rows = visit_rows(database)
    code, out, _ = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--all",
                          "--reason", "amendment 1 approved")
    assert out == "UCART-SLE 2.0: 0 subject(s) moved, 3 already on it, 1 blocked\n"
    assert visit_rows(database) == rows
    assert amended_audits(database) == ["NS", "MID", "WD"]


def test_apply_needs_one_choice_of_subjects(database: str) -> None:
    code, _, err = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--reason", "r")
    assert code == 2 and "give exactly one of --subject, --site or --all" in err
    code, out, _ = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--reason", "r",
                          "--site", "YC3H", "--dry-run")
    assert code == 0 and "BLOCKED" in out
    assert versions(database)["NS"] == "1.1"


def test_a_crash_mid_batch_leaves_each_subject_on_one_version(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = visit_rows(database)
    real = apply_module.cancel_removed
    calls = 0

    def failing(*args: object, **kwargs: object) -> list[str]:
        # The second subject fails after its version and rows were already changed in
        # its transaction.
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(apply_module, "cancel_removed", failing)
    code, _, _ = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--all",
                        "--reason", "amendment 1")
    assert code != 0
    assert versions(database) == {"NS": "2.0", "MID": "1.1", "WD": "1.1", "RC": "1.1"}
    after = visit_rows(database)
    assert [r for r in after if r[0] != "NS"] == [r for r in before if r[0] != "NS"]
    assert amended_audits(database) == ["NS"]
    monkeypatch.setattr(apply_module, "cancel_removed", real)
    code, out, _ = invoke(database, "protocol", "apply", SLE, "--to", "2.0", "--all",
                          "--reason", "amendment 1")
    assert out == "UCART-SLE 2.0: 2 subject(s) moved, 1 already on it, 1 blocked\n"


def test_activate(database: str) -> None:
    code, out, _ = invoke(database, "protocol", "activate", SLE, "2.0")
    assert (code, out) == (0, "UCART-SLE 2.0 is now the active version\n")
    code, out, _ = invoke(database, "protocol", "activate", SLE, "2.0")
    assert out == "UCART-SLE 2.0 was already the active version\n"
    code, out, _ = invoke(database, "protocol", "diff", SLE, "--from", "2.0", "--to", "2.0")
    assert out.splitlines()[-1] == "no changes"
