"""The measured steps: calendar expansion, bulk import against raw executemany, digest,
the reports (compliance against a raw SQL GROUP BY of the same counts, endpoints)."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Date, Engine, bindparam, func, select, text

from app.access import SYSTEM
from app.db import Base, make_engine, make_sessionmaker, transaction
from app.models import AnchorDateRow, AuditRecord, Site, Study, Subject, Visit
from app.schedule.expand import AnchorDate, expand
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan, build_plan
from app.services.demo import SCHEDULES, SEEDS, demo_text, generate
from app.services.digest.content import build_site_digest
from app.services.reports.compliance import ComplianceColumn, compliance_report
from app.services.reports.endpoints import endpoint_report

IMPORT_STUDY = "UCART-SLE-DEMO"


def seed_plans() -> list[Plan]:
    return [build_plan(parse_protocol(demo_text((SCHEDULES / name).read_text()), source=name))
            for name, _ in SEEDS]


# -- 1. expansion -------------------------------------------------------------------


def bench_expansion(subjects: int, as_of: date) -> dict[str, float]:
    """µs per subject: the engine's expand() against bare dateutil arithmetic.

    Both get the same subjects (an infusion date each) and the same offsets; the
    baseline computes each visit's target and window with relativedelta objects built
    once per protocol, which is the fastest plain-dateutil way to do it.
    """
    rng = random.Random(1)
    plans = seed_plans()
    work = [(plans[i % len(plans)], as_of - timedelta(days=rng.randint(0, 730)))
            for i in range(subjects)]
    offsets = {
        id(plan): [(relativedelta(months=v.offset.months, days=v.offset.days),
                    timedelta(days=v.before_days), timedelta(days=v.after_days))
                   for v in plan.visits]
        for plan in plans
    }
    started = time.perf_counter()
    visits = 0
    for plan, infusion in work:
        out = expand(plan, {"infusion": AnchorDate(infusion), "consent": AnchorDate(infusion)})
        visits += len(out.visits)
    engine = time.perf_counter() - started
    started = time.perf_counter()
    for plan, infusion in work:
        rows = []
        for delta, before, after in offsets[id(plan)]:
            target = infusion + delta
            rows.append((target, target - before, target + after))
    raw = time.perf_counter() - started
    return {
        "subjects": subjects, "visits": visits,
        "engine_us_per_subject": engine / subjects * 1e6,
        "raw_us_per_subject": raw / subjects * 1e6,
        "ratio": raw / engine,
    }


# -- 2. import ----------------------------------------------------------------------


def prepare(url: str, sites: int, as_of: date) -> None:
    """Migrated database with the demo studies and ``sites`` sites, no subject."""
    from app import migrate

    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        generate(session, actor=SYSTEM, subjects=0, sites=sites, as_of=as_of)
    engine.dispose()


def write_csv(path: Path, subjects: int, sites: int, as_of: date, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["subject_id", "site", "consent_date", "date_of_birth", "infusion",
                      "infusion_planned"])
        for i in range(1, subjects + 1):
            consent = as_of - timedelta(days=rng.randint(3, 730))
            infusion = consent + timedelta(days=rng.randint(14, 42))
            out.writerow([f"I{i:07d}", f"DEMO{rng.randint(1, sites):03d}", consent,
                          consent - timedelta(days=rng.randint(20 * 366, 70 * 365)), infusion,
                          "true" if infusion > as_of else "false"])


def import_in_child(url: str, path: Path, as_of: date) -> dict[str, float]:
    """Run the import in its own process: its time, and its peak RSS.

    The child reads its own VmHWM at the end: the kernel resets it at exec, whereas the
    rusage maximum of a child also counts the parent's memory at fork time.
    """
    code = (
        "import json, sys, time\n"
        "from datetime import date, datetime, time as t, UTC\n"
        "from app.db import Base, make_engine, make_sessionmaker, transaction\n"
        "from app.access import SYSTEM\n"
        "from app.services.bulk.csv_import import import_csv\n"
        "from bench.load import peak_rss_mb\n"
        "url, path, day = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])\n"
        "factory = make_sessionmaker(make_engine(url))\n"
        "started = time.perf_counter()\n"
        "with transaction(factory) as s, open(path, newline='') as f:\n"
        f"    r = import_csv(s, study_code='{IMPORT_STUDY}', actor=SYSTEM, lines=f,"
        " now=datetime.combine(day, t(12), UTC))\n"
        "print(json.dumps({'seconds': time.perf_counter() - started, 'subjects': r.imported,"
        " 'visits': r.visits, 'peak_rss_mb': peak_rss_mb('self')}))\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code, url, str(path), as_of.isoformat()],
                          capture_output=True, text=True, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


TABLES: tuple[tuple[Any, str], ...] = (
    (Subject, "TRUE"), (AnchorDateRow, "TRUE"), (Visit, "TRUE"),
    (AuditRecord, "action = 'subject.enrolled'"),
)


def _chunks(engine: Engine, model: Any, where: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
    table = model.__table__
    pg = engine.dialect.name == "postgresql"
    columns = ", ".join(f"{c.name}::text" if pg and c.type.__class__.__name__ == "JSON"
                        else c.name for c in table.c if c.name != "id")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        last = 0
        while True:
            cursor.execute(f"SELECT id, {columns} FROM {table.name} WHERE id > {last} AND {where}"
                           f" ORDER BY id LIMIT {size}")
            rows = cursor.fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [tuple(r[1:]) for r in rows]
    finally:
        raw.close()


def raw_executemany(source_url: str, target_url: str, chunk: int = 50_000) -> dict[str, float]:
    """Copy what the import wrote into an empty twin database with the driver's own
    executemany, timing only the inserts and the commit: the fastest the same rows go in
    without our code."""
    source, target = make_engine(source_url), make_engine(target_url)
    pg = target.dialect.name == "postgresql"
    raw = target.raw_connection()
    seconds, rows = 0.0, 0
    try:
        cursor = raw.cursor()
        if not pg:
            cursor.execute("BEGIN IMMEDIATE")
        for model, where in TABLES:
            table = model.__table__
            cols = [c for c in table.c if c.name != "id"]
            marks = ", ".join(("%s::json" if c.type.__class__.__name__ == "JSON" else "%s")
                              if pg else "?" for c in cols)
            sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)})"
                   f" VALUES ({marks})")
            for batch in _chunks(source, model, where, chunk):
                started = time.perf_counter()
                cursor.executemany(sql, batch)
                seconds += time.perf_counter() - started
                rows += len(batch)
        started = time.perf_counter()
        if pg:
            raw.commit()
        else:
            cursor.execute("COMMIT")
        seconds += time.perf_counter() - started
    finally:
        raw.close()
        source.dispose()
        target.dispose()
    return {"seconds": seconds, "rows": rows}


# -- 5. digest ----------------------------------------------------------------------


def bench_digest(url: str, as_of: date) -> dict[str, float]:
    """Build every site's digest for its local date (data only, no mail). No digest was
    sent before, so each lists the visits that began to count as missed in 7 days."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    timings: list[float] = []
    rows = missed = 0
    with transaction(factory, write=False) as session:
        sites = session.scalars(select(Site).order_by(Site.code)).all()
        started = time.perf_counter()
        for site in sites:
            t0 = time.perf_counter()
            digest = build_site_digest(session, site=site, local_date=as_of,
                                       base_url="http://127.0.0.1")
            timings.append((time.perf_counter() - t0) * 1000)
            rows += (len(digest.overdue) + len(digest.due) + len(digest.upcoming)
                     + len(digest.newly_missed))
            missed += len(digest.newly_missed)
        total = time.perf_counter() - started
    engine.dispose()
    timings.sort()
    return {"sites": len(sites), "rows": rows, "newly_missed": missed, "total_s": total,
            "per_site_ms_mean": total * 1000 / max(len(sites), 1),
            "per_site_ms_p95": timings[int(0.95 * (len(timings) - 1))] if timings else 0.0}


