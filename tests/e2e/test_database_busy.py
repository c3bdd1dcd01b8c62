"""The hardening issue's case on real processes: an API write while `followup subjects
import` holds SQLite's write lock answers 503 "database busy" within
DB_LOCK_TIMEOUT_SECONDS (it used to wait 30 s and answer 500), reads go on, and the
import itself finishes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app import migrate
from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.services.demo import generate
from app.services.tokens import create_token
from tests.conftest import fresh_database_url
from tests.helpers_net import free_port, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STUDY, SITES = "UCART-SLE-DEMO", 4
LOCK_TIMEOUT = 1.0
# Long enough that the import still holds the lock after the write has given up
# (about 3,000 subjects a second on a laptop).
IMPORT_ROWS = 30_000


def write_csv(path: Path, rows: int, today: date) -> None:
    lines = ["subject_id,site,consent_date,date_of_birth,infusion,infusion_planned"]
    for i in range(1, rows + 1):
        consent = today - timedelta(days=60 + i % 600)
        lines.append(f"IMP{i:06d},DEMO{1 + i % SITES:03d},{consent},1980-05-01,"
                     f"{consent + timedelta(days=20)},false")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def lock_taken(path: str) -> bool:
    """Whether another connection holds the write lock right now (never waits)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A real server on an SQLite file, answering busy after LOCK_TIMEOUT: (base URL,
    database URL, admin token)."""
    tmp = tmp_path_factory.mktemp("busy")
    url = fresh_database_url("sqlite", tmp)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        generate(session, actor=SYSTEM, subjects=0, sites=SITES, as_of=utcnow().date())
        admin = create_token(session, actor=SYSTEM, role="admin", name="busy-admin",
                             now=utcnow()).secret
    engine.dispose()
    port = free_port()
    log_path = tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    env |= {"DATABASE_URL": url, "DB_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT),
            "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log_path)
        yield base_url, url, admin
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_an_api_write_during_an_import_is_503_busy_within_the_bound(
    busy_server: tuple[str, str, str], tmp_path: Path
) -> None:
    base_url, url, admin = busy_server
    today = datetime.now(UTC).date()
    csv = tmp_path / "big.csv"
    write_csv(csv, IMPORT_ROWS, today)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    env |= {"DATABASE_URL": url, "DB_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT)}
    importer = subprocess.Popen(
        [sys.executable, "-m", "app", "subjects", "import", str(csv), "--study", STUDY],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    path = url.removeprefix("sqlite:///")
    body = {"subject_id": "API-001", "site": "DEMO001",
            "consent_date": (today - timedelta(days=60)).isoformat(),
            "date_of_birth": "1980-05-01",
            "anchors": [{"name": "infusion", "date": (today - timedelta(days=40)).isoformat(),
                         "actual": True}]}
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        deadline = time.monotonic() + 30
        while not lock_taken(path):
            assert importer.poll() is None, importer.communicate()
            assert time.monotonic() < deadline, "the import never took the write lock"
            time.sleep(0.02)
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            began = time.monotonic()
            refused = client.post(f"/api/v1/studies/{STUDY}/subjects", json=body)
            waited = time.monotonic() - began
            read = client.get("/api/v1/studies")
            still_importing = importer.poll() is None
            out, err = importer.communicate(timeout=300)
            assert importer.returncode == 0, err
            done = client.post(f"/api/v1/studies/{STUDY}/subjects", json=body)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert refused.status_code == 503, (refused.text, f"after {waited:.1f} s")
    assert still_importing, "the import ended before the write was refused: make it bigger"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/database-busy"
    assert int(refused.headers["retry-after"]) > 0
    assert waited < LOCK_TIMEOUT + 3, waited
    assert read.status_code == 200, read.text
    assert f"imported {IMPORT_ROWS} subject(s)" in out
    assert done.status_code == 201, done.text
