"""Server-rendered pages for coordinators: plain HTML forms over the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.db import utcnow
from app.deps import KnownQuery
from app.settings import Settings
from app.web import (
    account,
    admin_digest,
    admin_import,
    admin_sites,
    admin_tokens,
    admin_users,
    admin_versions,
    auth,
    changes,
    event_corrections,
    events,
    feeds,
    reports,
    sso,
    studies,
    subjects,
    visits,
    worklist,
)
from app.web.import_runner import server_runner
from app.web.rendering import STATIC_DIR, add_page_errors
from app.web.session import SessionCodec


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the stylesheet and script, and the page routes (outside the API's schema),
    whose errors are answered with pages."""
    app.state.web_codec = SessionCodec(settings)
    # The imports started on the pages run in this process's worker threads.
    app.state.import_runner = server_runner(app.state.sessionmaker,
                                            database_url=settings.database_url, clock=utcnow)
    add_page_errors(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, worklist, reports, studies, subjects, visits, events,
                   event_corrections, changes, feeds, account, admin_users, admin_tokens,
                   admin_versions, admin_sites, admin_digest,
                   admin_import):
        # A page refuses a query parameter it does not take, as the API does: a 422 page
        # naming it (app.deps.known_query).
        app.include_router(module.router, dependencies=[KnownQuery])
    # Not KnownQuery: the provider adds parameters of its own to the callback
    # (session_state, iss, scope ...), which are ignored.
    app.include_router(sso.router)
