"""Dependencies shared by the routes: settings, the one-transaction session, the actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from app.db import begin_writing
from app.errors import NotAuthenticated
from app.services.access import Actor
from app.services.tokens import authenticate
from app.settings import Settings

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One request, one transaction: commit on success, roll back on any error."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        if request.method not in READ_METHODS:
            begin_writing(session)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fu_...`")


def get_actor(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("send Authorization: Bearer <token>")
    actor = authenticate(session, credentials.credentials)
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
