"""Dependencies shared by the API and the web pages: settings, the clock, the transaction,
and the refusal of query parameters a route does not take.

The two edges never import each other; both take these. The clock is read here and
nowhere else at the edges (tests override :func:`now_utc` to pin an instant).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.db import writing
from app.errors import UnknownQueryParameter
from app.settings import Settings

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def now_utc() -> datetime:
    """The clock, read at the edge only (tests override this dependency)."""
    return datetime.now(UTC)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One request, one transaction: commit on success, roll back on any error.

    Async on purpose: every sync dependency costs a trip to a worker thread, and this
    one needs none: a transaction starts with its first query, a write's as a writer
    (the write lock is taken by that first query, before anything is changed; see
    :func:`app.db.writing`). The end (commit or rollback, then close) is one trip,
    shielded so that a client going away cannot leave a connection open.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    if request.method not in READ_METHODS:
        factory = _writing(request, factory)
    session = factory()
    try:
        yield session
    except BaseException:
        if not session.info.get(_ENDED):
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_end, session, commit=False)
        raise
    else:
        if not session.info.get(_ENDED):
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_end, session, commit=True)


_ENDED = "followup.ended"


def end_now(session: Session) -> None:
    """Commit and close the request's session here, in the caller's worker thread: the
    dependency's end then has nothing left to do and spares the request a second trip
    to a worker thread. For a route's last step only (nothing may use the session after
    it); a failed commit raises here, before any response exists."""
    _end(session, commit=True)
    session.info[_ENDED] = True


def _writing(request: Request, factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The writers' sessions of ``factory``, made once per application and factory."""
    state = request.app.state
    made: tuple[sessionmaker[Session], sessionmaker[Session]] | None = getattr(
        state, "writing_sessionmaker", None)
    if made is None or made[0] is not factory:
        made = (factory, writing(factory))
        state.writing_sessionmaker = made
    return made[1]


_BEFORE_COMMIT = "followup.before_commit"


def before_commit(session: Session, step: Callable[[], None]) -> None:
    """Run ``step`` in the request's transaction once the route has answered, just before
    the commit (never after a rollback): what must be written with the answer, such as
    the response stored under an Idempotency-Key."""
    session.info.setdefault(_BEFORE_COMMIT, []).append(step)


def commit_request(session: Session) -> None:
    """Commit the request's transaction, with what :func:`before_commit` was given first
    (whatever provides a request's session commits by this)."""
    for step in session.info.pop(_BEFORE_COMMIT, ()):
        step()
    session.commit()


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            commit_request(session)
        else:
            session.rollback()
    finally:
        session.close()


def accepted_query(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` takes: its own and its dependencies', by the name
    sent (the alias), read from the same declarations the OpenAPI document is built from."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


async def known_query(request: Request) -> None:
    """Refuse a query parameter the matched route does not declare.

    A misspelt filter (``?stauts=overdue``) ignored would silently widen the answer to
    everything, so it is a 422 naming it and the parameters the route accepts. The
    accepted names come from the route's own declarations: no list to keep in step.
    """
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    accepted = accepted_query(route)
    unknown = sorted(set(request.query_params) - accepted)
    if not unknown:
        return
    takes = (f"accepted: {', '.join(sorted(accepted))}" if accepted
             else "this address takes no query parameters")
    raise UnknownQueryParameter(
        f"unknown query parameter(s): {', '.join(unknown)}; {takes}",
        unknown=unknown,
        accepted=sorted(accepted),
        errors=[{"location": f"query.{name}", "message": "unknown query parameter",
                 "type": "unknown_query_parameter"} for name in unknown],
    )


# Added to every route of the API and of the pages when their routers are included.
KnownQuery = Depends(known_query)

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
NowDep = Annotated[datetime, Depends(now_utc)]
SessionDep = Annotated[Session, Depends(get_session)]

