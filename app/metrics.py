"""Prometheus metrics of a server process, counted at the edges and shown at ``/metrics``.

Off unless ``METRICS_ENABLED`` is true. Then the request log middleware reports every
answered request here (method, route template, status, duration), the API and the pages
count the worklist rows they serve and what bulk enrolment imported or refused, and the
connection pool reports the connections in use. The services know nothing of this
(an import-linter contract keeps them so): the edges count what the services return.

``GET /metrics`` (not in the OpenAPI document) wants ``Authorization: Bearer`` with the
``METRICS_TOKEN``, a secret of its own: checked without the database, so the metrics
still answer when the database does not, and a scraper's secret opens nothing else.

Several worker processes: ``followup serve --workers N`` (N > 1) points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory before the workers start, each
worker's values live in files there, and whichever worker answers ``/metrics`` adds them
up (prometheus-client's multiprocess mode). Without it the values are this process's own.
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import Engine, event
from starlette.concurrency import run_in_threadpool

from app.errors import NotAuthenticated
from app.settings import Settings

PATH = "/metrics"
# The text format every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# 1 ms to 10 s: a worklist page takes a few ms, an import of thousands of rows seconds.
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
# A label value per method a client may send would let clients add series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# Label values of the counters below: each series exists (at 0) from the start.
Edge = Literal["api", "web"]
ImportSource = Literal["api_batch"]


def multiprocess_mode() -> bool:
    """Whether values live in PROMETHEUS_MULTIPROC_DIR: decided by prometheus-client
    when it was first imported, so this asks it rather than the environment."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    """The metrics of one application; its registry when the process counts alone."""

    def __init__(self) -> None:
        # No "_created" series: multiprocess mode has none, and one process alone is the same.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "followup_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=r,
        )
        self.durations = Histogram(
            "followup_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["method", "route"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.worklist_rows = Counter(
            "followup_worklist_rows", "Worklist rows served, by the API or the web pages",
            ["edge"], registry=r,
        )
        self.imported = Counter(
            "followup_import_subjects", "Subjects enrolled by bulk imports", ["source"],
            registry=r,
        )
        self.refused = Counter(
            "followup_import_rows_refused",
            "Rows of bulk imports not imported because the import was refused"
            " (an all-or-nothing batch with an invalid row: all of its rows)",
            ["source"], registry=r,
        )
        # Gauges of the worker processes alive, added up across them.
        self.pool_in_use = Gauge(
            "followup_db_pool_connections_in_use",
            "Database connections checked out of the pools now",
            registry=r, multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "followup_db_pool_size", "Connections the pools keep open (DB_POOL_SIZE each)",
            registry=r, multiprocess_mode="livesum",
        )
        self.pool_overflow = Gauge(
            "followup_db_pool_max_overflow",
            "Connections the pools may open beyond their size (DB_MAX_OVERFLOW each)",
            registry=r, multiprocess_mode="livesum",
        )
        for edge in get_args(Edge):
            self.worklist_rows.labels(edge)
        for source in get_args(ImportSource):
            self.imported.labels(source)
            self.refused.labels(source)
        # (method, route, status) -> the labelled children, found without a lock.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request: a counter and a histogram observation."""
        key = (method if method in METHODS else OTHER_METHOD, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(key[0], route, str(status)),
                self.durations.labels(key[0], route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def served_worklist_rows(self, edge: Edge, rows: int) -> None:
        self.worklist_rows.labels(edge).inc(rows)

    def imported_subjects(self, source: ImportSource, subjects: int) -> None:
        self.imported.labels(source).inc(subjects)

    def refused_rows(self, source: ImportSource, rows: int) -> None:
        self.refused.labels(source).inc(rows)

    def watch_pool(self, engine: Engine, *, size: int, max_overflow: int) -> None:
        """Follow the connections of ``engine``'s pool as they are checked out and in."""
        self.pool_size.set(size)
        self.pool_overflow.set(max_overflow)
        in_use = self.pool_in_use

        def checked_out(*_: Any) -> None:
            in_use.inc()

        def checked_in(*_: Any) -> None:
            in_use.dec()

        event.listen(engine, "checkout", checked_out)
        event.listen(engine, "checkin", checked_in)

    def exposition(self) -> bytes:
        """The text format: every worker's values added up in multiprocess mode."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def close(self) -> None:
        """This process stops: its gauges no longer count (its counters still do)."""
        if multiprocess_mode():
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def install(app: FastAPI, settings: Settings, engine: Engine) -> Metrics | None:
    """The metrics of ``app`` and their route, when METRICS_ENABLED; else None."""
    app.state.metrics = None
    if not settings.metrics_enabled:
        return None
    assert settings.metrics_token is not None  # the settings refuse one without the other
    expected = settings.metrics_token.get_secret_value().strip().encode()
    metrics = Metrics()
    metrics.watch_pool(engine, size=settings.db_pool_size,
                       max_overflow=settings.db_max_overflow)

    async def read_metrics(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 expected):
            raise NotAuthenticated("send Authorization: Bearer <METRICS_TOKEN>")
        # Reading the other workers' files is file I/O: not on the event loop.
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    app.add_api_route(PATH, read_metrics, methods=["GET"], include_in_schema=False)
    app.state.metrics = metrics
    return metrics


async def get_metrics(request: Request) -> Metrics | None:
    """The application's metrics, or None when they are off."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    return metrics


MetricsDep = Annotated[Metrics | None, Depends(get_metrics)]
