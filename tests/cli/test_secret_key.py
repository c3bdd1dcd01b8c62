"""Outside development the service refuses to start with the default or a short SECRET_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from pydantic import ValidationError

from app.cli import cli
from app.settings import MIN_SECRET_KEY_LENGTH, Settings, settings_problems

LONG = "k" * MIN_SECRET_KEY_LENGTH


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [None, "dev-only-change-me", "k" * (MIN_SECRET_KEY_LENGTH - 1)])
def test_production_refuses_the_default_or_a_short_secret(
    secret: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    values = {"environment": "production"} | ({"secret_key": secret} if secret else {})
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    message = settings_problems(caught.value)
    assert message.startswith("SECRET_KEY: set a random value of at least 32 characters")
    assert "ENVIRONMENT=production" in message


def test_production_accepts_a_long_secret_and_development_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert settings(environment="production", secret_key=LONG).environment == "production"
    development = settings()
    assert development.environment == "development"
    assert development.secret_key.get_secret_value() == "dev-only-change-me"
    with pytest.raises(ValidationError, match="'development' or 'production'"):
        settings(environment="staging")


def refuse_to_serve(*args: object, **kwargs: object) -> None:
    raise AssertionError("the server was started")


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["db", "upgrade"]])
def test_commands_stop_with_one_line_in_production_without_a_secret(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(uvicorn, "run", refuse_to_serve)
    result = CliRunner().invoke(cli, command, env={"DATABASE_URL": "sqlite://",
                                                   "ENVIRONMENT": "production"})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: configuration: SECRET_KEY: set a random value")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
