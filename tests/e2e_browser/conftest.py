"""Fixtures of the browser tests: one seeded server and one Chromium for the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e_browser.harness import (
    CHROMIUM,
    LAUNCH_ARGS,
    chromium_missing,
    running_server,
    seeded_database,
)
from tests.helpers_web import Seeded

MISSING = chromium_missing()
if MISSING is None:
    from playwright.sync_api import Browser, sync_playwright


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    seeded: Seeded
    database_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if MISSING:
        pytest.skip(MISSING)
    directory = tmp_path_factory.mktemp("e2e")
    url, seeded = seeded_database(directory)
    with running_server(url, directory / "server.log") as base:
        yield Server(base, seeded, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if MISSING:
        pytest.skip(MISSING)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.slow)
