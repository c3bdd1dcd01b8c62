"""Routes: API tokens (admin only). The secret appears once, in the creation response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import ActorDep
from app.api.idempotency import no_replay
from app.api.schemas.access import NewTokenOut, TokenIn, TokenOut
from app.api.schemas.common import BODY_PROBLEMS, problem_responses
from app.deps import NowDep, SessionDep
from app.services import tokens as token_service
from app.services.tokens import NAME_PATTERN, TokenView

router = APIRouter(tags=["tokens"])

TokenNamePath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=100)]


def token_out(view: TokenView, now: datetime) -> TokenOut:
    return TokenOut(
        name=view.name, role=view.role, sites=list(view.sites), studies=list(view.studies),
        created_at=view.created_at, expires_at=view.expires_at, revoked_at=view.revoked_at,
        active=view.active_at(now),
    )


@router.get(
    "/tokens", response_model=list[TokenOut], summary="List tokens (never their secrets)",
    responses=problem_responses("forbidden"),
)
def list_tokens(session: SessionDep, actor: ActorDep, now: NowDep) -> list[TokenOut]:
    return [token_out(v, now) for v in token_service.list_tokens(session, actor=actor)]


@router.post(
    "/tokens",
    response_model=NewTokenOut,
    status_code=201,
    summary="Create a token; the response is the only place its secret ever appears",
    description=(
        "Coordinator tokens need at least one site; edc and monitor tokens at least one "
        "study; every code must exist. This route refuses an `Idempotency-Key`: replaying "
        "would mean keeping a copy of the secret. Retry by name instead: a second create "
        "with the same name answers 409."
    ),
    responses=problem_responses(*BODY_PROBLEMS, "forbidden", "already-exists", "invalid-request"),
)
@no_replay
def create_token(body: TokenIn, session: SessionDep, actor: ActorDep, now: NowDep) -> NewTokenOut:
    created = token_service.create_token(
        session, actor=actor, role=body.role, sites=body.sites, studies=body.studies,
        name=body.name, expires_at=body.expires_at, now=now,
    )
    return NewTokenOut(token=token_out(created.token, now), secret=created.secret)


@router.get(
    "/tokens/{name}", response_model=TokenOut, summary="One token",
    responses=problem_responses("forbidden", "not-found"),
)
def get_token(name: TokenNamePath, session: SessionDep, actor: ActorDep, now: NowDep) -> TokenOut:
    return token_out(token_service.get_token(session, actor=actor, name=name), now)


@router.delete(
    "/tokens/{name}",
    response_model=TokenOut,
    summary="Revoke a token (it stays listed, inactive); revoking again changes nothing",
    responses=problem_responses("forbidden", "not-found"),
)
def revoke_token(name: TokenNamePath, session: SessionDep, actor: ActorDep,
                 now: NowDep) -> TokenOut:
    return token_out(token_service.revoke_token(session, actor=actor, name=name, now=now), now)
