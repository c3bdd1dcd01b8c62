"""followup serve with METRICS_ENABLED: a fresh private directory for the workers' metrics."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.cli import serve as serve_module

TOKEN = "scrape-secret-0123456789"


class Started:
    """What uvicorn.run was given, the metrics directory at that moment, and the exits."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[dict[str, Any]] = []
        self.at_exit: list[Callable[[], None]] = []
        monkeypatch.setattr(serve_module.uvicorn, "run", self._run)
        monkeypatch.setattr(serve_module.atexit, "register", self._register)
        # serve sets it in os.environ: monkeypatch puts back what was there before.
        monkeypatch.setenv(serve_module.MULTIPROC_ENV, "")
        monkeypatch.delenv(serve_module.MULTIPROC_ENV)

    def _run(self, app: str, **kwargs: Any) -> None:
        path = os.environ.get(serve_module.MULTIPROC_ENV)
        contents = sorted(os.listdir(path)) if path else None
        mode = stat.S_IMODE(os.stat(path).st_mode) if path else None
        self.runs.append({"app": app, "dir": path, "contents": contents, "mode": mode, **kwargs})

    def _register(self, func: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self.at_exit.append(lambda: func(*args, **kwargs) and None)

    def exit(self) -> None:
        for func in self.at_exit:
            func()


def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int = 2, **env: str) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(serve_module.tempfile, "tempdir", None)  # TMPDIR is read again
    result = CliRunner().invoke(cli, ["serve", "--workers", str(workers)],
                                env={"DATABASE_URL": "sqlite://", **env})
    assert result.exit_code == 0, result.output


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_each_start_gets_a_new_empty_private_directory_removed_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = Started(monkeypatch)
    # Left by another server: never read, never deleted.
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"\0" * 8)
    monkeypatch.setenv(serve_module.MULTIPROC_ENV, str(stale))  # dropped, never read
    env = {"METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN}
    serve(tmp_path, monkeypatch, **env)
    serve(tmp_path, monkeypatch, **env)

    first, second = started.runs
    assert first["app"] == "app.main:create_app" and first["workers"] == 2
    for run in (first, second):
        directory = Path(run["dir"])
        assert directory.parent == tmp_path
        assert directory.name.startswith(f"followup-metrics-{os.getpid()}-")
        assert run["contents"] == [] and run["mode"] == 0o700
    assert first["dir"] != second["dir"]
    started.exit()
    assert not Path(first["dir"]).exists() and not Path(second["dir"]).exists()
    assert (stale / "counter_1.db").exists()


def test_directories_of_servers_no_longer_running_are_removed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Started(monkeypatch)
    dead = tmp_path / f"followup-metrics-{dead_pid()}-x1"
    alive = tmp_path / f"followup-metrics-{os.getppid()}-x2"
    other = tmp_path / "followup-metrics-notapid"
    for directory in (dead, alive, other):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"\0" * 8)
    serve(tmp_path, monkeypatch, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
    assert not dead.exists()
    assert alive.exists() and other.exists()


def test_one_worker_counts_alone_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = Started(monkeypatch)
    monkeypatch.setenv(serve_module.MULTIPROC_ENV, str(tmp_path / "inherited"))
    serve(tmp_path, monkeypatch, workers=1, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
    (run,) = started.runs
    assert run["dir"] is None and started.at_exit == [] and list(tmp_path.iterdir()) == []


def test_no_directory_when_metrics_are_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = Started(monkeypatch)
    serve(tmp_path, monkeypatch)
    (run,) = started.runs
    assert run["dir"] is None and started.at_exit == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("token", [None, "too-short"])
def test_metrics_without_a_long_enough_token_stop_the_server(
    token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = Started(monkeypatch)
    env = {"DATABASE_URL": "sqlite://", "METRICS_ENABLED": "true"}
    if token is not None:
        env["METRICS_TOKEN"] = token
    else:
        monkeypatch.delenv("METRICS_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: configuration: METRICS_ENABLED needs METRICS_TOKEN, at least 16 characters")
    assert len(result.stderr.splitlines()) == 1
    assert started.runs == []
