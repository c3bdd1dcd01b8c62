"""Step 7: exports of one study at two sizes, each against a raw SQL dump of the same
columns in the same run, every one in its own process so its peak RSS is its own.

The study is filled by the bulk import (the same CSV as step 2), then exported as CSV,
as CDISC ODM 1.3.2, as CDISC SDTM (a ZIP of SV and TV as CSV and XPT v5) and as an HL7
FHIR R4 Bundle through the service, and dumped by a driver-level query (a server-side
cursor on PostgreSQL) written with the csv module. Each export's peak RSS must not grow
with the study: compare the two sizes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bench.load import log
from bench.steps import IMPORT_STUDY, Backend, import_in_child, prepare, write_csv

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("csv", "odm", "sdtm", "fhir")

_EXPORT = (
    "import json, sys, time\n"
    "from datetime import date, datetime, time as t, UTC\n"
    "from app.db import make_engine, make_sessionmaker, transaction\n"
    "from app.access import SYSTEM\n"
    "from app.services.exports import ExportFormat, start_export\n"
    "from bench.load import peak_rss_mb\n"
    "url, fmt, out, day, study = sys.argv[1:6]\n"
    "factory = make_sessionmaker(make_engine(url))\n"
    "now = datetime.combine(date.fromisoformat(day), t(12), UTC)\n"
    "started = time.perf_counter()\n"
    "with transaction(factory) as s:\n"
    "    e = start_export(s, study=study, format=ExportFormat(fmt), site=None, actor=SYSTEM,"
    " now=now)\n"
    "size = 0\n"
    "with transaction(factory, write=False) as s, open(out, 'wb') as f:\n"
    "    for piece in e.body(s):\n"
    "        f.write(piece)\n"
    "        size += len(piece)\n"
    "print(json.dumps({'seconds': time.perf_counter() - started, 'bytes': size,"
    " 'peak_rss_mb': peak_rss_mb('self')}))\n"
)

# The columns of the CSV export, straight from the tables (stored state, no status).
DUMP_SQL = (
    "SELECT su.subject_id, si.code, su.lifecycle, su.consent_date, pv.version, v.code,"
    " v.name, v.phase, v.kind, v.optional, v.unscheduled, vs.code, v.target_date,"
    " v.window_start, v.window_end, v.actual_date, v.state, v.reason"
    " FROM subjects su JOIN studies st ON st.id = su.study_id"
    " JOIN sites si ON si.id = su.site_id"
    " JOIN protocol_versions pv ON pv.id = su.protocol_version_id"
    " JOIN visits v ON v.subject_pk = su.id JOIN sites vs ON vs.id = v.site_id"
    " WHERE st.code = '{study}' ORDER BY su.subject_id, v.id"
)

_DUMP = (
    "import csv, json, os, sys, time\n"
    "from app.db import make_engine\n"
    "from bench.load import peak_rss_mb\n"
    "url, out, sql = sys.argv[1:4]\n"
    "engine = make_engine(url)\n"
    "started = time.perf_counter()\n"
    "raw = engine.raw_connection()\n"
    "conn = raw.driver_connection\n"
    "cursor = conn.cursor('dump') if url.startswith('postgresql') else conn.cursor()\n"
    "cursor.execute(sql)\n"
    "rows = 0\n"
    "with open(out, 'w', newline='', encoding='utf-8') as f:\n"
    "    writer = csv.writer(f)\n"
    "    while batch := cursor.fetchmany(5000):\n"
    "        writer.writerows(batch)\n"
    "        rows += len(batch)\n"
    "cursor.close()\n"
    "raw.rollback()\n"
    "raw.close()\n"
    "print(json.dumps({'seconds': time.perf_counter() - started, 'rows': rows,"
    " 'bytes': os.path.getsize(out), 'peak_rss_mb': peak_rss_mb('self')}))\n"
)


def _child(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"export step failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def export_in_child(url: str, fmt: str, out: Path, as_of: date) -> dict[str, float]:
    return _child(_EXPORT, url, fmt, str(out), as_of.isoformat(), IMPORT_STUDY)


def dump_in_child(url: str, out: Path) -> dict[str, float]:
    return _child(_DUMP, url, str(out), DUMP_SQL.format(study=IMPORT_STUDY))


def bench_export(
    backend: Backend, work: Path, subjects: int, small: int, sites: int, as_of: date
) -> dict[str, Any]:
    """The study at ``small`` (0: skipped) and ``subjects`` subjects: each format's time,
    size and peak RSS, and the raw dump's."""
    out: dict[str, Any] = {}
    sizes = (("small", small), ("big", subjects)) if small else (("big", subjects),)
    for label, size in sizes:
        source = work / f"export_{label}.csv"
        write_csv(source, size, sites, as_of, seed=2)
        url = backend.database(f"export_{label}")
        prepare(url, sites, as_of)
        log(f"{backend.name}: filling a study of {size} subjects to export")
        filled = import_in_child(url, source, as_of)
        source.unlink()
        run: dict[str, Any] = {"subjects": filled["subjects"], "visits": filled["visits"]}
        for fmt in FORMATS:
            log(f"{backend.name}: export {fmt}, {size} subjects")
            target = work / f"export_{label}.{fmt}"
            run[fmt] = export_in_child(url, fmt, target, as_of)
            target.unlink()
        log(f"{backend.name}: raw SQL dump, {size} subjects")
        target = work / f"export_{label}_raw.csv"
        run["raw"] = dump_in_child(url, target)
        target.unlink()
        for fmt in FORMATS:
            run[f"ratio_{fmt}"] = run["raw"]["seconds"] / run[fmt]["seconds"]
        out[label] = run
        backend.drop(url)
    return out
