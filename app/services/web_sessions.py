"""Browser sessions, kept in the database: started by signing in, ended by signing out.

The browser's cookie carries a random session id and nothing else of the session; the
table keeps only the id's SHA-256, so whoever reads the database cannot make a cookie.

A session counts while all of these hold at ``now``:

- it was not ended (signing out ends it: a copy of the cookie stops working at once);
- it is younger than its absolute limit (``expires_at``, set when it starts);
- it was used within the idle timeout (``last_seen_at``, moved on at most once a
  minute, so reading pages does not write on every request);
- the API token it signed in with is still active: revoking the token, or its expiry,
  ends every session of the token at once;
- or, signed in with a username and password or by single sign-on, the user is not
  disabled (disabling a user also ends their sessions:
  :func:`app.services.accounts.users.disable_user`).

A user who must change their password (a new or reset account) has a session that says
so (``must_change_password``): the pages let it do nothing else. A session started by
single sign-on (``single_sign_on``) used no password and is not held to that.

Each session has its own CSRF seed, which the forms' tokens carry (synchronizer-token
pattern). Rows that no longer count are deleted whenever someone signs in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.access import Actor, Role, scoped_actor
from app.errors import NotAuthenticated
from app.models import ApiToken, User, WebSessionRow
from app.services.accounts.signin import check_password_sign_in
from app.services.audit import record_audit
from app.services.tokens import (
    GRANT_COLUMNS,
    authenticate,
    hash_token,
    is_active,
    token_actor,
)

# last_seen_at is written when it is at least this old: the idle timeout is exact to
# within this, and a page costs no write most of the time.
TOUCH_EVERY = timedelta(minutes=1)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class StartedSession:
    session_id: str  # for the browser's cookie only: never stored, never logged
    csrf_seed: str
    actor: Actor
    expires_at: datetime
    must_change_password: bool = False


@dataclass(frozen=True, slots=True)
class LiveSession:
    actor: Actor
    csrf_seed: str
    last_seen_at: datetime
    must_change_password: bool = False

    def touch_due(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_EVERY


def start_session(
    session: Session, *, token: str, now: datetime, lifetime: timedelta, idle: timedelta
) -> StartedSession:
    """Sign in with a pasted API token, checked exactly as the API checks it (a token that
    is unknown, revoked or expired is NotAuthenticated, without saying which).

    Also deletes the sessions that no longer count (see :func:`purge_sessions`).
    """
    actor = authenticate(session, token, now=now)
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))
    if token_id is None:  # authenticate found it in this transaction
        raise NotAuthenticated("invalid or expired token")
    return _start(session, actor=actor, token_id=token_id, user_id=None, now=now,
                  lifetime=lifetime, idle=idle)


def start_password_session(
    session: Session, *, username: str, password: str, address: str | None, now: datetime,
    lifetime: timedelta, idle: timedelta,
) -> StartedSession:
    """Sign in with a username and password (see :mod:`app.services.accounts.signin`:
    NotAuthenticated never says why; a failure is counted in this transaction)."""
    checked = check_password_sign_in(session, username=username, password=password,
                                     address=address, now=now)
    return _start(session, actor=checked.actor, token_id=None, user_id=checked.user_id,
                  now=now, lifetime=lifetime, idle=idle,
                  must_change_password=checked.must_change_password)


def start_sso_session(session: Session, *, user_id: int, actor: Actor, now: datetime,
                      lifetime: timedelta, idle: timedelta,
                      id_token: str | None = None) -> StartedSession:
    """Start a session for the user a single sign-on matched
    (:func:`app.services.accounts.single_sign_on.match_account`). No password was used,
    so a pending password change does not hold it. ``id_token``, the provider's, is kept
    until the session ends, for signing out at the provider (:func:`sso_id_token`)."""
    return _start(session, actor=actor, token_id=None, user_id=user_id, now=now,
                  lifetime=lifetime, idle=idle, single_sign_on=True, id_token=id_token)


def _start(session: Session, *, actor: Actor, token_id: int | None, user_id: int | None,
           now: datetime, lifetime: timedelta, idle: timedelta,
           must_change_password: bool = False, single_sign_on: bool = False,
           id_token: str | None = None) -> StartedSession:
    purge_sessions(session, now=now, idle=idle)
    started = StartedSession(
        session_id=new_session_id(), csrf_seed=new_csrf_seed(), actor=actor,
        expires_at=now + lifetime, must_change_password=must_change_password,
    )
    session.add(WebSessionRow(
        session_hash=hash_session_id(started.session_id), token_id=token_id, user_id=user_id,
        csrf_seed=started.csrf_seed, created_at=now, last_seen_at=now,
        expires_at=started.expires_at, single_sign_on=single_sign_on, id_token=id_token,
    ))
    session.flush()
    record_audit(session, actor=actor, action="web_session.started", entity="web_session",
                 after={"expires_at": started.expires_at.isoformat(),
                        "with": ("token" if token_id is not None
                                 else "sso" if single_sign_on else "password")})
    return started


# The session's columns, its token's and the user's: the user a password session signed
# in as, or the user of a personal token (token_actor reads the latter).
_SESSION_BY_HASH = (
    select(
        WebSessionRow.session_hash, WebSessionRow.csrf_seed, WebSessionRow.last_seen_at,
        WebSessionRow.expires_at.label("session_expires_at"), WebSessionRow.ended_at,
        WebSessionRow.token_id, WebSessionRow.user_id.label("session_user_id"),
        WebSessionRow.single_sign_on,
        User.must_change_password, *GRANT_COLUMNS,
    )
    .outerjoin(ApiToken, ApiToken.id == WebSessionRow.token_id)
    .outerjoin(User, User.id == func.coalesce(WebSessionRow.user_id, ApiToken.user_id))
    .where(WebSessionRow.session_hash == bindparam("digest"))
)


def resume_session(
    session: Session, *, session_id: str, now: datetime, idle: timedelta
) -> LiveSession:
    """The session of a cookie's id, if it still counts at ``now`` (see the module's
    rules), or NotAuthenticated. Reads only: :func:`touch_session` records the use."""
    digest = hash_session_id(session_id)
    # Every page runs this: a statement built once, read as a plain row.
    row = session.connection().execute(_SESSION_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.session_hash, digest):
        raise NotAuthenticated("no such session")
    ended = row.ended_at is not None or row.session_expires_at <= now
    idle_too_long = row.last_seen_at + idle <= now
    if ended or idle_too_long:
        raise NotAuthenticated("the session ended")
    if row.token_id is not None:
        if not is_active(row.revoked_at, row.expires_at, now):
            raise NotAuthenticated("the session ended")
        return LiveSession(actor=token_actor(row), csrf_seed=row.csrf_seed,
                           last_seen_at=row.last_seen_at)
    if row.username is None or row.user_role is None or row.disabled_at is not None:
        raise NotAuthenticated("the session ended")
    actor = scoped_actor(row.username, Role(row.user_role), row.user_sites, row.user_studies,
                         user=row.username, display_name=row.display_name)
    return LiveSession(actor=actor, csrf_seed=row.csrf_seed, last_seen_at=row.last_seen_at,
                       must_change_password=bool(row.must_change_password)
                       and not row.single_sign_on)


def touch_session(session: Session, *, session_id: str, now: datetime) -> None:
    """Record that the session was used at ``now`` (unless that was done less than
    :data:`TOUCH_EVERY` ago, by this request or another)."""
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.session_hash == hash_session_id(session_id),
               WebSessionRow.last_seen_at <= now - TOUCH_EVERY)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def sso_id_token(session: Session, *, session_id: str) -> str | None:
    """The provider's ID token of a live single sign-on session, or None (another kind of
    session, one that ended, or one started before the token was kept)."""
    return session.scalar(select(WebSessionRow.id_token).where(
        WebSessionRow.session_hash == hash_session_id(session_id),
        WebSessionRow.ended_at.is_(None)))


def end_session(session: Session, *, session_id: str, actor: Actor, now: datetime) -> bool:
    """Sign out: the session stops counting at ``now``, for every copy of its cookie, and
    forgets its ID token. False when it had already ended."""
    result = session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.session_hash == hash_session_id(session_id),
               WebSessionRow.ended_at.is_(None))
        .values(ended_at=now, id_token=None)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    record_audit(session, actor=actor, action="web_session.ended", entity="web_session",
                 after={"ended_at": now.isoformat()})
    return True


def purge_sessions(session: Session, *, now: datetime, idle: timedelta) -> int:
    """Delete the sessions that no longer count at ``now``: ended, past their limit, idle
    for ``idle``, of a token that was revoked or expired, or of a disabled user.
    Returns how many."""
    inactive_tokens = select(ApiToken.id).where(
        or_(ApiToken.revoked_at.is_not(None), ApiToken.expires_at <= now)
    )
    disabled_users = select(User.id).where(User.disabled_at.is_not(None))
    result = session.execute(
        delete(WebSessionRow)
        .where(or_(WebSessionRow.ended_at.is_not(None), WebSessionRow.expires_at <= now,
                   WebSessionRow.last_seen_at <= now - idle,
                   WebSessionRow.token_id.in_(inactive_tokens),
                   WebSessionRow.user_id.in_(disabled_users)))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
