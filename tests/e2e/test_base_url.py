"""Links (calendar-feed URLs, digest emails) start with BASE_URL. Without it,
`followup serve --host H --port P` links to the address it serves, http://H:P, in every
worker process; `followup digest send`, which serves nothing, keeps the default
http://127.0.0.1:8000 (or BASE_URL). Real processes, started from an empty folder (no
.env file)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app import migrate
from app.cli.serve import served_base_url
from app.db import make_engine, transaction
from app.models import Site
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.e2e.conftest import seed
from tests.helpers_digest import CommittedDb, add_recipient_row, committed_world
from tests.helpers_net import free_port, wait_ready

SITE = "YC3H"


def clean_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BASE_URL" and not k.startswith("SMTP_")}
    return env | {"DATABASE_URL": database_url, "SECRET_KEY": "base-url-test-secret",
                  "PYTHONUNBUFFERED": "1", **extra}


def followup(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A migrated database with the seed protocols; (its URL, an admin token)."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("base-url"))
    migrate.upgrade(url=url)
    engine = make_engine(url)
    try:
        yield url, seed(engine)
    finally:
        engine.dispose()
        drop_database(url)


def feed_url_from_a_server(
    tmp_path: Path, database_url: str, admin: str, *serve_args: str, **env: str
) -> tuple[str, str]:
    """Start `followup serve --host 127.0.0.1 --port FREE ...`, create a site's feed token
    through the API; returns (the server's address, the feed URL it answered with)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            followup("serve", "--host", "127.0.0.1", "--port", str(port), *serve_args),
            cwd=tmp_path, env=clean_env(database_url, **env), stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(base, process, log_path)
        urls = set()
        # With several workers, several requests: each worker must know the address.
        for _ in range(6):
            response = httpx.post(f"{base}/api/v1/sites/{SITE}/feed-tokens",
                                  headers={"Authorization": f"Bearer {admin}"}, timeout=30)
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["webcal_url"] == "webcal://" + body["url"].split("://", 1)[1]
            urls.add(body["url"].split("?token=")[0])
        assert len(urls) == 1, urls
        if body["url"].startswith(f"{base}/"):
            # The link works: the feed answers on the address it names.
            feed = httpx.get(body["url"], timeout=30)
            assert feed.status_code == 200
            assert feed.headers["content-type"].startswith("text/calendar")
        return base, urls.pop()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_without_base_url_links_to_the_port_it_serves(
    seeded: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = seeded
    base, feed = feed_url_from_a_server(tmp_path, url, admin, "--workers", "2")
    assert feed == f"{base}/api/v1/sites/{SITE}/calendar.ics"
    assert not base.endswith(":8000")
    assert f"BASE_URL is not set: links point to {base}" in (tmp_path / "serve.log").read_text()


def test_serve_with_base_url_links_to_it(seeded: tuple[str, str], tmp_path: Path) -> None:
    url, admin = seeded
    _, feed = feed_url_from_a_server(tmp_path, url, admin,
                                     BASE_URL="https://followup.example.org/trials")
    assert feed == f"https://followup.example.org/trials/api/v1/sites/{SITE}/calendar.ics"
    assert "BASE_URL is not set" not in (tmp_path / "serve.log").read_text()


def test_serve_base_url_from_a_dotenv_file_wins_too(
    seeded: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = seeded
    (tmp_path / ".env").write_text("BASE_URL=https://from-dotenv.example\n")
    _, feed = feed_url_from_a_server(tmp_path, url, admin)
    assert feed == f"https://from-dotenv.example/api/v1/sites/{SITE}/calendar.ics"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8811, "http://127.0.0.1:8811"),
        ("localhost", 8000, "http://localhost:8000"),
        ("followup.internal", 80, "http://followup.internal:80"),
        ("0.0.0.0", 8811, "http://127.0.0.1:8811"),
        ("::", 8811, "http://[::1]:8811"),
        ("::1", 9000, "http://[::1]:9000"),
        ("fe80::1", 9000, "http://[fe80::1]:9000"),
    ],
)
def test_served_base_url(host: str, port: int, expected: str) -> None:
    assert served_base_url(host, port) == expected


@pytest.fixture(params=BACKENDS)
def world_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CommittedDb]:
    for db in committed_world(request.param, tmp_path):
        with transaction(db.factory) as session:
            site = session.scalars(select(Site).where(Site.code == SITE)).one()
            add_recipient_row(session, site, "crc@yc3h.example")
        yield db


def digest_dry_run(world_db: CommittedDb, cwd: Path, **env: str) -> str:
    result = subprocess.run(
        followup("digest", "send", "--dry-run", "--site", SITE, "--date", "2026-03-02"),
        cwd=cwd, env=clean_env(world_db.url, **env), capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_digest_dry_run_links_use_the_default_base_url(
    world_db: CommittedDb, tmp_path: Path
) -> None:
    out = digest_dry_run(world_db, tmp_path)
    links = [word for word in out.split() if word.startswith(("http://", "https://"))]
    assert links, out
    assert all(link.startswith("http://127.0.0.1:8000/") for link in links), links


def test_digest_dry_run_links_use_base_url(world_db: CommittedDb, tmp_path: Path) -> None:
    out = digest_dry_run(world_db, tmp_path, BASE_URL="https://followup.example.org")
    links = [word for word in out.split() if word.startswith(("http://", "https://"))]
    assert links, out
    assert all(link.startswith("https://followup.example.org/") for link in links), links