# -- 6. reports ---------------------------------------------------------------------

# The compliance classes of every visit of a study, written by hand in plain SQL: the
# baseline the report's GROUP BY (over the status rules' SQL twin) is measured against.
RAW_COMPLIANCE = text("""
SELECT
  SUM(CASE WHEN state = 'completed' AND NOT (actual_date IS NOT NULL
      AND window_start IS NOT NULL AND window_end IS NOT NULL
      AND (actual_date < window_start OR actual_date > window_end)) THEN 1 ELSE 0 END),
  SUM(CASE WHEN state = 'completed' AND window_end IS NOT NULL
      AND actual_date < window_start THEN 1 ELSE 0 END),
  SUM(CASE WHEN state = 'completed' AND window_start IS NOT NULL
      AND actual_date > window_end THEN 1 ELSE 0 END),
  SUM(CASE WHEN state = 'missed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN state = 'planned' AND window_start IS NOT NULL AND window_end < :day
      AND NOT optional AND missed_from <= :day THEN 1 ELSE 0 END),
  SUM(CASE WHEN state = 'planned' AND window_start IS NOT NULL AND window_end < :day
      AND NOT optional AND (missed_from IS NULL OR missed_from > :day) THEN 1 ELSE 0 END),
  site_id, code
FROM visits WHERE study_id = :study AND NOT unscheduled
GROUP BY site_id, code
""").bindparams(bindparam("day", type_=Date))


