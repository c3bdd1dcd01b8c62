"""What the cross-reference checks of a schedule file share: problems and their paths,
the file's declared names, and the visit entries found so far.

:mod:`app.schedule.checks` runs the checks in order; each check adds what it finds to one
:class:`CheckContext`, so a file's every mistake is reported in one run.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.schedule.durations import Duration, parse_duration
from app.schedule.names import CODE_PATTERN

Path = tuple[str | int, ...]
CODE = re.compile(CODE_PATTERN)


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: where (a field path) and what.

    It is shown at the value's position, at the key's with ``at_key``, or at
    ``position`` (line, column) when the reader already knows it.
    """

    path: Path
    message: str
    at_key: bool = False
    position: tuple[int, int] | None = None


def format_path(path: Path) -> str:
    """``("visits", 5, "window", "after")`` -> ``visits[5].window.after``; a key that is
    not a plain name (YAML allows ``? x - x``) is quoted: ``"x - x"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = str(part)
        key = text if _PLAIN_KEY.fullmatch(text) else json.dumps(text)
        out += f".{key}" if out else key
    return out or "(document)"


_PLAIN_KEY = re.compile(r"[\w.-]+")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass
class VisitEntry:
    path: Path
    raw: dict[str, Any]
    phase: str  # MAIN_PHASE or the phase's code
    default_anchor: str | None  # the anchor of its schedule (the study's, or the phase's)
    codes: list[str] = field(default_factory=list)
    # In a repeating phase: how many occurrences (its codes are made for each, in turn).
    occurrences: int = 0


def entries(data: dict[str, Any], key: str, base: Path = ()) -> list[tuple[Path, dict[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    return [(base + (key, i), item) for i, item in enumerate(items) if isinstance(item, dict)]


def as_duration(value: object) -> Duration | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def as_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class CheckContext:
    """The file's raw data, what the checks learnt from it, and the problems found."""

    def __init__(
        self, root: dict[str, Any], line_of: Callable[[Path], int | None] | None = None
    ) -> None:
        self.root = root
        self._line_of = line_of
        self.problems: list[Problem] = []
        study = root.get("study")
        day = study.get("anchor_day") if isinstance(study, dict) else None
        self.anchor_day = day if day in (0, 1) and not isinstance(day, bool) else None
        self.anchors: set[str] = set()
        self.recorded_later: set[str] = set()  # anchors recorded after enrolment
        self.visits: list[VisitEntry] = []
        self.codes: dict[str, VisitEntry] = {}
        self.vocabularies: dict[str, list[str]] = {}

    def at(self, path: Path) -> str:
        """``visits[2]``, with its line when the file's positions are known:
        ``visits[2] (line 30)``."""
        line = self.line(path)
        return format_path(path) + ("" if line is None else f" (line {line})")

    def line(self, path: Path) -> int | None:
        """The line the value at ``path`` was written on, when known."""
        return self._line_of(path) if self._line_of is not None else None

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def unique(self, section: str, what: str, key: str = "code") -> set[str]:
        seen: dict[str, Path] = {}
        for path, item in entries(self.root, section):
            value = as_text(item.get(key))
            if value is None:
                continue
            if value in seen:
                self.add(path + (key,), f'duplicate {what} "{value}" (first at '
                                        f"{format_path(seen[value])})")
            else:
                seen[value] = path
        return set(seen)

    def anchor_ref(self, path: Path, value: object) -> None:
        name = as_text(value)
        if name is None or not self.anchors or name in self.anchors:
            return
        self.add(path, f'unknown anchor "{name}"{did_you_mean(name, self.anchors)}; '
                       f"declared anchors: {', '.join(sorted(self.anchors))}")

    def study_day(self, path: Path, value: object) -> None:
        """Day 0 does not exist when the anchor is Day 1 (SDTM convention)."""
        d = as_duration(value)
        if d is not None and d.study_day and d.amount == 0 and self.anchor_day == 1:
            self.add(path, "there is no day 0 when study.anchor_day is 1 "
                           '(the anchor is "day 1" and the day before it "day -1")')
