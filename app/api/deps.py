"""Dependencies of the API routes: the actor behind the bearer token (the rest is app.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.access import Actor
from app.deps import NowDep, SessionDep
from app.errors import NotAuthenticated
from app.services.tokens import authenticate

bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fu_...`")


def get_actor(
    request: Request,
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("send Authorization: Bearer <token>")
    actor = authenticate(session, credentials.credentials, now=now)
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
