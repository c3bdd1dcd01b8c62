"""A real server for browser tests: a migrated SQLite file, seeded, served by uvicorn.

Chromium is Debian's package (``/usr/bin/chromium``), never a browser downloaded by
Playwright: CI installs it with apt, and machines without internet access cannot fetch one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from app import migrate
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from tests.helpers_net import free_port
from tests.helpers_web import Seeded, seed_rich

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 900}
TABLET = {"width": 820, "height": 1180}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium (CI does)"
    return None



def seeded_database(directory: Path) -> tuple[str, Seeded]:
    url = f"sqlite:///{directory / 'followup-e2e.db'}"
    migrate.upgrade(url=url)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            # The server reads the real clock: the data is dated from the same instant.
            seeded = seed_rich(session, now=utcnow())
    finally:
        engine.dispose()
    return url, seeded


@contextmanager
def running_server(database_url: str, log_path: Path,
                   extra_env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``followup`` served by uvicorn in a subprocess (with ``extra_env`` besides the
    usual settings); yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "e2e-browser-secret",
        "BASE_URL": base,
        "COOKIE_SECURE": "false",
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(base, process, log_path)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log_path.read_text(errors='replace')}")
