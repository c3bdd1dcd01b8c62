"""Subject CSV imports started on the pages, run by a worker thread of the server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class ImportJob(Base):
    """One uploaded file being imported, or imported.

    The job's thread writes its progress (``rows_checked``, ``rows_written``,
    ``heartbeat_at``) in short transactions of their own while the import's one
    transaction runs, so that any request of any server process can show it. ``runner``
    names the server process running it: a job still ``running`` whose runner has gone
    is shown as interrupted (see :mod:`app.services.bulk.jobs`).
    """

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_code: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(100))  # whose job it is (Actor.name)
    file_name: Mapped[str] = mapped_column(String(255))
    skip_invalid: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(12))  # running, done, refused, failed
    total_rows: Mapped[int | None] = mapped_column()  # None: the file could not be counted
    rows_checked: Mapped[int] = mapped_column(default=0)
    rows_written: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int | None] = mapped_column()
    visits: Mapped[int | None] = mapped_column()
    skipped: Mapped[int | None] = mapped_column()
    message: Mapped[str | None] = mapped_column(String(500))
    # Every bad row, as {"index": line, "field": column, "message": ...}.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    runner: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
