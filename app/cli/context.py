"""What every command shares: settings and a session factory, built on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_sessionmaker, transaction
from app.services.access import SYSTEM, Actor
from app.settings import Settings


@dataclass
class CliContext:
    _settings: Settings | None = None
    _factory: sessionmaker[Session] | None = field(default=None, repr=False)
    # Commands act as the local operator; the audit trail names them so.
    actor: Actor = SYSTEM

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    @property
    def factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            s = self.settings
            engine = make_engine(
                s.database_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow
            )
            self._factory = make_sessionmaker(engine)
        return self._factory

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        with transaction(self.factory, write=write) as session:
            yield session


pass_cli = click.make_pass_decorator(CliContext)
