"""The database unavailable or busy: 503 with Retry-After, never a 500 or a long wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db import make_engine
from app.settings import Settings


def test_the_lock_timeout_is_the_sqlite_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", lock_timeout=2.5)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    engine.dispose()


def test_the_lock_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().db_lock_timeout_seconds == 5.0
    monkeypatch.setenv("DB_LOCK_TIMEOUT_SECONDS", "0.5")
    assert Settings().db_lock_timeout_seconds == 0.5
    monkeypatch.setenv("DB_LOCK_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="db_lock_timeout_seconds"):
        Settings()
