"""The baseline: a minimal FastAPI app answering the worklist's overdue and
missed-not-documented queries in raw SQL, and recording a visit's completion.

Same database, same query plan (the partial index on open visits), the same fields in
the response, but no token check, no scoping and no service layer: what the framework,
the driver and the database cost on their own. Built by ``create_app`` from BENCH_DATABASE_URL.

The completion (``POST /studies/{study}/subjects/{subject}/visits/{code}/completion``) is
the least a completion must write: the token looked up by its hash, the subject by its
natural keys, then in one writing transaction (``BEGIN IMMEDIATE`` on SQLite) the visit
updated and one audit row inserted; no calendar, no rule.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Header, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import JSON, Date, bindparam, text

from app.db import WRITE_OPTION, UTCDateTime, make_engine

_COLUMNS = (
    "SELECT st.code AS study, s.subject_id, si.code AS site, v.code AS visit, v.name, v.phase,"
    " v.kind, v.target_date, v.window_start, v.window_end, v.actual_date, v.missed_from"
    " FROM visits v JOIN subjects s ON s.id = v.subject_pk JOIN sites si ON si.id = v.site_id"
    " JOIN studies st ON st.id = v.study_id"
)
# Overdue: the window closed, and the visit does not count as missed (derived) yet.
OVERDUE = text(
    _COLUMNS
    + " WHERE v.site_id = :site AND v.state = 'planned' AND v.window_end < :today"
    " AND v.window_start IS NOT NULL AND v.optional = false"
    " AND (v.missed_from IS NULL OR v.missed_from > :today)"
    " ORDER BY v.window_end, v.id LIMIT :limit"
).bindparams(bindparam("today", type_=Date)).columns(
    target_date=Date, window_start=Date, window_end=Date, actual_date=Date, missed_from=Date,
)
MISSED = text(
    _COLUMNS
    + " WHERE v.site_id = :site AND v.state = 'planned' AND v.missed_from IS NOT NULL"
    " AND v.missed_from <= :today AND v.optional = false"
    " ORDER BY v.missed_from, v.id LIMIT :limit"
).bindparams(bindparam("today", type_=Date)).columns(
    target_date=Date, window_start=Date, window_end=Date, actual_date=Date, missed_from=Date,
)


TOKEN = text("SELECT name, role FROM api_tokens WHERE token_hash = :digest"
             " AND revoked_at IS NULL")
SUBJECT = text(
    "SELECT s.id, si.code AS site FROM subjects s JOIN studies st ON st.id = s.study_id"
    " JOIN sites si ON si.id = s.site_id WHERE st.code = :study AND s.subject_id = :subject"
)
COMPLETE = text(
    "UPDATE visits SET state = 'completed', actual_date = :day, assessments = :assessments,"
    " recorded_at = :now WHERE subject_pk = :pk AND code = :code AND state = 'planned'"
).bindparams(bindparam("day", type_=Date), bindparam("assessments", type_=JSON),
             bindparam("now", type_=UTCDateTime()))
AUDIT = text(
    "INSERT INTO audit_records (at, actor, role, action, entity, study_code, site_code,"
    " subject_id, key, after) VALUES (:now, :actor, :role, 'visit.completed', 'visit',"
    " :study, :site, :subject, :code, :after)"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("after", type_=JSON))


class CompletionIn(BaseModel):
    actual_date: date


class CompletedOut(BaseModel):
    study: str
    subject_id: str
    visit: str
    state: str
    actual_date: date


class Item(BaseModel):
    study: str
    subject_id: str
    site: str
    visit: str
    name: str
    phase: str
    kind: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    status: str
    as_of: date
    days_overdue: int
    days_early: int | None
    days_late: int | None
    days_from_target: int | None
    actual_date: date | None
    missed_from: date | None


class Page(BaseModel):
    items: list[Item]


def create_app() -> FastAPI:
    engine = make_engine(os.environ["BENCH_DATABASE_URL"], pool_size=20, max_overflow=20)
    with engine.connect() as conn:
        sites = {code: (ident, tz) for ident, code, tz
                 in conn.execute(text("SELECT id, code, time_zone FROM sites"))}
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def page(query: Any, status: str, site: str, limit: int) -> Page:
        ident, zone = sites[site]
        today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
        with engine.connect() as conn:
            rows = conn.execute(query, {"site": ident, "today": today, "limit": limit})
            # Every row has the query's status: the same fields as the worklist's.
            items = [Item(**row._mapping, status=status, as_of=today,
                          days_overdue=(today - row.window_end).days, days_early=None,
                          days_late=None, days_from_target=None)
                     for row in rows]
        return Page(items=items)

    @app.get("/visits", response_model=Page)
    def overdue(site: str, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Page:
        return page(OVERDUE, "overdue", site, limit)

    @app.get("/missed", response_model=Page)
    def missed(site: str, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Page:
        return page(MISSED, "missed_undocumented", site, limit)

    @app.post("/studies/{study}/subjects/{subject_id}/visits/{code}/completion",
              status_code=201, response_model=CompletedOut)
    def complete(study: str, subject_id: str, code: str, body: CompletionIn,
                 authorization: Annotated[str, Header()]) -> CompletedOut:
        digest = hashlib.sha256(authorization.removeprefix("Bearer ").encode()).hexdigest()
        now = datetime.now(UTC)
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                token = conn.execute(TOKEN, {"digest": digest}).first()
                if token is None:
                    raise HTTPException(401)
                subject = conn.execute(SUBJECT, {"study": study, "subject": subject_id}).first()
                if subject is None:
                    raise HTTPException(404)
                done = conn.execute(COMPLETE, {"day": body.actual_date, "assessments": [],
                                               "now": now, "pk": subject.id, "code": code})
                if done.rowcount != 1:
                    raise HTTPException(409)
                conn.execute(AUDIT, {
                    "now": now, "actor": token.name, "role": token.role, "study": study,
                    "site": subject.site, "subject": subject_id, "code": code,
                    "after": {"state": "completed",
                              "actual_date": body.actual_date.isoformat()}})
        return CompletedOut(study=study, subject_id=subject_id, visit=code, state="completed",
                            actual_date=body.actual_date)

    return app
