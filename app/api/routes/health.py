"""Liveness and readiness probes (public)."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from app.migrate import head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database is reachable and migrated to the latest revision",
    responses={503: {"model": Health, "description": "Not ready"}},
)
def readyz(request: Request) -> Health | JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # any database failure means "not ready"
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, 503)
    head = head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database at {current}, code expects {head}"}, 503
        )
    return Health(status="ok")
