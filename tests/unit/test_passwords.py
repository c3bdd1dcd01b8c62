"""The pure rules of personal accounts: the password policy and the sign-in throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidRequest
from app.passwords import (
    ACCOUNT_POLICY,
    ADDRESS_POLICY,
    MIN_LENGTH,
    check_password,
    failures_now,
    normalize_username,
    password_problem,
    refused_until,
    username_problem,
    wait_after,
)

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_a_password_has_a_minimum_length() -> None:
    assert password_problem("x" * (MIN_LENGTH - 1), username="alice") == (
        f"a password needs at least {MIN_LENGTH} characters")
    assert password_problem("x" * MIN_LENGTH, username="alice") is None
    with pytest.raises(InvalidRequest) as refused:
        check_password("short", username="alice")
    assert refused.value.extra == {"field": "password"}


@pytest.mark.parametrize("password", ["alice-in-wonderland", "My ALICE garden!", "xx ecila xx yy"])
def test_a_password_may_not_contain_the_username(password: str) -> None:
    assert password_problem(password, username="alice") == (
        "a password may not contain the username")


def test_a_long_passphrase_without_the_username_is_accepted() -> None:
    assert password_problem("correct horse battery staple", username="alice") is None
    assert password_problem("tab\there is refused", username="alice") == (
        "a password may not hold control characters")
    assert password_problem("y" * 257, username="alice") == "a password has at most 256 characters"


def test_usernames_are_lowercase_and_compared_without_case() -> None:
    assert normalize_username("  Alice.Smith ") == "alice.smith"
    assert username_problem("alice.smith") is None
    assert username_problem("Alice") is not None
    assert username_problem("a") is not None
    assert username_problem("-alice") is not None


def test_the_first_failures_are_free_then_the_wait_doubles_up_to_its_cap() -> None:
    waits = [wait_after(ACCOUNT_POLICY, n).total_seconds() for n in range(0, 11)]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 900]
    assert wait_after(ADDRESS_POLICY, 16) == timedelta(seconds=30)  # capped
    assert wait_after(ADDRESS_POLICY, 50) == timedelta(minutes=15)  # locked


def test_an_attempt_is_refused_until_the_wait_is_over() -> None:
    assert refused_until(ACCOUNT_POLICY, 3, T0, T0) is None
    assert refused_until(ACCOUNT_POLICY, 5, T0, T0 + timedelta(seconds=1)) == (
        T0 + timedelta(seconds=2))
    assert refused_until(ACCOUNT_POLICY, 5, T0, T0 + timedelta(seconds=2)) is None


def test_ten_failures_lock_the_account_for_fifteen_minutes() -> None:
    assert refused_until(ACCOUNT_POLICY, 10, T0, T0 + timedelta(minutes=14)) == (
        T0 + timedelta(minutes=15))
    assert refused_until(ACCOUNT_POLICY, 10, T0, T0 + timedelta(minutes=15)) is None
    # The failures still count after the lock: one more locks again at once.
    assert failures_now(ACCOUNT_POLICY, 10, T0, T0 + timedelta(minutes=16)) == 10


def test_failures_are_forgotten_an_hour_after_the_latest() -> None:
    assert failures_now(ACCOUNT_POLICY, 10, T0, T0 + timedelta(minutes=59)) == 10
    assert failures_now(ACCOUNT_POLICY, 10, T0, T0 + timedelta(hours=1)) == 0
    assert failures_now(ACCOUNT_POLICY, 4, None, T0) == 0
