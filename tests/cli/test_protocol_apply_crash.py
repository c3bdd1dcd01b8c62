"""`followup protocol apply --all` killed halfway (SIGKILL, a real process): every subject
is wholly on one version, the old or the new, with the visits and the audit record of that
version and no trace of the other; running the command again moves the rest, and a third
run changes nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app import migrate
from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction
from app.models import AuditRecord, ProtocolVersion, Study, Subject
from app.schedule.expand import expand
from app.services.bulk.csv_import import import_csv
from app.services.studies import load_schedule, plan_of
from app.services.subjects.visit_rows import load_state
from tests.conftest import BACKENDS, ROOT, drop_database, fresh_database_url
from tests.helpers_amendments import V2
from tests.helpers_subjects import SLE, seed_text

pytestmark = pytest.mark.slow

# Enough subjects that the run is still going when the first one has moved.
SUBJECTS = 300
REASON = "Amendment 1, approved by the ethics committee"


def roomy(text: str) -> str:
    """The protocol with room for every subject of the test."""
    return text.replace("target_enrolment: 48", f"target_enrolment: {SUBJECTS}")


V1 = roomy(seed_text("ucart-sle.yaml"))
# The seed's amendment 1 without its re-consent, so that every subject can move.
V2_NO_RECONSENT = roomy(re.sub(r"reconsent: true\n\s+consent_version: \"2.0\"\n",
                               "reconsent: false\n", V2))
APPLY = [sys.executable, "-m", "app", "protocol", "apply", SLE, "--to", "2.0",
         "--reason", REASON, "--all"]


@dataclass(frozen=True)
class Versions:
    old: int
    new: int


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SLE 1.1 with SUBJECTS subjects enrolled by the bulk import, and 2.0 loaded."""
    assert V1 != seed_text("ucart-sle.yaml") and "reconsent: false" in V2_NO_RECONSENT
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    today = datetime.now(UTC).date()
    lines = ["subject_id,site,consent_date,date_of_birth,infusion,infusion_planned\n"]
    for i in range(SUBJECTS):
        consent = today - timedelta(days=30 + 2 * i)
        infusion = consent + timedelta(days=14)
        lines.append(f"K{i:04d},{('YC3H', 'WTCH')[i % 2]},{consent},1980-05-01,{infusion},"
                     "false\n")
    with transaction(make_sessionmaker(engine)) as session:
        load_schedule(session, text=V1, source="ucart-sle.yaml", actor=SYSTEM)
        load_schedule(session, text=V2_NO_RECONSENT, source="ucart-sle-2.0.yaml",
                      actor=SYSTEM)
        done = import_csv(session, study_code=SLE, actor=SYSTEM, lines=lines,
                          now=datetime.now(UTC))
        assert done.imported == SUBJECTS
    engine.dispose()
    yield url
    drop_database(url)


def versions(session: Session) -> Versions:
    rows = dict(session.execute(
        select(ProtocolVersion.version, ProtocolVersion.id).join(Study).where(
            Study.code == SLE)).tuples().all())
    return Versions(rows["1.1"], rows["2.0"])


def on_new_version(engine: Engine, new: int) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count(Subject.id)).where(
            Subject.protocol_version_id == new)) or 0


def run_apply(url: str) -> str:
    done = subprocess.run(APPLY, cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def kill_halfway(url: str, engine: Engine, new: int) -> int:
    """Start the run, SIGKILL it once a first subject has moved; how many had then."""
    process = subprocess.Popen(APPLY, cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while on_new_version(engine, new) == 0:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no subject moved in 120 s"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    return on_new_version(engine, new)


def check_each_subject_on_one_version(engine: Engine) -> dict[str, str]:
    """Each subject's rows agree with the version it follows, and only moved subjects
    have their one audit record; returns each subject's version."""
    found: dict[str, str] = {}
    with Session(engine) as session:
        ids = versions(session)
        amended = dict(session.execute(
            select(AuditRecord.subject_id, func.count(AuditRecord.id))
            .where(AuditRecord.action == "subject.amended")
            .group_by(AuditRecord.subject_id)).tuples().all())
        rows = session.scalars(select(ProtocolVersion).where(
            ProtocolVersion.id.in_([ids.old, ids.new]))).all()
        plans = {row.id: plan_of(row) for row in rows}
        for subject in session.scalars(select(Subject).order_by(Subject.id)):
            state = load_state(session, subject.id)
            visits = {v.code: v for v in state.visit_rows if not v.unscheduled}
            moved = subject.protocol_version_id == ids.new
            plan = plans[subject.protocol_version_id]
            expected = {v.code: v for v in expand(plan, state.anchors, state.events,
                                                  state.records).visits}
            infusion = state.anchors["infusion"].date
            where = f"{subject.subject_id} on {'2.0' if moved else '1.1'}"
            for code, want in expected.items():
                row = visits.get(code)
                assert row is not None, f"{where}: no row for {code}"
                assert ((row.target_date, row.window_start, row.window_end, row.state)
                        == (want.target_date, want.window_start, want.window_end,
                            want.state.value)), f"{where}: {code}"
            leftover = {c: (v.state, v.reason) for c, v in visits.items() if c not in expected}
            # What tells the two versions apart: D7 added, M3 at day 84, M9 removed.
            assert ("D7" in visits) is moved, where
            assert visits["M3"].target_date == (
                infusion + timedelta(days=84) if moved else infusion + relativedelta(months=3)
            ), where
            if moved:
                assert leftover == {"M9": ("cancelled", "removed by amendment 1")}, where
                assert amended.get(subject.subject_id) == 1, where
            else:
                assert leftover == {} and visits["M9"].state == "planned", where
                assert subject.subject_id not in amended, where
            found[subject.subject_id] = "2.0" if moved else "1.1"
    return found


def test_a_run_killed_between_subjects_leaves_each_wholly_on_one_version(
    database: str,
) -> None:
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            ids = versions(session)
        moved = kill_halfway(database, engine, ids.new)
        assert 0 < moved < SUBJECTS, moved
        before = check_each_subject_on_one_version(engine)
        assert sum(v == "2.0" for v in before.values()) == moved
        # Subjects move in enrolment order: those moved are the first ones.
        assert list(before.values()) == ["2.0"] * moved + ["1.1"] * (SUBJECTS - moved)

        assert run_apply(database) == (f"{SLE} 2.0: {SUBJECTS - moved} subject(s) moved,"
                                       f" {moved} already on it, 0 blocked")
        after = check_each_subject_on_one_version(engine)
        assert set(after.values()) == {"2.0"} and len(after) == SUBJECTS

        assert run_apply(database) == (f"{SLE} 2.0: 0 subject(s) moved, {SUBJECTS} already"
                                       " on it, 0 blocked")
        with engine.connect() as conn:
            assert conn.scalar(select(func.count(AuditRecord.id)).where(
                AuditRecord.action == "subject.amended")) == SUBJECTS
    finally:
        engine.dispose()
