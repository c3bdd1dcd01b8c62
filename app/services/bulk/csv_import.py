"""Read an enrolment CSV file as a stream of checked rows, chunk by chunk.

Columns: ``subject_id``, ``site``, ``consent_date``, ``date_of_birth`` and, for each
anchor of the protocol that is known, a column named after it (``infusion``) holding
its date, with an optional ``infusion_planned`` column (true/false, yes/no, 1/0) or
``infusion_status`` column (actual/planned) saying the date is planned, not yet
confirmed. Dates are ISO 8601 (2025-03-26). Empty cells mean "not known". No cell
may hold a control character (the rule of :mod:`app.schedule.text`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidRows
from app.schedule.eligibility import CONSENT_ANCHOR
from app.schedule.expand import AnchorDate
from app.schedule.text import control_character_problem
from app.services.bulk.enroller import BulkEnroller
from app.services.bulk.rows import CHUNK_ROWS, Enrolment, ImportResult, Item
from app.services.bulk.rows import RowProblem as Problem

REQUIRED = ("subject_id", "site", "consent_date", "date_of_birth")
TRUE = frozenset({"true", "yes", "1", "y", "planned"})
FALSE = frozenset({"false", "no", "0", "n", "actual", ""})


class Columns:
    """Where each known column is in the header row."""

    def __init__(self, header: list[str], anchors: Iterable[str]) -> None:
        names = [h.strip().lower() for h in header]
        self.index = {name: i for i, name in enumerate(names)}
        self.problems: list[Problem] = []
        known = set(REQUIRED)
        self.anchors: list[tuple[str, int, int | None]] = []
        for anchor in anchors:
            flag = self.index.get(f"{anchor}_planned", self.index.get(f"{anchor}_status"))
            known |= {anchor, f"{anchor}_planned", f"{anchor}_status"}
            if anchor in self.index:
                self.anchors.append((anchor, self.index[anchor], flag))
            elif flag is not None:
                self.problems.append(Problem(1, names[flag], f"there is no {anchor} column"))
        for name in REQUIRED:
            if name not in self.index:
                self.problems.append(Problem(1, name, "required column is missing"))
        for i, name in enumerate(names):
            if (why := control_character_problem(name)) is not None:
                # Named by its place: the name itself would carry the character along.
                self.problems.append(Problem(1, f"column {i + 1}", f"the column name {why}"))
            elif name not in known:
                self.problems.append(Problem(1, name or f"column {i + 1}", "unknown column"
                                             f" (expected {', '.join(REQUIRED)} or an anchor)"))
        if len(self.index) != len(names):
            self.problems.append(Problem(1, "", "a column name appears twice"))
        self.width = len(names)

    def parse(self, line: int, cells: list[str]) -> Enrolment | list[Problem]:
        if len(cells) != self.width:
            return [Problem(line, "", f"{len(cells)} cells where the header has {self.width}")]
        problems: list[Problem] = []
        # A cell with a control character is reported as such and read as no value
        # (its other checks would only quote the character back).
        refused: set[int] = set()
        for name, at in self.index.items():
            if (why := control_character_problem(cells[at].strip())) is not None:
                problems.append(Problem(line, name, why))
                refused.add(at)

        def cell(at: int) -> str:
            return "" if at in refused else cells[at].strip()

        def text(name: str) -> str:
            value = cell(self.index[name])
            if not value and self.index[name] not in refused:
                problems.append(Problem(line, name, "is empty"))
            return value

        def day(name: str, value: str) -> date | None:
            try:
                return date.fromisoformat(value)
            except ValueError:
                problems.append(Problem(line, name, f'"{value}" is not a date (YYYY-MM-DD)'))
                return None

        subject_id, site = text("subject_id"), text("site")
        consent_text, born_text = text("consent_date"), text("date_of_birth")
        consent = day("consent_date", consent_text) if consent_text else None
        born = day("date_of_birth", born_text) if born_text else None
        anchors: dict[str, AnchorDate] = {}
        for name, at, flag_at in self.anchors:
            value = cell(at)
            flag = cell(flag_at).lower() if flag_at is not None else ""
            if flag not in TRUE and flag not in FALSE:
                problems.append(Problem(line, f"{name} flag", f'"{flag}" is not true/false'))
            if value and (when := day(name, value)) is not None:
                anchors[name] = AnchorDate(when, actual=flag not in TRUE)
            elif not value and flag in TRUE and at not in refused:
                problems.append(Problem(line, name, "planned, but no date given"))
        if problems or consent is None or born is None:
            return problems
        return Enrolment(subject_id, site, consent, born, anchors)


def read_rows(
    lines: Iterable[str], anchors: Iterable[str], chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[Item]]:
    """Chunks of parsed rows; raises :class:`InvalidRows` at once for a bad header, and
    when the file cannot be read on (not UTF-8, a field over the csv module's limit)."""
    reader = csv.reader(lines)
    try:
        yield from _chunks(reader, anchors, chunk_rows)
    except (csv.Error, UnicodeDecodeError) as exc:
        # Nothing after this point can be trusted: the whole import stops here. The
        # text is decoded ahead of the parser, so the line is where reading stopped.
        line = reader.line_num + (1 if isinstance(exc, UnicodeDecodeError) else 0)
        reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        problem = Problem(line, "", f"the file cannot be read from here on: {reason}")
        raise InvalidRows(f"the file cannot be read from line {line} on",
                          errors=[problem.as_dict()]) from None


def _chunks(reader: Any, anchors: Iterable[str], chunk_rows: int) -> Iterator[list[Item]]:
    header = next(reader, None)
    if header is None:
        raise InvalidRows("the file is empty", errors=[Problem(1, "", "no header").as_dict()])
    columns = Columns(header, anchors)
    if columns.problems:
        raise InvalidRows(f"{len(columns.problems)} problem(s) in the header",
                          errors=[p.as_dict() for p in columns.problems])
    chunk: list[Item] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            chunk.append((reader.line_num, columns.parse(reader.line_num, cells), None))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
    except (csv.Error, UnicodeDecodeError):
        if chunk:
            yield chunk  # the rows read so far are checked (and reported) too
        raise
    if chunk:
        yield chunk


def import_csv(
    session: Session,
    *,
    study_code: str,
    actor: Actor,
    lines: Iterable[str],
    skip_invalid: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
    now: datetime,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Enrol every row of a CSV file at ``now``, or none of them (see
    :mod:`app.services.bulk.enroller`). ``on_chunk`` is told, after each chunk, how many
    rows have been checked and how many written so far (in this transaction)."""
    enroller = BulkEnroller(session, study_code=study_code, actor=actor,
                            skip_invalid=skip_invalid, now=now)
    anchors = [a.name for a in enroller.plan.protocol.anchors if a.name != CONSENT_ANCHOR]
    checked = 0
    try:
        for chunk in read_rows(lines, anchors, chunk_rows):
            enroller.add(chunk)
            checked += len(chunk)
            if on_chunk is not None:
                on_chunk(checked, enroller.imported)
    except InvalidRows as exc:
        # An unreadable file: report it with every bad row found before it.
        earlier = [p.as_dict() for p in enroller.problems]
        raise InvalidRows(exc.detail, errors=earlier + exc.extra["errors"]) from None
    return enroller.finish()
