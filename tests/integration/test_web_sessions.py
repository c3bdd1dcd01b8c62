"""The sessions service on a real database: what counts, what is purged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import errors
from app.models import ApiToken, AuditRecord, WebSessionRow
from app.services.web_sessions import (
    end_session,
    hash_session_id,
    purge_sessions,
    resume_session,
    start_session,
)
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
