"""The application factory: settings in, FastAPI app out. Nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from app import __version__
from app.api import docs, idempotency
from app.api.limits import BodyLimitMiddleware, ConcurrencyLimitMiddleware
from app.api.openapi import customise_openapi
from app.api.routes import (
    amendments,
    audit,
    batch,
    calendar,
    digest,
    exports,
    health,
    reports,
    sites,
    studies,
    subjects,
    tokens,
    users,
    visits,
    worklist,
)
from app.db import make_engine, make_sessionmaker
from app.headers import SecurityHeadersMiddleware
from app.metrics import PATH as METRICS_PATH
from app.metrics import install as install_metrics
from app.problems import add_exception_handlers
from app.requestlog import RequestLogMiddleware
from app.settings import Settings, get_settings
from app.web import install as install_web

API_PREFIX = "/api/v1"


class Followup(FastAPI):
    """The application, with the security headers outside its whole middleware stack.

    Starlette answers an unexpected error (500) from its outermost layer, which no
    middleware added with ``add_middleware`` wraps; that answer needs them too.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()
        if app.state.metrics is not None:
            app.state.metrics.close()

    app = Followup(
        title="followup",
        version=__version__,
        summary="Patient follow-up and visit scheduling for clinical trials",
        description=(
            "Subjects are addressed by study code and subject id. Every error is an RFC 9457 "
            "`application/problem+json` document. Dates are ISO 8601 dates; timestamps are UTC."
        ),
        lifespan=lifespan,
        # /docs and /redoc are served by app/api/docs.py, from packaged files (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        lock_timeout=settings.db_lock_timeout_seconds,
        connect_timeout=settings.db_connect_timeout_seconds,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    add_exception_handlers(app)
    metrics = install_metrics(app, settings, engine)
    app.include_router(health.router)
    # The EDC's hot paths first: a request is matched against the routes in this order.
    for module in (visits, worklist, subjects, studies, amendments, sites, batch, reports, audit,
                   tokens, users, digest, calendar, exports):
        # Every API route refuses query parameters it does not take (app.deps.known_query)
        # and takes an Idempotency-Key on its writes: one guard does both
        # (see app/api/idempotency.py).
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=[idempotency.IdempotencyGuard],
        )
    install_web(app, settings)
    customise_openapi(app, api_prefix=API_PREFIX)
    docs.install(app)
    idempotency.install(app)
    # Liveness and scrapes never queue behind the requests in progress.
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.max_concurrent_requests,
                       exempt=("/healthz", METRICS_PATH))
    # Added last, so it runs first: oversized bodies never reach anything else.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Outermost: every request is logged, refusals included.
    app.add_middleware(RequestLogMiddleware,
                       observe=metrics.observe_request if metrics is not None else None)
    return app
