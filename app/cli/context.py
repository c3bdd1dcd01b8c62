"""What every command shares: settings and a session factory, built on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from app.access import SYSTEM, Actor
from app.settings import Settings, settings_problems

if TYPE_CHECKING:  # the database layer is imported when a command first needs it
    from sqlalchemy.orm import Session, sessionmaker

# Commands are batch work (an import, the digest): they wait this long for another
# writer's lock, or DB_LOCK_TIMEOUT_SECONDS if that is longer. A request that meets
# their lock gives up after DB_LOCK_TIMEOUT_SECONDS.
BATCH_LOCK_TIMEOUT_SECONDS = 300.0


@dataclass
class CliContext:
    debug: bool = False  # `followup --debug`: tracebacks instead of one-line errors
    _settings: Settings | None = None
    _factory: sessionmaker[Session] | None = field(default=None, repr=False)

    @property
    def database_url(self) -> str | None:
        """The database URL, once the settings are read (None before, or if they are bad)."""
        return self._settings.database_url if self._settings is not None else None

    @property
    def actor(self) -> Actor:
        """Commands act as the local operator; the audit trail names them so."""
        return SYSTEM

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings()
            except ValidationError as exc:
                raise click.ClickException(f"configuration: {settings_problems(exc)}") from None
        return self._settings

    @property
    def factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            from app.db import make_engine, make_sessionmaker

            s = self.settings
            engine = make_engine(
                s.database_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow,
                lock_timeout=max(s.db_lock_timeout_seconds, BATCH_LOCK_TIMEOUT_SECONDS),
                connect_timeout=s.db_connect_timeout_seconds,
            )
            self._factory = make_sessionmaker(engine)
        return self._factory

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        from app.db import transaction

        with transaction(self.factory, write=write) as session:
            yield session


pass_cli = click.make_pass_decorator(CliContext)
