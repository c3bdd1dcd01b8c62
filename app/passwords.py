"""Personal accounts' pure rules: what a password must be, and how failed sign-ins slow
down and lock further attempts.

Plain functions of their arguments (no database, no clock, no hashing): the accounts
service (:mod:`app.services.accounts`) stores the counts and hashes the passwords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.errors import InvalidRequest

MIN_LENGTH = 12
MAX_LENGTH = 256  # far beyond a passphrase; bounds the work of hashing one

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{1,59}$"
_USERNAME = re.compile(USERNAME_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_username(text: str) -> str:
    """Usernames are compared without case or surrounding spaces."""
    return text.strip().lower()


def username_problem(username: str) -> str | None:
    if not _USERNAME.match(username):
        return ("a username is 2-60 lowercase letters, digits, _ . - and starts with a"
                " letter or digit")
    return None


def password_problem(password: str, *, username: str) -> str | None:
    """Why ``password`` may not be the password of ``username``, or None.

    At least :data:`MIN_LENGTH` characters (spaces count: passphrases are welcome), at
    most :data:`MAX_LENGTH`, no control characters, and neither the username nor the
    username reversed anywhere in it, whatever the case.
    """
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if _CONTROL.search(password):
        return "a password may not hold control characters"
    folded, name = password.casefold(), username.casefold()
    if name and (name in folded or name[::-1] in folded):
        return "a password may not contain the username"
    return None


def check_password(password: str, *, username: str) -> None:
    problem = password_problem(password, username=username)
    if problem is not None:
        raise InvalidRequest(problem, field="password")


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How failed sign-ins counted under one key (an account, a client address) slow
    down the next attempt.

    The first ``free_failures`` cost nothing; each further one doubles the wait before
    the next attempt (1 s, 2 s, 4 s ... up to ``max_delay``); at ``lock_after`` failures
    the key is locked for ``lock_for``. Failures are forgotten ``forget_after`` the
    latest one, and by a successful sign-in of the account.
    """

    free_failures: int
    lock_after: int
    max_delay: timedelta
    lock_for: timedelta
    forget_after: timedelta


ACCOUNT_POLICY = ThrottlePolicy(
    free_failures=3, lock_after=10, max_delay=timedelta(seconds=30),
    lock_for=timedelta(minutes=15), forget_after=timedelta(hours=1),
)
# One address may be a whole hospital behind one gateway: more room, the same lock.
ADDRESS_POLICY = ThrottlePolicy(
    free_failures=10, lock_after=50, max_delay=timedelta(seconds=30),
    lock_for=timedelta(minutes=15), forget_after=timedelta(hours=1),
)


def wait_after(policy: ThrottlePolicy, failures: int) -> timedelta:
    """How long after the latest of ``failures`` failures the next attempt must wait."""
    if failures >= policy.lock_after:
        return policy.lock_for
    extra = failures - policy.free_failures
    if extra <= 0:
        return timedelta(0)
    return min(policy.max_delay, timedelta(seconds=2 ** (extra - 1)))


def failures_now(policy: ThrottlePolicy, failures: int, last_failure_at: datetime | None,
                 now: datetime) -> int:
    """The failures that still count at ``now`` (all of them, or none once forgotten)."""
    if last_failure_at is None or now - last_failure_at >= policy.forget_after:
        return 0
    return failures


def refused_until(policy: ThrottlePolicy, failures: int, last_failure_at: datetime | None,
                  now: datetime) -> datetime | None:
    """Until when an attempt at ``now`` is refused unchecked, or None when it may be made."""
    counted = failures_now(policy, failures, last_failure_at, now)
    if counted == 0 or last_failure_at is None:
        return None
    until = last_failure_at + wait_after(policy, counted)
    return until if until > now else None
