"""make bench: throughput, latency and memory at 100,000 subjects, with baselines.

    python -m bench.run [--subjects N] [--demo-subjects M] [--export-subjects E]
                        [--sites S] [--seconds T] [--rounds R] [--steps a,b] [--out DIR]

Imports and expansion run at N subjects; the worklist, calendar, digest, reports and
completions run over M subjects with history (1.5 N by default: about 2,000,000 visit rows
at N = 100,000); the export step fills a study of E subjects (150,000 by default) and
exports it; the amendment step imports N subjects again and applies a second protocol
version to all of them.
``--steps`` runs some of the steps only (e.g. ``--steps completion --demo-subjects 2000``
while working on the write path).

For SQLite, and for PostgreSQL when TEST_DATABASE_URL is set (in dedicated schemas
bench_<pid>_*), it measures the steps listed in docs/performance.md, prints a Markdown table
and writes DIR/latest.json and DIR/latest.md. Each of our numbers is paired with a
baseline measured in the same run (the machine is noisy: compare ratios, not runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction
from app.services.demo import generate
from bench.amendment import bench_amendment
from bench.completion import bench_completion
from bench.export import bench_export
from bench.http_load import bench_http
from bench.load import log
from bench.report import markdown
from bench.steps import (
    Backend,
    bench_digest,
    bench_expansion,
    bench_reports,
    import_in_child,
    prepare,
    raw_executemany,
    write_csv,
)

# The data is generated up to today, so the servers' own clock sees a current worklist.
AS_OF = datetime.now(UTC).date()
ROOT = Path(__file__).resolve().parent.parent
STEPS = ("expansion", "import", "http", "digest", "reports", "completion", "export",
         "amendment")


def bench_import(
    backend: Backend, work: Path, subjects: int, small: int, sites: int
) -> dict[str, Any]:
    """The CSV import in a child process at two sizes (its peak RSS must not grow with
    the file), and a raw executemany of the rows the big import wrote."""
    out: dict[str, Any] = {}
    sizes = (("import_small", small), ("import", subjects)) if small else (("import", subjects),)
    for label, size in sizes:
        path = work / f"{label}.csv"
        write_csv(path, size, sites, AS_OF)
        url = backend.database(label)
        prepare(url, sites, AS_OF)
        log(f"{backend.name}: importing {size} subjects")
        result = import_in_child(url, path, AS_OF)
        out[label] = {**result, "subjects_per_s": result["subjects"] / result["seconds"],
                      "visits_per_s": result["visits"] / result["seconds"],
                      "file_mb": path.stat().st_size / 2**20}
        if label == "import":
            raw_url = backend.database("raw")
            prepare(raw_url, sites, AS_OF)
            log(f"{backend.name}: raw executemany of the same rows")
            raw = raw_executemany(url, raw_url)
            out["raw"] = raw
            out["ratio"] = raw["seconds"] / result["seconds"]
            backend.drop(raw_url)
        backend.drop(url)
        path.unlink()
    return out


def run_backend(backend: Backend, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    small = args.subjects // 10 if args.small is None else args.small
    result: dict[str, Any] = {}
    if "import" in args.steps:
        result["import"] = bench_import(backend, work, args.subjects, small, args.sites)
    if {"http", "digest", "reports", "completion"} & set(args.steps):
        result |= _with_history(backend, args)
    if "export" in args.steps and args.export_subjects:
        small = (args.export_subjects // 10 if args.export_small is None
                 else args.export_small)
        result["export"] = bench_export(backend, work, args.export_subjects, small, args.sites,
                                        AS_OF)
    if "amendment" in args.steps:
        result["amendment"] = bench_amendment(backend, work, args.subjects, args.sites, AS_OF)
    return result


def _with_history(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    """The steps over the demo data: worklist, calendar, digest, reports, completions."""
    result: dict[str, Any] = {}
    url = backend.database("main")
    log(f"{backend.name}: demo data, {args.demo_subjects} subjects with history")
    prepare_started = time.perf_counter()
    from app import migrate

    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        demo = generate(session, actor=SYSTEM, subjects=args.demo_subjects, sites=args.sites,
                        as_of=AS_OF, seed=1)
    engine.dispose()
    backend.analyze(url)
    result["demo"] = {"subjects": demo.subjects, "visits": demo.visits,
                      "seconds": time.perf_counter() - prepare_started}
    if "http" in args.steps:
        log(f"{backend.name}: HTTP")
        result["http"] = bench_http(url, args.seconds, args.requests, args.workers, args.rounds)
    if "digest" in args.steps:
        log(f"{backend.name}: digest")
        result["digest"] = bench_digest(url, AS_OF)
    if "reports" in args.steps:
        log(f"{backend.name}: reports")
        result["reports"] = bench_reports(url, AS_OF)
    if "completion" in args.steps:
        log(f"{backend.name}: visit completion, one client")
        result["completion"] = bench_completion(backend, url, args.requests, args.rounds,
                                                AS_OF)
    if not args.keep:
        backend.drop(url)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument(
        "--demo-subjects", type=int, default=None,
        help="Subjects with history behind the worklist and digest steps (default: 1.5 x"
             " --subjects; the seed protocols average 13.4 visits a subject, so 150,000"
             " subjects make about 2,000,000 visit rows)")
    parser.add_argument("--small", type=int, default=None,
                        help="Subjects of the second import (RSS check); 0 skips it")
    parser.add_argument("--export-subjects", type=int, default=150_000,
                        help="Subjects of the study exported in step 7 (0 skips the step)")
    parser.add_argument("--export-small", type=int, default=None,
                        help="Subjects of the smaller export (RSS check; default a tenth;"
                             " 0 skips it)")
    parser.add_argument("--seconds", type=float, default=5.0, help="Each concurrent load run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Concurrent load runs, and completion runs, per server (the median is"
                             " reported)")
    parser.add_argument("--requests", type=int, default=300, help="Each single-client run")
    parser.add_argument("--workers", default="1,2", help="Server worker counts, e.g. 1,2")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"The steps to run, of {','.join(STEPS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="Keep the main databases")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    args.steps = args.steps.split(",")
    if unknown := set(args.steps) - set(STEPS):
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))}; of {', '.join(STEPS)}")
    if args.demo_subjects is None:
        args.demo_subjects = args.subjects * 3 // 2
    started = time.perf_counter()
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(), "subjects": args.subjects, "sites": args.sites,
        "demo_subjects": args.demo_subjects,
        "as_of": AS_OF.isoformat(),
    }
    if "expansion" in args.steps:
        log("expansion")
        results["expansion"] = bench_expansion(args.subjects, AS_OF)
    pg_url = os.environ.get("TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
        work = Path(tmp)
        for name in args.backends.split(","):
            if name == "postgresql" and not pg_url:
                log("postgresql skipped: TEST_DATABASE_URL is not set")
                continue
            backend = Backend(name, pg_url if name == "postgresql" and pg_url else tmp)
            results[name] = run_backend(backend, args, work)
    results["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "latest.md").write_text(table)
    print(table)
    return results


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0.0
    try:
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory, 1),
            "python": platform.python_version(), "system": platform.platform()}


if __name__ == "__main__":
    main()
