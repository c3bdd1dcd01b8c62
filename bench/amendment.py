"""Step 10: an amendment applied to every subject of a study, beside the time to import
the same subjects in the same run.

The subjects are imported by the bulk import (step 2's file and code, in a child
process); then a second version of the demo study is loaded, the SLE seed's amendment 1
(a visit added, one retimed, one removed, a window widened) without its re-consent, so
that every subject moves; then ``followup protocol apply STUDY --to 2.0 --all`` runs as
a user runs it, in a child process, one transaction per subject. Its time is the
command's wall time, start-up included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction
from app.services.demo import SCHEDULES, demo_text
from app.services.studies import load_schedule
from bench.load import ROOT, log
from bench.steps import IMPORT_STUDY, Backend, import_in_child, prepare, write_csv

AMENDMENT = SCHEDULES / "amendments" / "ucart-sle-2.0.yaml"
TO_VERSION = "2.0"
_SUMMARY = re.compile(r"(\d+) subject\(s\) moved, (\d+) already on it, (\d+) blocked")


def amendment_text() -> str:
    """The demo study's version 2.0: amendment 1 of the SLE seed, no re-consent needed."""
    text, found = re.subn(r"reconsent: true\n\s+consent_version: \"2.0\"\n",
                          "reconsent: false\n", demo_text(AMENDMENT.read_text("utf-8")))
    if not found:
        raise RuntimeError(f"{AMENDMENT.name}: no re-consent to take out")
    return text


def apply_in_child(url: str) -> dict[str, Any]:
    """``followup protocol apply --all`` in its own process: wall time and its summary."""
    command = [sys.executable, "-m", "app", "protocol", "apply", IMPORT_STUDY,
               "--to", TO_VERSION, "--all", "--reason", "Amendment 1 (benchmark)"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"apply failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = _SUMMARY.search(done.stdout)
    if summary is None:
        raise RuntimeError(f"apply printed no summary: {done.stdout[-2000:]}")
    moved, already, blocked = (int(n) for n in summary.groups())
    return {"seconds": seconds, "moved": moved, "already": already, "blocked": blocked}


def bench_amendment(
    backend: Backend, work: Path, subjects: int, sites: int, as_of: date
) -> dict[str, Any]:
    """Import ``subjects`` subjects, load version 2.0, apply it to all: subjects/s of
    both, and the ratio of the apply's rate to the import's."""
    path = work / "amendment.csv"
    write_csv(path, subjects, sites, as_of)
    url = backend.database("amendment")
    prepare(url, sites, as_of)
    log(f"{backend.name}: importing {subjects} subjects for the amendment")
    imported = import_in_child(url, path, as_of)
    path.unlink()
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_schedule(session, text=amendment_text(), source=f"demo:{AMENDMENT.name}",
                      actor=SYSTEM)
    engine.dispose()
    log(f"{backend.name}: applying the amendment to {subjects} subjects")
    applied = apply_in_child(url)
    backend.drop(url)
    if applied["moved"] != imported["subjects"]:
        raise RuntimeError(f"the amendment moved {applied['moved']} of"
                           f" {imported['subjects']} subjects")
    import_rate = imported["subjects"] / imported["seconds"]
    apply_rate = applied["moved"] / applied["seconds"]
    return {
        "subjects": int(imported["subjects"]),
        "import": {**imported, "subjects_per_s": import_rate},
        "apply": {**applied, "subjects_per_s": apply_rate},
        "ratio": apply_rate / import_rate,
    }