def bench_reports(url: str, as_of: date) -> dict[str, Any]:
    """Each study's compliance report (as of one date at every site) against the raw
    GROUP BY of the same counts, which must agree; and each study's endpoint report."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    out: dict[str, Any] = {"compliance_s": 0.0, "raw_s": 0.0, "endpoints_s": 0.0,
                           "visits": 0, "subjects": 0, "agree": True}
    with transaction(factory, write=False) as session:
        studies = session.execute(select(Study.id, Study.code).order_by(Study.code)).all()
        out["visits"] = session.scalar(select(func.count()).select_from(Visit))
        for study_id, code in studies:
            started = time.perf_counter()
            report = compliance_report(session, study=code, actor=SYSTEM,
                                       now=as_of_noon(as_of), as_of=as_of)
            out["compliance_s"] += time.perf_counter() - started
            started = time.perf_counter()
            rows = session.execute(RAW_COMPLIANCE, {"day": as_of, "study": study_id}).all()
            out["raw_s"] += time.perf_counter() - started
            raw = [sum(int(r[i] or 0) for r in rows) for i in range(len(ComplianceColumn))]
            ours = [report.total.count(c) for c in ComplianceColumn]
            out["agree"] = out["agree"] and raw == ours
            started = time.perf_counter()
            endpoints = endpoint_report(session, study=code, actor=SYSTEM,
                                        now=as_of_noon(as_of), as_of=as_of)
            out["endpoints_s"] += time.perf_counter() - started
            out["subjects"] += endpoints.subjects
    engine.dispose()
    out["ratio"] = out["raw_s"] / out["compliance_s"] if out["compliance_s"] else 0.0
    return out


def as_of_noon(day: date) -> datetime:
    return datetime.combine(day, dtime(12), UTC)


@dataclass(frozen=True)
class Backend:
    name: str
    base_url: str  # a directory for SQLite, the server URL for PostgreSQL

    def database(self, label: str) -> str:
        """A fresh, empty database for ``label`` (a file, or a dedicated schema)."""
        if self.name == "sqlite":
            path = Path(self.base_url) / f"{label}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        # A schema per run and step: concurrent runs (a test run and make bench) never
        # drop each other's data.
        schema = f"bench_{os.getpid()}_{label}"
        admin = make_engine(self.base_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}options=-csearch_path%3D{schema}"

    def analyze(self, url: str) -> None:
        """Refresh PostgreSQL's planner statistics of the database at ``url`` after a bulk
        load, as autovacuum would within a minute or so on a server that runs it (not every
        machine does: without statistics a one-subject query may get a parallel plan,
        several milliseconds to start). Nothing on SQLite, whose planner needs none."""
        if self.name != "postgresql":
            return
        engine = make_engine(url)
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:  # this schema's, by the search path
                conn.execute(text(f'ANALYZE "{table.name}"'))
            conn.commit()
        engine.dispose()

    def drop(self, url: str) -> None:
        if self.name == "postgresql":
            schema = url.rsplit("%3D", 1)[1]
            admin = make_engine(self.base_url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
        else:
            path = url.removeprefix("sqlite:///")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
