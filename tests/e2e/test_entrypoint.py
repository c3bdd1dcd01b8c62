"""docker/entrypoint.sh, the image's entry point, run here by a POSIX shell outside any
container: it migrates before serving (MIGRATE=1, the default), or refuses in one line to
start on an unmigrated database (MIGRATE=0), and it execs the command it is given."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import migrate
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_net import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# Debian's /bin/sh is dash: no bashisms get through.
SHELL = shutil.which("dash") or "/bin/sh"


def entrypoint_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of the container: `followup` on PATH (this virtualenv's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATE", "BASE_URL")}
    bin_dir = str(Path(sys.executable).parent)
    return env | {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "entrypoint-test-secret",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run(database_url: str, *command: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHELL, str(ENTRYPOINT), *command], env=entrypoint_env(database_url, **extra),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'container.db'}"


def serve_through_entrypoint(database_url: str, log_path: Path, **extra: str) -> None:
    """Start `followup serve` through the entry point; /readyz must answer 200; then stop
    it with SIGTERM to the process started (the entry point's own pid: it exec'd)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SHELL, str(ENTRYPOINT), "followup", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            env=entrypoint_env(database_url, **extra), cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(base, process, log_path)
        response = httpx.get(f"{base}/readyz", timeout=5)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}
    finally:
        process.terminate()
        try:
            # The shell exec'd uvicorn: the signal reaches the server, which stops.
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"SIGTERM did not stop the server:\n{log_path.read_text()}")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)


def test_entrypoint_migrates_a_new_database_then_serves_it_ready(
    database_url: str, tmp_path: Path
) -> None:
    assert migrate.current_revision(url=database_url) is None
    serve_through_entrypoint(database_url, tmp_path / "serve.log")
    assert migrate.current_revision(url=database_url) == migrate.head_revision()
    assert "database at head" in (tmp_path / "serve.log").read_text()


def test_entrypoint_with_migrate_0_refuses_an_unmigrated_database_in_one_line(
    sqlite_url: str,
) -> None:
    port = free_port()
    result = run(sqlite_url, "followup", "serve", "--host", "127.0.0.1", "--port", str(port),
                 MIGRATE="0")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"not starting `followup serve --host 127.0.0.1 --port {port}` with MIGRATE=0:"
        f" database at revision none (never migrated), the code needs"
        f" {migrate.head_revision()}: run `followup db upgrade`"
    )
    assert migrate.current_revision(url=sqlite_url) is None  # nothing was migrated


def test_entrypoint_with_migrate_0_refuses_an_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    result = run(url, "followup", "digest", "schedule", MIGRATE="0")
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        "not starting `followup digest schedule` with MIGRATE=0:"
        " database unreachable: unable to open database file"
    ]


def test_entrypoint_with_migrate_0_serves_a_migrated_database(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(url=sqlite_url)
    serve_through_entrypoint(sqlite_url, tmp_path / "serve.log", MIGRATE="0")


def test_entrypoint_refuses_an_unknown_migrate_value(sqlite_url: str) -> None:
    result = run(sqlite_url, "followup", "serve", MIGRATE="yes")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "MIGRATE must be 1 (migrate, then start) or 0 (start only if migrated), not 'yes'"
    ]


def test_entrypoint_runs_db_commands_help_and_other_programs_as_given(
    sqlite_url: str, tmp_path: Path
) -> None:
    # `followup db check` is not preceded by a migration: it reports the bare database.
    check = run(sqlite_url, "followup", "db", "check")
    assert check.returncode == 1
    assert "database at revision none" in check.stderr
    assert run(sqlite_url, "followup", "--help").returncode == 0
    other = run(sqlite_url, "sh", "-c", 'echo "$0 $1"', "any", "program")
    assert (other.returncode, other.stdout) == (0, "any program\n")
    assert migrate.current_revision(url=sqlite_url) is None


def test_entrypoint_migrates_before_other_followup_commands(sqlite_url: str) -> None:
    result = run(sqlite_url, "followup", "schedule", "load", str(ROOT / "schedules"))
    assert result.returncode == 0, result.stderr
    assert "loaded UCART-SLE" in result.stdout + result.stderr
    assert migrate.current_revision(url=sqlite_url) == migrate.head_revision()


def test_entrypoint_is_posix_sh() -> None:
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK)
    result = subprocess.run([SHELL, "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def image_environment() -> dict[str, str]:
    """The ENV of the Dockerfile's last stage, less what names the container's own paths."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    last_stage = dockerfile[dockerfile.rindex("\nFROM "):]
    values: dict[str, str] = {}
    for instruction in re.findall(r"^ENV ((?:.*\\\n)*.*)", last_stage, re.M):
        for pair in instruction.replace("\\\n", " ").split():
            name, _, value = pair.partition("=")
            values[name] = value
    assert "PATH" in values and "DATABASE_URL" in values  # the parsing found the ENV lines
    return {k: v for k, v in values.items() if k not in ("PATH", "DATABASE_URL")}


def run_as_image(
    database_url: str, cwd: Path, *command: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The entry point with the image's environment, and no SECRET_KEY unless given."""
    env = entrypoint_env(database_url, **image_environment()) | extra
    if "SECRET_KEY" not in extra:
        del env["SECRET_KEY"]
    # cwd: a folder without a developer's .env (it may hold a SECRET_KEY).
    return subprocess.run([SHELL, str(ENTRYPOINT), *command], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_image_runs_in_production_and_refuses_to_start_without_a_secret_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    assert image_environment()["ENVIRONMENT"] == "production"
    for secret in ({}, {"SECRET_KEY": "short-try-key"}):
        result = run_as_image(sqlite_url, tmp_path, "followup", "serve", "--port",
                              str(free_port()), **secret)
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("Error: configuration: SECRET_KEY: set a random value of at"
                               " least 32 characters when ENVIRONMENT=production")
    assert migrate.current_revision(url=sqlite_url) is None  # it stopped before migrating


@pytest.mark.parametrize("setting", [{"SECRET_KEY": "k" * 48},
                                     {"ENVIRONMENT": "development"}])
def test_the_image_starts_with_a_long_secret_key_or_for_a_try_in_development(
    sqlite_url: str, tmp_path: Path, setting: dict[str, str]
) -> None:
    result = run_as_image(sqlite_url, tmp_path, "followup", "schedule", "load",
                          str(ROOT / "schedules"), **setting)
    assert result.returncode == 0, result.stderr
    assert migrate.current_revision(url=sqlite_url) == migrate.head_revision()
