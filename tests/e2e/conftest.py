"""A real `followup` server process on a free port, against a fresh migrated database.

The database (an SQLite file, or a PostgreSQL schema when TEST_DATABASE_URL is set)
is migrated and seeded here, in this process, with both seed protocols and an admin
token; the server is ``followup serve --workers 2`` in a subprocess, as deployed: two
worker processes share the listening socket, so racing requests really run at once,
in two processes and in each one's thread pool, each with its own connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine

from app import migrate
from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.services.studies import load_schedule
from app.services.tokens import create_token
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_net import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules"
SLE, SLE_SITE = "UCART-SLE", "YC3H"
WORKERS = 2


@dataclass
class Server:
    base_url: str
    database_url: str
    engine: Engine
    admin: str
    log_path: Path

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")



def seed(engine: Engine) -> str:
    """Both seed protocols and an admin token; returns the token's secret."""
    with transaction(make_sessionmaker(engine)) as session:
        for path in sorted(SCHEDULES.glob("*.yaml")):
            load_schedule(session, text=path.read_text(encoding="utf-8"), source=path.name,
                          actor=SYSTEM)
        return create_token(session, actor=SYSTEM, role="admin", name="e2e-admin",
                            now=utcnow()).secret


# One server per backend for the whole run: starting one costs seconds; tests use
# subject ids of their own so they never see each other's data.
@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    url = fresh_database_url(request.param, tmp)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    admin = seed(engine)
    port = free_port()
    log_path = tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    env |= {"DATABASE_URL": url, "LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(WORKERS)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log_path)
        yield Server(base_url, url, engine, admin, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        engine.dispose()
        drop_database(url)


def site_today() -> date:
    """Today at the Shanghai sites (what the server checks dates against)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def enrol(client: httpx.Client, subject_id: str, *, infusion_days_ago: int = 40) -> None:
    """Enrol an SLE subject whose infusion happened ``infusion_days_ago`` days ago."""
    today = site_today()
    body = {
        "subject_id": subject_id,
        "site": SLE_SITE,
        "consent_date": (today - timedelta(days=infusion_days_ago + 20)).isoformat(),
        "date_of_birth": "1980-05-01",
        "anchors": [{"name": "infusion",
                     "date": (today - timedelta(days=infusion_days_ago)).isoformat(),
                     "actual": True}],
    }
    response = client.post(f"/api/v1/studies/{SLE}/subjects", json=body)
    assert response.status_code == 201, response.text
