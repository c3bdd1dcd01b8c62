"""The worker threads that run the subject imports started on the pages.

One :class:`ImportRunner` per server process (``app.state.import_runner``). A job
(:mod:`app.services.bulk.jobs`) runs in a thread of its own: the import in one
transaction, its progress in short transactions beside it, its outcome at the end. A
job lives only as long as its process: a restart loses it (its transaction is rolled
back, nothing is imported) and the page then shows it as interrupted.

On SQLite one transaction writes at a time, and the import's holds the write lock until
it ends: the progress cannot be written beside it, so the page shows the job running
until it is done (PostgreSQL shows every 1,000 rows).
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.access import Actor
from app.db import is_sqlite, transaction
from app.errors import FollowupError, InvalidRows
from app.services.bulk.csv_import import import_csv
from app.services.bulk.jobs import (
    record_failure,
    record_progress,
    record_refusal,
    record_result,
)

log = logging.getLogger(__name__)

Units = Callable[[], AbstractContextManager[Session]]
Spawn = Callable[[Callable[[], None]], None]


def in_thread(work: Callable[[], None]) -> None:
    """A daemon thread: it never holds up the server's shutdown (the job is then lost,
    as on a crash)."""
    threading.Thread(target=work, name="followup-import", daemon=True).start()


def lines_of(data: bytes) -> io.TextIOWrapper:
    """An uploaded file's text, as the import reads it (UTF-8, a BOM skipped)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


class ImportRunner:
    """Starts import jobs and knows which of them this process is running.

    ``units`` opens the import's transaction (committed when it ends without error);
    ``progress_units`` the short ones of its progress, or None where they cannot run
    beside it (SQLite); ``clock`` is the instant of each write; ``spawn`` runs a job
    (in a new thread, unless a test holds it).
    """

    def __init__(self, *, units: Units, progress_units: Units | None,
                 clock: Callable[[], datetime], spawn: Spawn = in_thread) -> None:
        self.runner_id = secrets.token_hex(8)
        self._units = units
        self._progress_units = progress_units
        self._clock = clock
        self._spawn = spawn
        self._lock = threading.Lock()
        self._live: set[int] = set()
        self._settled: set[int] = set()  # ended here, their outcome committed

    @property
    def live(self) -> frozenset[int]:
        """The jobs this process is running, or ran and committed the outcome of. A
        request whose transaction began before that commit still reads such a job as
        running (its snapshot is older), and must not take it for interrupted: its next
        look, in a new transaction, reads the outcome."""
        with self._lock:
            return frozenset(self._live | self._settled)

    def start(self, job_id: int, *, data: bytes, study_code: str, actor: Actor,
              skip_invalid: bool) -> None:
        """Run the job (already committed as running) on ``data``, the uploaded file."""
        with self._lock:
            self._live.add(job_id)
        try:
            self._spawn(partial(self._run, job_id, data, study_code, actor, skip_invalid))
        except BaseException:
            with self._lock:
                self._live.discard(job_id)
            raise

    def _run(self, job_id: int, data: bytes, study_code: str, actor: Actor,
             skip_invalid: bool) -> None:
        try:
            self._import(job_id, data, study_code, actor, skip_invalid)
        finally:
            with self._lock:
                self._live.discard(job_id)

    def _import(self, job_id: int, data: bytes, study_code: str, actor: Actor,
                skip_invalid: bool) -> None:
        try:
            with self._units() as session:
                result = import_csv(
                    session, study_code=study_code, actor=actor, lines=lines_of(data),
                    skip_invalid=skip_invalid, on_chunk=partial(self._progress, job_id),
                    now=self._clock())
                record_result(session, job_id=job_id, result=result, now=self._clock())
            self._settle(job_id)
        except FollowupError as exc:
            problems = exc.extra.get("errors", []) if isinstance(exc, InvalidRows) else []
            message = (f"Nothing was imported: {exc.detail}." if isinstance(exc, InvalidRows)
                       else f"Nothing was imported: {exc.detail}")
            self._outcome(job_id, partial(record_refusal, job_id=job_id, detail=message,
                                          problems=problems))
        except Exception:
            log.exception("import job %s failed", job_id)
            self._outcome(job_id, partial(record_failure, job_id=job_id, message=(
                "The import failed: nothing was imported. The server's log says why.")))

    def _settle(self, job_id: int) -> None:
        with self._lock:
            self._settled.add(job_id)

    def _outcome(self, job_id: int, record: Callable[..., None]) -> None:
        try:
            with self._units() as session:
                record(session, now=self._clock())
            self._settle(job_id)
        except SQLAlchemyError:
            # The job then shows as interrupted once this process stops running it.
            log.exception("the outcome of an import job could not be recorded")

    def _progress(self, job_id: int, checked: int, written: int) -> None:
        if self._progress_units is None:
            return
        try:
            with self._progress_units() as session:
                record_progress(session, job_id=job_id, checked=checked, written=written,
                                now=self._clock())
        except SQLAlchemyError:
            # Progress is for the page to show: the import goes on without it.
            log.warning("the progress of import job %s could not be recorded", job_id)


def server_runner(factory: sessionmaker[Session], *, database_url: str,
                  clock: Callable[[], datetime]) -> ImportRunner:
    """The runner of a server process, writing through ``factory``'s sessions."""
    units: Units = partial(transaction, factory)
    return ImportRunner(units=units, progress_units=None if is_sqlite(database_url) else units,
                        clock=clock)
