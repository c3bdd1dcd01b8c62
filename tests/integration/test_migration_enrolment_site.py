"""The enrolment-site migration backfills every subject already enrolled (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import enrol_sle, load_seed_studies

BEFORE = "c4e1d7a9b2f3"  # the revision before subjects kept their enrolment site


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


def test_subjects_enrolled_before_keep_their_site_as_enrolment_site(url: str) -> None:
    migrate.upgrade(url=url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            load_seed_studies(session)
            enrol_sle(session, "S-001", site="YC3H")
            enrol_sle(session, "S-002", site="WTCH")
            session.commit()
        migrate.downgrade(url=url, revision=BEFORE)
        migrate.upgrade(url=url)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT subject_id, site_id, enrolled_site_id FROM subjects ORDER BY subject_id"
            )).all()
    finally:
        engine.dispose()
    assert [r[0] for r in rows] == ["S-001", "S-002"]
    assert all(r[1] == r[2] for r in rows) and rows[0][1] != rows[1][1]
