"""Step 7 of make bench: recording a visit's completion, the EDC's hot path.

One sequential client completes distinct visits (a different subject each time), through
``followup serve`` on the bench database and through the minimal raw-SQL endpoint
(bench/minimal_app.py) on a copy of it made just before: both servers complete the same
visits of the same data. Each gets a warm-up, then the rounds alternate between the two
servers (the machine is shared and noisy). Reported per server: completions per second
(median of the rounds) and p50/p95 over every measured completion; the ratio is ours
over the baseline's rate.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, text

from app import migrate
from app.access import SYSTEM
from app.db import Base, make_engine, make_sessionmaker, transaction, utcnow
from app.models import ProtocolVersion, Study, Subject, Visit
from app.services.studies import plan_of
from app.services.tokens import create_token
from bench.load import LoadResult, Server, log, run_load
from bench.steps import Backend

Target = tuple[str, str, str]  # study code, subject id, visit code


def pick_visits(url: str, count: int, day: date) -> tuple[str, list[Target]]:
    """An admin token and ``count`` visits to complete on ``day``, one a subject: the
    subject's earliest visit still planned whose window has opened, of a subject still
    followed and consented before ``day`` (never a visit that records an anchor, which
    the baseline would not set)."""
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        secret = create_token(session, actor=SYSTEM, role="admin",
                              name=f"bench-completion-{time.time_ns()}", now=utcnow()).secret
        recorders = {v.id: {d.code for d in plan_of(v).visits if d.records_anchor}
                     for v in session.scalars(select(ProtocolVersion))}
        rows = session.execute(
            select(Study.code, Subject.subject_id, Visit.code, Subject.protocol_version_id)
            .join(Subject, Subject.id == Visit.subject_pk)
            .join(Study, Study.id == Subject.study_id)
            .where(Visit.state == "planned", Visit.unscheduled.is_(False),
                   Visit.window_start <= day, Subject.lifecycle == "active",
                   Subject.consent_date < day)
            .order_by(Subject.id, Visit.target_date, Visit.id)
        ).tuples().all()
    engine.dispose()
    first: dict[tuple[str, str], Target] = {}
    for study, subject, code, version in rows:
        if code not in recorders.get(version, set()):
            first.setdefault((study, subject), (study, subject, code))
    chosen = list(first.values())
    random.Random(7).shuffle(chosen)
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} visits to complete, {count} needed")
    return secret, chosen[:count]


def copy_database(backend: Backend, url: str, label: str) -> str:
    """A copy of the database at ``url``: SQLite's backup, or, on PostgreSQL, a migrated
    schema filled table by table (parents first) with its sequences moved on."""
    copy = backend.database(label)
    if backend.name == "sqlite":
        source = sqlite3.connect(url.removeprefix("sqlite:///"))
        target = sqlite3.connect(copy.removeprefix("sqlite:///"))
        with target:
            source.backup(target)
        source.close()
        target.close()
        return copy
    migrate.upgrade(url=copy)
    source_schema, copy_schema = (u.rsplit("%3D", 1)[1] for u in (url, copy))
    engine = make_engine(copy)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            columns = ", ".join(f'"{c.name}"' for c in table.c)
            conn.execute(text(f"INSERT INTO {copy_schema}.{table.name} ({columns})"
                              f" SELECT {columns} FROM {source_schema}.{table.name}"))
            if "id" in table.c and table.c.id.autoincrement:
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{copy_schema}.{table.name}', 'id'),"
                    f" COALESCE((SELECT max(id) FROM {copy_schema}.{table.name}), 0) + 1,"
                    " false)"))
    engine.dispose()
    backend.analyze(copy)
    return copy


def _paths(prefix: str, targets: list[Target]) -> Callable[[], str]:
    it: Iterator[Target] = iter(targets)

    def path() -> str:
        study, subject, code = next(it)
        return (f"{prefix}/studies/{quote(study, safe='')}/subjects/{quote(subject, safe='')}"
                f"/visits/{quote(code, safe='')}/completion")

    return path


def bench_completion(
    backend: Backend, url: str, requests: int, rounds: int, day: date
) -> dict[str, Any]:
    """Completions through our server and the baseline's, alternating rounds of
    ``requests`` sequential completions each, after a warm-up of its own."""
    warm = min(20, requests)
    secret, targets = pick_visits(url, warm + rounds * requests, day)
    copy = copy_database(backend, url, "completion_copy")
    # The day before: never in the future at any site, whatever its time zone.
    body = json.dumps({"actual_date": (day - timedelta(days=1)).isoformat()}).encode()
    ok = frozenset({201})
    runs: dict[str, list[LoadResult]] = {"followup": [], "minimal": []}
    cpu: dict[str, list[float]] = {"followup": [], "minimal": []}  # ms per completion
    try:
        with Server.followup(url, 1) as ours, Server.minimal(copy, 1) as base:
            servers = {"followup": (ours, "/api/v1"), "minimal": (base, "")}
            for server, prefix in servers.values():
                server.wait_ready()
                run_load(server.port, _paths(prefix, targets[:warm]), token=secret,
                         requests=warm, body=body, ok=ok)
            for n in range(rounds):
                batch = targets[warm + n * requests: warm + (n + 1) * requests]
                for kind, (server, prefix) in servers.items():
                    used = server.cpu_ms()
                    runs[kind].append(run_load(server.port, _paths(prefix, batch), token=secret,
                                               requests=requests, body=body, ok=ok))
                    cpu[kind].append((server.cpu_ms() - used) / requests)
    finally:
        backend.drop(copy)
    out: dict[str, Any] = {kind: _entry(results) | {"cpu_ms": statistics.median(cpu[kind])}
                           for kind, results in runs.items()}
    out["ratio"] = out["followup"]["per_s"] / out["minimal"]["per_s"]
    log(f"  completion: followup {out['followup']['per_s']:.0f}/s (p50"
        f" {out['followup']['p50_ms']:.1f} ms, CPU {out['followup']['cpu_ms']:.2f} ms),"
        f" minimal {out['minimal']['per_s']:.0f}/s (p50 {out['minimal']['p50_ms']:.1f} ms,"
        f" CPU {out['minimal']['cpu_ms']:.2f} ms), ratio {out['ratio']:.2f}")
    return out


def _entry(results: list[LoadResult]) -> dict[str, Any]:
    every = LoadResult(sum(r.requests for r in results), sum(r.errors for r in results),
                       sum(r.seconds for r in results),
                       tuple(ms for r in results for ms in r.latencies_ms))
    return {
        "per_s": statistics.median(r.per_second for r in results),
        "per_s_rounds": [r.per_second for r in results],
        "p50_ms": every.percentile(50), "p95_ms": every.percentile(95),
        "completions": every.requests, "errors": every.errors,
    }
