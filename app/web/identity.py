"""Who is signed in: the server-side session a browser's cookie names.

The rules are :mod:`app.services.web_sessions`'; this module applies the settings (idle
timeout, absolute limit) and keeps recording a session's use from failing a page.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.access import Actor
from app.services.web_sessions import (
    LiveSession,
    StartedSession,
    end_session,
    resume_session,
    sso_id_token,
    start_password_session,
    start_session,
    start_sso_session,
    touch_session,
)
from app.settings import Settings

log = logging.getLogger(__name__)


def idle_timeout(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.web_session_idle_minutes)


def lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.web_session_max_hours)


def sign_in(session: Session, raw: str, *, now: datetime, settings: Settings) -> StartedSession:
    """Check a pasted API token exactly as the API does and start a session for it."""
    return start_session(session, token=raw, now=now, lifetime=lifetime(settings),
                         idle=idle_timeout(settings))


def sign_in_with_password(session: Session, *, username: str, password: str,
                          address: str | None, now: datetime,
                          settings: Settings) -> StartedSession:
    """Check a username and password (failures counted, see
    :mod:`app.services.accounts.signin`) and start a session for the user."""
    return start_password_session(session, username=username, password=password,
                                  address=address, now=now, lifetime=lifetime(settings),
                                  idle=idle_timeout(settings))


def sign_in_with_sso(session: Session, *, user_id: int, actor: Actor, now: datetime,
                     settings: Settings, id_token: str | None = None) -> StartedSession:
    """Start a session for the account a single sign-on matched (keeping the provider's
    ID token, for signing out there)."""
    return start_sso_session(session, user_id=user_id, actor=actor, now=now,
                             lifetime=lifetime(settings), idle=idle_timeout(settings),
                             id_token=id_token)


def sign_out(session: Session, session_id: str, *, actor: Actor, now: datetime) -> str | None:
    """End the session; the provider's ID token when it was a single sign-on's."""
    id_token = sso_id_token(session, session_id=session_id)
    end_session(session, session_id=session_id, actor=actor, now=now)
    return id_token


def resume(session: Session, session_id: str, *, now: datetime, settings: Settings) -> LiveSession:
    """The live session of a cookie's id, or NotAuthenticated; its use is recorded (at
    most once a minute)."""
    live = resume_session(session, session_id=session_id, now=now, idle=idle_timeout(settings))
    if live.touch_due(now):
        record_use(session, session_id, now=now)
    return live


def record_use(session: Session, session_id: str, *, now: datetime) -> None:
    """Record the use, or leave it to a later page when SQLite refuses.

    A SQLite transaction that has only read cannot start writing once another has
    written since its first read ("database is locked", at once, without waiting); the
    page only read, so it goes on, and the next page records the use.
    """
    try:
        with session.begin_nested():
            touch_session(session, session_id=session_id, now=now)
    except OperationalError:
        if session.get_bind().dialect.name != "sqlite":
            raise
        log.info("web session use not recorded: the database is busy")
