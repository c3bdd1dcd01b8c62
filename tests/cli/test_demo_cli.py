"""`followup demo generate` writes demo data in development only: with
ENVIRONMENT=production it stops in one line, exit 1, before touching the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from app import migrate
from app.cli import cli
from app.db import make_engine
from app.models import Site, Subject
from app.settings import MIN_SECRET_KEY_LENGTH


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    url = f"sqlite:///{tmp_path / 'followup.db'}"
    migrate.upgrade(url=url)
    return url


def generate(url: str, environment: str) -> Result:
    env = {"DATABASE_URL": url, "ENVIRONMENT": environment,
           "SECRET_KEY": "k" * MIN_SECRET_KEY_LENGTH}
    return CliRunner().invoke(cli, ["demo", "generate", "--subjects", "5", "--sites", "1"],
                              env=env)


def counts(url: str) -> tuple[int, int]:
    """Demo sites and subjects in the database."""
    engine = make_engine(url)
    with engine.connect() as conn:
        sites = conn.scalar(select(func.count()).select_from(Site)
                           .where(Site.code.like("DEMO%"))) or 0
        subjects = conn.scalar(select(func.count()).select_from(Subject)) or 0
    engine.dispose()
    return sites, subjects


def test_demo_generate_refuses_a_production_database_in_one_line(url: str) -> None:
    result = generate(url, "production")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: demo data is never written with ENVIRONMENT=production (the database holds"
        " real trial data): generate it in a database of its own, with"
        " ENVIRONMENT=development"
    ]
    assert counts(url) == (0, 0)


def test_demo_generate_writes_in_development(url: str) -> None:
    result = generate(url, "development")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("5 subjects with ")
    assert counts(url) == (1, 5)
