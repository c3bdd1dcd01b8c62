"""Liveness and readiness probes (public)."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from app.api.schemas.common import Problem
from app.migrate import head_revision
from app.problems import PROBLEM_JSON, problem

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


NOT_READY = {
    503: {
        "model": Problem,
        "description": "Not ready: the database is unreachable or not migrated to head",
        "content": {
            PROBLEM_JSON: {
                "example": {
                    "type": "/problems/not-ready",
                    "title": "Not ready",
                    "status": 503,
                    "detail": "database at None, code expects 4f1e2d3c5b6a",
                }
            }
        },
    }
}


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database is reachable and migrated to the latest revision",
    responses=NOT_READY,  # type: ignore[arg-type]
)
def readyz(request: Request) -> Health | JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # any database failure means "not ready"
        return problem(503, "not-ready", "Not ready", f"database unreachable: {type(exc).__name__}")
    head = head_revision()
    if current != head:
        return problem(503, "not-ready", "Not ready", f"database at {current}, code expects {head}")
    return Health(status="ok")
