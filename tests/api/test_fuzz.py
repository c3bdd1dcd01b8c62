"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

A real uvicorn server runs on a free port against a fresh migrated SQLite database
(and one on PostgreSQL when TEST_DATABASE_URL is set) seeded with both seed protocols,
a few subjects and an admin token. Every operation of the document (so also routes added
later) gets a bounded, reproducible run: a fixed seed, derandomized generation and at
most ``MAX_EXAMPLES`` examples per operation and phase. Then the schemathesis command
runs its coverage phase (boundary and missing values of every parameter) and its
stateful phase (sequences of calls that follow the document's links, so a created or
listed subject is read, completed, missed, moved and audited). Every check runs, as
with ``--checks all``, but for the exceptions in ``schemathesis.toml``, each with its
reason: no 5xx, every status code and content type documented, bodies and headers as
documented, invalid input refused and valid input accepted, authentication never
ignored, wrong methods answered with 405, nothing deleted still served and nothing
created missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from app.main import create_app
from app.models import ApiToken
from app.schedule.dates import local_today
from app.services.tokens import hash_token
from app.settings import Settings
from tests.api.fuzz_hooks import TOKEN_NAME_ENV
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_net import free_port, wait_ready
from tests.helpers_worklist import MM, SLE, add_expanded_subject, load_seeds, make_token

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 25
# The seed, the checks and their exceptions: one file for both runs below.
CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
# Scenarios of the stateful phase (of at most 6 steps each, schemathesis's default), so
# that the command runs in about a minute per database on two cores.
STATEFUL_SCENARIOS = 50


@dataclass(frozen=True)
class FuzzTarget:
    base_url: str
    token: str
    token_name: str


def seed_database(url: str) -> tuple[str, str]:
    """Seed protocols, subjects around today and an admin token; return its secret and name."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            load_seeds(session)
            today = local_today(datetime.now(UTC), "Asia/Shanghai")
            for n, (study, site) in enumerate([(SLE, "YC3H"), (SLE, "WTCH"), (MM, "MM01")]):
                add_expanded_subject(
                    session, study, site, f"FZ-{n}",
                    {"infusion": today - timedelta(days=40 * n + 20),
                     "consent": today - timedelta(days=40 * n + 60)},
                )
            token = make_token(session, "admin")
            name = session.scalars(
                select(ApiToken.name).where(ApiToken.token_hash == hash_token(token))
            ).one()
            session.commit()
            return token, name
    finally:
        engine.dispose()


def start_server(url: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    env |= {"DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(base_url, process, log_path)
    return process, base_url


# PostgreSQL's stricter types (4-byte integers, lengths enforced) catch crashes SQLite
# lets through, so the run covers it whenever TEST_DATABASE_URL is set, as CI does.
@pytest.fixture(scope="module", params=BACKENDS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    tmp = tmp_path_factory.mktemp("fuzz")
    url = fresh_database_url(request.param, tmp)
    migrate.upgrade(url=url)
    token, token_name = seed_database(url)
    process, base_url = start_server(url, tmp / "server.log")
    try:
        yield FuzzTarget(base_url, token, token_name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        drop_database(url)


def fuzz_config() -> Any:
    """The file's configuration, for the examples and fuzzing phases of each operation."""
    config = tomllib.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    config["generation"]["max-examples"] = MAX_EXAMPLES
    # Those two run through the command, in test_coverage_and_stateful_phases.
    config["phases"] = {"stateful": {"enabled": False}, "coverage": {"enabled": False}}
    return schemathesis.Config.from_dict(config)


# The document is built in this process from the same code the server runs (a test
# below checks that the server serves exactly this), so operations are known when
# pytest collects and every operation is its own test.
DOCUMENT = create_app(Settings(database_url="sqlite://", secret_key="test-secret")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=fuzz_config())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case: Any, target: FuzzTarget) -> None:
    case.call_and_validate(
        base_url=target.base_url, headers={"Authorization": f"Bearer {target.token}"}
    )


def test_the_server_serves_this_document(target: FuzzTarget) -> None:
    assert httpx.get(f"{target.base_url}/openapi.json").json() == DOCUMENT


def test_coverage_and_stateful_phases(target: FuzzTarget, tmp_path: Path) -> None:
    """The schemathesis command's coverage and stateful phases, every check, a fixed seed.

    One run for both: the stateful phase also follows the links the coverage phase's
    answers let schemathesis infer.

    Every check is on in the file (``[checks] enabled = true``, what ``--checks all``
    does): naming them on the command line would also turn on again the ones the file
    turns off for one operation.
    """
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks",
                        TOKEN_NAME_ENV: target.token_name}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG_FILE),
         "run", f"{target.base_url}/openapi.json", "--phases", "coverage,stateful",
         "--max-examples", str(STATEFUL_SCENARIOS), "--workers", "1",
         "--header", f"Authorization: Bearer {target.token}",
         "--report", "ndjson", "--report-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    print(result.stdout)  # shown with -s: what each phase covered, and in how long
    assert result.returncode == 0, result.stdout + result.stderr
