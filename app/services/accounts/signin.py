"""Checking a username and password, with failed attempts counted and slowed down.

Failures are counted under two keys: the account as typed (``user:<name>``, whether or
not such a user exists) and the client address (``address:<ip>``). While either key's
wait is running (:func:`app.passwords.refused_until`), an attempt is refused without
looking at the password (TooManyAttempts, with the seconds to wait).

Nothing tells an unknown username from a wrong password, a disabled account or a
locked one: the same NotAuthenticated, after the same Argon2 work (an unknown name is
checked against a hash of nothing), and the same counting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import NotAuthenticated, TooManyAttempts
from app.models import SignInThrottle, User
from app.passwords import (
    ACCOUNT_POLICY,
    ADDRESS_POLICY,
    ThrottlePolicy,
    failures_now,
    normalize_username,
    refused_until,
)
from app.services.accounts.users import hash_password, password_matches, user_actor

NOT_VALID = "the username or password is not valid"


@dataclass(frozen=True, slots=True)
class PasswordSignIn:
    user_id: int
    actor: Actor
    must_change_password: bool


@cache
def _nobody_hash() -> str:
    """What an unknown username is checked against, so that it costs the same time."""
    return hash_password("no such user: nothing matches this")


def _keys(username: str, address: str | None) -> list[tuple[str, ThrottlePolicy]]:
    keys = [(f"user:{username[:60]}", ACCOUNT_POLICY)]
    if address:
        keys.append((f"address:{address[:100]}", ADDRESS_POLICY))
    return keys


def _throttles(session: Session, keys: list[str]) -> dict[str, SignInThrottle]:
    rows = session.scalars(select(SignInThrottle).where(SignInThrottle.key.in_(keys)))
    return {row.key: row for row in rows}


def _count_failure(session: Session, key: str, policy: ThrottlePolicy, now: datetime) -> None:
    row = session.scalars(select(SignInThrottle).where(SignInThrottle.key == key)).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(SignInThrottle(key=key, failures=1, last_failure_at=now))
            return
        except IntegrityError:  # another attempt counted the first failure meanwhile
            row = session.scalars(select(SignInThrottle).where(SignInThrottle.key == key)).one()
    row.failures = failures_now(policy, row.failures, row.last_failure_at, now) + 1
    row.last_failure_at = now


def check_password_sign_in(session: Session, *, username: str, password: str,
                           address: str | None, now: datetime) -> PasswordSignIn:
    """The user a username and password sign in, or NotAuthenticated (never saying
    why), or TooManyAttempts while a wait or lock is running.

    A failure is counted in the caller's transaction, which must be committed for it to
    count: the edge answers the refusal, it does not roll back.
    """
    name = normalize_username(username)
    keys = _keys(name, address)
    stored = _throttles(session, [key for key, _ in keys])
    waits = [until for key, policy in keys if key in stored
             for until in [refused_until(policy, stored[key].failures,
                                         stored[key].last_failure_at, now)]
             if until is not None]
    if waits:
        seconds = math.ceil((max(waits) - now).total_seconds())
        raise TooManyAttempts(f"too many failed sign-ins: try again in {seconds} seconds",
                              retry_after=seconds)
    user = session.scalars(select(User).where(User.username == name)).first()
    matches = password_matches(user.password_hash if user else _nobody_hash(), password)
    if user is None or not matches or user.disabled_at is not None:
        for key, policy in keys:
            _count_failure(session, key, policy, now)
        session.flush()
        raise NotAuthenticated(NOT_VALID)
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == keys[0][0])
                    .execution_options(synchronize_session=False))
    return PasswordSignIn(user_id=user.id, actor=user_actor(user),
                          must_change_password=user.must_change_password)
