"""`followup serve --workers 2` with metrics on: whichever worker answers /metrics adds
up the counts of both (prometheus-client's multiprocess mode), and only this start's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app import migrate
from tests.helpers_net import free_port, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-secret-0123456789"
WORKERS = 2
POOL_SIZE = 3
STALE_COUNT = 1000
HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


@dataclass
class Served:
    base_url: str
    process: subprocess.Popen[bytes]
    tmpdir: Path  # the server's TMPDIR, where it makes its metrics directory
    log_path: Path

    def metrics_dirs(self) -> list[Path]:
        return sorted(self.tmpdir.glob("followup-metrics-*"))


def healthz_count(text: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == "followup_http_requests_total" and s.labels == HEALTHZ)


def counts_by_worker(directory: Path) -> dict[str, float]:
    """The /healthz count in each worker's own file (counter_<pid>.db)."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        families = MultiProcessCollector.merge([str(path)], accumulate=True)  # type: ignore[no-untyped-call]
        counts[path.stem] = sum(s.value for family in families for s in family.samples
                                if s.name == "followup_http_requests_total"
                                and s.labels == HEALTHZ)
    return counts


def stale_directory(tmp_path: Path) -> Path:
    """A metrics directory an earlier server left behind, with a big /healthz count."""
    stale = tmp_path / "stale"
    stale.mkdir()
    code = ("from app.metrics import Metrics; "
            f"Metrics().requests.labels(**{HEALTHZ!r}).inc({STALE_COUNT})")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(stale)})
    assert list(stale.glob("counter_*.db"))
    return stale


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'followup.db'}"
    migrate.upgrade(url=url)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "METRICS_"))}
    env |= {
        "DATABASE_URL": url, "METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN,
        "DB_POOL_SIZE": str(POOL_SIZE), "MAX_CONCURRENT_REQUESTS": str(POOL_SIZE),
        "TMPDIR": str(tmpdir), "PROMETHEUS_MULTIPROC_DIR": str(stale_directory(tmp_path)),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port),
             "--workers", str(WORKERS)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log_path)
        yield Served(base_url, process, tmpdir, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def hit_healthz(base_url: str, times: int) -> None:
    """``times`` requests at once, each on a new connection (so both workers take some)."""
    def one(_: int) -> int:
        return httpx.get(f"{base_url}/healthz", timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(one, range(times))) == {200}


def scrape(served: Served) -> str:
    response = httpx.get(f"{served.base_url}/metrics", timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text


def test_two_workers_counts_are_added_up(served: Served) -> None:
    (directory,) = served.metrics_dirs()
    sent = 0
    while sent < 4000:
        hit_healthz(served.base_url, 100)
        sent += 100
        by_worker = counts_by_worker(directory)
        if len(by_worker) == WORKERS and all(by_worker.values()):
            break
    assert len(by_worker) == WORKERS and all(by_worker.values()), (by_worker, served.log_path)
    assert sum(by_worker.values()) == sent

    # Whichever worker answers, the sum of both; the stale directory's count is not in it.
    for _ in range(4):
        text = scrape(served)
        assert healthz_count(text) == sent
        families = {f.name: f for f in text_string_to_metric_families(text)}
        (size,) = families["followup_db_pool_size"].samples
        assert size.value == WORKERS * POOL_SIZE  # one pool per worker, both alive

    served.process.terminate()
    assert served.process.wait(timeout=15) == 0
    assert served.metrics_dirs() == []  # removed when the server stopped
