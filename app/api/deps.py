"""Dependencies of the API routes: the actor behind the bearer token (the rest is app.deps)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from app.access import Actor
from app.deps import NowDep, SessionDep
from app.errors import NotAuthenticated
from app.services.tokens import authenticate


class BearerSecret(HTTPBearer):
    """The bearer token sent (401 without one); not checked yet: see :func:`actor_of`.

    The security scheme itself answers the secret, so that every authenticated route
    solves one dependency for it rather than two (each is work for every request); the
    OpenAPI document still names the scheme HTTPBearer."""

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None or credentials.scheme.lower() != "bearer" \
                or not credentials.credentials:
            raise NotAuthenticated("send Authorization: Bearer <token>")
        return credentials.credentials


bearer_secret = BearerSecret(auto_error=False, scheme_name="HTTPBearer",
                             description="An API token: `Authorization: Bearer fu_...`")
SecretDep = Annotated[str, Depends(bearer_secret)]


def actor_of(request: Request, session: Session, secret: str, now: datetime) -> Actor:
    """The actor behind the token (401 unless it is valid), noted for the request log."""
    actor = authenticate(session, secret, now=now)
    request.state.actor = actor
    return actor


def get_actor(request: Request, session: SessionDep, now: NowDep, secret: SecretDep) -> Actor:
    return actor_of(request, session, secret, now)


ActorDep = Annotated[Actor, Depends(get_actor)]
