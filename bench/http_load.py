"""Step 3, 4 and 6 of make bench: the worklist and a subject's calendar over HTTP.

For each worker count, ``followup serve`` and the minimal raw-SQL app (bench/minimal_app.py)
run side by side on the same database. Each is warmed up and measured with one client
(latency); then the 16-client load runs in rounds, alternating between the two servers,
so that both see the same machine (this one is shared and noisy). Throughput is the
median of the rounds, and the ratio is taken from those medians.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.models import Site, Study, Subject
from app.services.tokens import create_token
from bench.load import LoadResult, Server, log, run_load

CLIENTS = 16


def bench_http(
    url: str, seconds: float, requests: int, workers: list[int], rounds: int = 3
) -> dict[str, Any]:
    secret, sites, sample = _fixtures(url)
    rng = random.Random(5)

    def worklist() -> str:
        return f"/api/v1/visits?site={rng.choice(sites)}&status=overdue&limit=100"

    def minimal() -> str:
        return f"/visits?site={rng.choice(sites)}&limit=100"

    def worklist_missed() -> str:
        return f"/api/v1/visits?site={rng.choice(sites)}&status=missed_undocumented&limit=100"

    def minimal_missed() -> str:
        return f"/missed?site={rng.choice(sites)}&limit=100"

    def calendar() -> str:
        study, subject = rng.choice(sample)
        return f"/api/v1/studies/{study}/subjects/{subject}"

    out: dict[str, Any] = {}
    for w in workers:
        with Server.followup(url, w) as ours, Server.minimal(url, w) as base:
            # The overdue class, and the derived misses nobody has documented (their own
            # index): each against the raw-SQL baseline answering the same rows.
            servers: dict[str, tuple[Server, Callable[[], str]]] = {
                "followup": (ours, worklist), "minimal": (base, minimal),
                "followup-missed": (ours, worklist_missed),
                "minimal-missed": (base, minimal_missed)}
            single: dict[str, LoadResult] = {}
            for kind, (server, paths) in servers.items():
                server.wait_ready()
                run_load(server.port, paths, token=secret, clients=4, seconds=min(seconds, 2))
                single[kind] = run_load(server.port, paths, token=secret, requests=requests)
            loads: dict[str, list[LoadResult]] = {kind: [] for kind in servers}
            for _ in range(rounds):
                for kind, (server, paths) in servers.items():
                    loads[kind].append(run_load(server.port, paths, token=secret,
                                                clients=CLIENTS, seconds=seconds))
            for kind in servers:
                out[f"{kind}_{w}"] = _entry(single[kind], loads[kind])
            out[f"followup_{w}"]["peak_rss_mb"], out[f"followup_{w}"]["peak_rss_total_mb"] = (
                ours.peak_rss_mb())
            if w == workers[0]:
                cal = run_load(ours.port, calendar, token=secret, requests=requests)
                out["calendar"] = {"p50_ms": cal.percentile(50), "p95_ms": cal.percentile(95),
                                   "errors": cal.errors}
        for suffix in ("", "-missed"):
            ours_rps = out[f"followup{suffix}_{w}"]["rps_16"]
            base_rps = out[f"minimal{suffix}_{w}"]["rps_16"]
            out[f"ratio{suffix}_{w}"] = ours_rps / base_rps
            log(f"  x{w}{suffix}: followup {ours_rps:.0f} req/s, minimal {base_rps:.0f} req/s,"
                f" ratio {out[f'ratio{suffix}_{w}']:.2f}")
    return out


def _entry(single: LoadResult, loads: list[LoadResult]) -> dict[str, Any]:
    middle = sorted(loads, key=lambda r: r.per_second)[len(loads) // 2]
    return {
        "p50_ms": single.percentile(50), "p95_ms": single.percentile(95),
        "p99_ms": single.percentile(99),
        "rps_16": statistics.median(r.per_second for r in loads),
        "rps_16_rounds": [r.per_second for r in loads],
        "p95_ms_16": middle.percentile(95),
        "errors": single.errors + sum(r.errors for r in loads),
    }


def _fixtures(url: str) -> tuple[str, list[str], list[tuple[str, str]]]:
    """An admin token (a new name each run, so a kept database can be measured again),
    the demo sites, and 1,000 subjects to open."""
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        name = f"bench-{time.time_ns()}"
        secret = create_token(session, actor=SYSTEM, role="admin", name=name, now=utcnow()).secret
        sites = list(session.scalars(select(Site.code).where(Site.code.like("DEMO%"))))
        subjects = session.execute(
            select(Study.code, Subject.subject_id).join(Study, Study.id == Subject.study_id)
        ).tuples().all()
    engine.dispose()
    rng = random.Random(5)
    return secret, sites, [subjects[rng.randrange(len(subjects))] for _ in range(1000)]
