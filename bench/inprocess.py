"""Visit completions through the application in process: no socket, no HTTP server.

For profiling the EDC's hot path (step 9 of make bench measures it over HTTP): the
application is called as an ASGI app, one completion after another, on demo data made
for the run, and the CPU time per completion is printed. ``--profile`` runs the measured
completions under cProfile and prints the Python function calls per completion (a count
that does not depend on how busy the machine is) and the functions that took longest;
``--inline`` runs the route's work in the event loop's thread instead of a worker
thread, so that the profile sees it.

    python -m bench.inprocess --subjects 3000 --completions 300 [--profile] [--inline]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI

from app import migrate
from app.access import SYSTEM
from app.api.routes import visits as visit_routes
from app.db import make_engine, make_sessionmaker, transaction
from app.main import create_app
from app.services.demo import generate
from app.settings import Settings
from bench.completion import Target, pick_visits

WARM_UP = 20


def _scope(path: str, secret: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {secret}".encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }


async def _post(app: FastAPI, path: str, secret: str, body: bytes) -> int:
    """One request through the application; its status."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # the client never goes away
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(_scope(path, secret, body), receive, send)
    return statuses[0]


def _path(target: Target) -> str:
    study, subject, code = (quote(part, safe="") for part in target)
    return f"/api/v1/studies/{study}/subjects/{subject}/visits/{code}/completion"


async def _complete_all(app: FastAPI, targets: list[Target], secret: str, body: bytes) -> None:
    for target in targets:
        status = await _post(app, _path(target), secret, body)
        if status != 201:
            raise RuntimeError(f"completing {target} answered {status}")


def _inline() -> Callable[[], None]:
    """Run the completion route's work in the calling thread; returns the undo."""
    name = "run_in_threadpool"  # what the route module calls for its work
    original = vars(visit_routes)[name]

    async def in_this_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    setattr(visit_routes, name, in_this_thread)

    def undo() -> None:
        setattr(visit_routes, name, original)

    return undo


def run(url: str, subjects: int, completions: int, *, profile: bool, inline: bool,
        day: date) -> dict[str, Any]:
    """Demo data at ``url``, then ``completions`` completions after a warm-up."""
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        generate(session, actor=SYSTEM, subjects=subjects, sites=20, as_of=day, seed=1)
    engine.dispose()
    secret, targets = pick_visits(url, WARM_UP + completions, day)
    app = create_app(Settings(database_url=url, log_level="WARNING"))
    body = json.dumps({"actual_date": (day - timedelta(days=1)).isoformat()}).encode()
    undo = _inline() if inline else (lambda: None)
    profiler = cProfile.Profile() if profile else None
    try:
        asyncio.run(_complete_all(app, targets[:WARM_UP], secret, body))
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        asyncio.run(_complete_all(app, targets[WARM_UP:], secret, body))
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
    finally:
        undo()
        app.state.engine.dispose()
    out: dict[str, Any] = {"completions": completions, "cpu_ms": cpu * 1000 / completions}
    if profiler is not None:
        stats = pstats.Stats(profiler)
        out["calls"] = stats.total_calls / completions  # type: ignore[attr-defined]
        out["stats"] = stats
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=3000)
    parser.add_argument("--completions", type=int, default=300)
    parser.add_argument("--database-url", default=None,
                        help="an empty database (default: a new SQLite file)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--inline", action="store_true")
    args = parser.parse_args(argv)
    day = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite:///{Path(directory) / 'inprocess.db'}"
        result = run(url, args.subjects, args.completions, profile=args.profile,
                     inline=args.inline, day=day)
    line = f"{result['completions']} completions: {result['cpu_ms']:.2f} ms of CPU each"
    if "calls" in result:
        line += f", {result['calls']:.0f} Python function calls each"
    print(line)
    if "stats" in result:
        result.pop("stats").sort_stats("cumulative").print_stats(40)
    return result


if __name__ == "__main__":
    main()
