"""The sessions service on a real database: what counts, what is purged, and recording a
page's use while another request writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import errors, migrate
from app.db import make_engine, make_sessionmaker, transaction
from app.models import ApiToken, AuditRecord, WebSessionRow
from app.services.web_sessions import (
    end_session,
    hash_session_id,
    purge_sessions,
    resume_session,
    start_session,
)
from app.web.identity import record_use
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import NOW, make_token

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)


def start(session: Session, token: str) -> str:
    return start_session(session, token=token, now=NOW, lifetime=LIFETIME, idle=IDLE).session_id


def test_a_session_counts_until_it_ends(session: Session) -> None:
    token = make_token(session, "admin", name="web-admin")
    session_id = start(session, token)
    live = resume_session(session, session_id=session_id, now=NOW, idle=IDLE)
    assert live.actor.name == "web-admin" and not live.touch_due(NOW)
    actor = live.actor
    assert end_session(session, session_id=session_id, actor=actor, now=NOW)
    assert not end_session(session, session_id=session_id, actor=actor, now=NOW)  # once
    with pytest.raises(errors.NotAuthenticated):
        resume_session(session, session_id=session_id, now=NOW, idle=IDLE)
    actions = session.scalars(select(AuditRecord.action).where(AuditRecord.actor == "web-admin")
                              .order_by(AuditRecord.id))
    assert list(actions) == ["web_session.started", "web_session.ended"]
    with pytest.raises(errors.NotAuthenticated):  # an id nobody handed out
        resume_session(session, session_id="made-up", now=NOW, idle=IDLE)


def test_signing_in_purges_the_sessions_that_no_longer_count(session: Session) -> None:
    admin, other = make_token(session, "admin", name="a1"), make_token(session, "admin", name="a2")
    ended, too_old, idle, revoked, live = (start(session, token)
                                           for token in (admin, admin, admin, other, admin))

    def change(session_id: str, **values: object) -> None:
        session.execute(update(WebSessionRow)
                        .where(WebSessionRow.session_hash == hash_session_id(session_id))
                        .values(**values))

    later = NOW + timedelta(hours=1)
    change(ended, ended_at=NOW)
    change(too_old, expires_at=later, last_seen_at=later)
    change(idle, last_seen_at=later - IDLE)
    session.execute(update(ApiToken).where(ApiToken.name == "a2").values(revoked_at=later))
    change(live, last_seen_at=later - IDLE + timedelta(minutes=1))
    assert purge_sessions(session, now=later, idle=IDLE) == 4
    assert len(session.scalars(select(WebSessionRow)).all()) == 1
    assert resume_session(session, session_id=live, now=later, idle=IDLE).actor.name == "a1"


@pytest.fixture(params=BACKENDS)
def committed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


def test_a_page_reads_on_when_its_use_cannot_be_recorded(committed_url: str) -> None:
    """On SQLite a transaction that has only read cannot write once another request has
    written since: the page goes on, and a later page records the use. PostgreSQL
    records it."""
    engine = make_engine(committed_url)
    factory = make_sessionmaker(engine)
    later = NOW + timedelta(minutes=2)
    try:
        with transaction(factory) as session:
            session_id = start(session, make_token(session, "admin", name="web-admin"))
        with factory() as page:  # a GET: its transaction starts with a read
            live = resume_session(page, session_id=session_id, now=later, idle=IDLE)
            assert live.touch_due(later)
            with transaction(factory) as other:  # another request writes meanwhile
                make_token(other, "admin", name="someone-else")
            record_use(page, session_id, now=later)
            assert page.scalar(select(WebSessionRow.token_id)) is not None  # reads on
            page.commit()
        with factory() as check:
            seen = check.scalar(select(WebSessionRow.last_seen_at))
        assert seen == (NOW if engine.dialect.name == "sqlite" else later)
    finally:
        engine.dispose()
