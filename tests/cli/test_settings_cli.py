"""Bad settings stop a command with one line naming the variable, before any work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import cli


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["db", "upgrade"], {"MAX_CONCURRENT_REQUESTS": "many"},
         "Error: configuration: MAX_CONCURRENT_REQUESTS: Input should be a valid integer"),
        (["digest", "send"], {"SMTP_PORT": "x"},
         "Error: configuration: SMTP_PORT: Input should be a valid integer"),
        (["db", "upgrade"], {"OIDC_ISSUER": "https://login.hospital.example"},
         "Error: configuration: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        (["db", "upgrade"], {"OIDC_MATCH": "sub"},
         "Error: configuration: OIDC_MATCH: Input should be 'preferred_username' or 'email'"),
        # serve checks before starting uvicorn, so no worker ever sees bad settings
        (["serve", "--port", "1"], {"DB_POOL_SIZE": "1", "DB_MAX_OVERFLOW": "0"},
         "Error: configuration: DB_POOL_SIZE + DB_MAX_OVERFLOW must be at least"),
    ],
)
def test_bad_settings_are_one_line_and_exit_1(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(cli, args, env={"DATABASE_URL": "sqlite://", **env})
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_commands_are_loaded_when_used() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
              if line.strip()]
    assert listed == ["db", "demo", "digest", "export", "protocol", "report", "schedule",
                      "serve", "site", "subjects", "token", "user"]
    assert CliRunner().invoke(cli, ["nope"]).exit_code == 2
