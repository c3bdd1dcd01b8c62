"""YAML text -> :class:`Protocol`, with every problem located.

The YAML is composed with PyYAML's SafeLoader into nodes (never into arbitrary
objects), and the nodes are turned into plain values while remembering where each
value and each mapping key was written. Then the pydantic models check the shape and
:mod:`app.schedule.checks` the cross references, and *all* problems of the file are
raised together in one :class:`~app.errors.ScheduleError`, each formatted::

    schedules/x.yaml:42:7: visits[5].window.after: must be >= 0 days

Lines and columns are 1-based. Duplicate mapping keys are an error (YAML itself
would silently keep the last one).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.errors import ScheduleError
from app.schedule.check_context import Path, Problem, did_you_mean, format_path
from app.schedule.checks import check_protocol
from app.schedule.language import Protocol
from app.schedule.names import CODE_PATTERN, NAME_PATTERN
from app.schedule.versions import newer_language
from app.schedule.yaml_errors import explain, no_space_hint

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)
_FAST: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Aliases and merge keys can make a small file expand into a huge one ("billion laughs").
_MAX_VALUES = 20_000
_MAX_DEPTH = 50
_TOO_DEEP = "the document is too deeply nested for a schedule"


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


def _mark(node: Node | yaml.Mark) -> Mark:
    m = node.start_mark if isinstance(node, Node) else node
    return Mark(m.line + 1, m.column + 1)


def _tag(node: Node) -> str:
    return node.tag.replace("tag:yaml.org,2002:", "!!")


class _TooLarge(Exception):
    pass


@dataclass
class Located:
    """Plain values of a YAML document and where each of them was written."""

    data: object = None
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    scalars: dict[Path, str] = field(default_factory=dict)  # source text of non-strings
    problems: list[Problem] = field(default_factory=list)

    def where(self, problem: Problem) -> Mark:
        """The key's position for key problems, else the value's or its nearest parent's."""
        path = problem.path
        if problem.position is not None:
            return Mark(*problem.position)
        if problem.at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            if path[:end] in self.values:
                return self.values[path[:end]]
        return Mark(1, 1)


class _Builder:
    def __init__(self) -> None:
        self.out = Located()
        self.count = 0
        self.constructor = SafeConstructor()

    def build(self, node: Node, path: Path, depth: int = 0) -> object:
        self.count += 1
        if self.count > _MAX_VALUES or depth > _MAX_DEPTH:
            raise _TooLarge
        self.out.values[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if node.tag not in (_MAP, _SEQ):
            self.out.problems.append(Problem(path, f"the tag {_tag(node)} is not allowed here"))
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        result: dict[str, object] = {}
        for key_node, value_node, merged in self.pairs(node, path):
            if not isinstance(key_node, ScalarNode):
                self.out.problems.append(Problem(path, "a key must be plain text"))
                continue
            # The key as written: YAML would read `on:` as True and `1:` as 1.
            key = key_node.value
            if key in result:
                if not merged:
                    first, here = self.out.keys[path + (key,)], _mark(key_node)
                    self.out.problems.append(Problem(
                        path + (key,), f"duplicate key (first at line {first.line})",
                        position=(here.line, here.col)))
                continue
            self.out.keys[path + (key,)] = _mark(key_node)
            result[key] = self.build(value_node, path + (key,), depth + 1)
        return result

    def pairs(
        self, node: MappingNode, path: Path, depth: int = 0
    ) -> list[tuple[Node, Node, bool]]:
        """The mapping's own pairs, then those merged in by ``<<`` (own keys win)."""
        if depth > _MAX_DEPTH:  # a mapping merging itself
            raise _TooLarge
        own: list[tuple[Node, Node, bool]] = []
        merged: list[tuple[Node, Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node, False))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.out.problems.append(
                        Problem(path, "<< must merge a mapping or a list of mappings"))
                    continue
                found = self.pairs(source, path, depth + 1)
                # Merged pairs count against the size guard like values do: nested
                # merges of aliases multiply them ("<<: [*a, *a, ...]" on every level).
                self.count += len(found)
                if self.count > _MAX_VALUES:
                    raise _TooLarge
                merged += [(k, v, True) for k, v, _ in found]
        return own + merged

    def scalar(self, node: ScalarNode, path: Path) -> object:
        if node.tag not in _SCALARS:
            self.out.problems.append(Problem(path, f"the tag {_tag(node)} is not allowed here"))
            return node.value
        try:
            value = self.constructor.construct_object(node)
        except (ConstructorError, ValueError) as exc:
            self.out.problems.append(Problem(path, f"cannot read {node.value!r}: {exc}"))
            return node.value
        if not isinstance(value, str):
            self.out.scalars[path] = node.value
        return value


def read_yaml(text: str) -> Located:
    """Compose one YAML document safely into located plain values.

    Raises a one-problem :class:`_YamlSyntax` for text that is not YAML at all.
    """
    try:
        # libyaml is ten times faster; PyYAML's own parser words its errors better.
        root = yaml.compose(text, Loader=_FAST)
    except yaml.YAMLError:
        pass
    except RecursionError:
        raise _YamlSyntax(Mark(1, 1), _TOO_DEEP) from None
    else:
        return _build(root)
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise _YamlSyntax(Mark(1, 1), _TOO_DEEP) from None
    except yaml.MarkedYAMLError as exc:
        plain = explain(text, exc)
        if plain is not None:
            raise _YamlSyntax(Mark(plain.line, plain.col), plain.message) from exc
        mark = exc.problem_mark or exc.context_mark
        message = f"{exc.problem} ({exc.context})" if exc.context else str(exc.problem)
        raise _YamlSyntax(_mark(mark) if mark else Mark(1, 1), message) from exc
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", 0)
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        raise _YamlSyntax(Mark(line, col), str(exc).split("\n")[0]) from exc
    raise _YamlSyntax(Mark(1, 1), "not valid YAML")  # only libyaml refused it


def _build(root: Node | None) -> Located:
    builder = _Builder()
    if root is None:
        return builder.out
    try:
        builder.out.data = builder.build(root, ())
    except _TooLarge:
        builder.out.problems.append(
            Problem((), "the document is too large or too deeply nested (check its aliases)"))
    return builder.out


class _YamlSyntax(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


# -- pydantic errors as short, located messages --------------------------------------

_PATTERNS = {
    CODE_PATTERN: "must be a code: a letter or digit, then letters, digits or _ . + - "
                  "(at most 40)",
    NAME_PATTERN: "must be a lower-case name: a letter, then a-z, 0-9 or _ (at most 40)",
}
_TYPES = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _shown(value: object, raw: str | None) -> str:
    if raw is not None:
        return raw
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return json.dumps(value, default=str)


def _model_at(path: Path) -> type[BaseModel] | None:
    """The language model describing the mapping at ``path`` (for key suggestions)."""
    model: type[BaseModel] | None = Protocol
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            return None
        model = _model_in(fields[part].annotation)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _problem(error: ErrorDetails, located: Located) -> Problem:
    # Drop pydantic's internal steps such as "function-after[...]" from the location.
    path: Path = tuple(p for p in error["loc"] if isinstance(p, int) or "[" not in p)
    kind, ctx = error["type"], error.get("ctx") or {}
    raw = located.scalars.get(path)
    got = _shown(error.get("input"), raw)
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        known = [f.alias or n for n, f in model.model_fields.items()] if model else []
        hint = did_you_mean(str(path[-1]), known) if known else ""
        allowed = f"; allowed: {', '.join(known)}" if known and not hint else ""
        return Problem(path, f"unknown key{hint}{allowed}", at_key=True)
    if kind == "missing":
        return Problem(path, "is required")
    if kind in ("value_error", "assertion_error"):
        return Problem(path, str(ctx.get("error", error["msg"])))
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERNS:
        return Problem(path, f"{_PATTERNS[ctx['pattern']]}, not {got}")
    if kind in _TYPES:
        message = f"{_TYPES[kind]}, not {got}"
        if kind in ("dict_type", "model_type", "model_attributes_type"):
            message += no_space_hint(error.get("input"))
        if kind == "string_type" and raw is not None:
            message += f' (put it in quotes: "{raw}")'
        return Problem(path, message)
    message = error["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    if kind == "literal_error":
        message += f", not {got}"
    return Problem(path, message)


def _problems(errors: list[ErrorDetails], located: Located) -> list[Problem]:
    # A list whose entries are invalid is also "too short" to pydantic (it counts valid
    # entries); the entries' own problems say it better.
    inner = {e["loc"][:i] for e in errors for i in range(len(e["loc"]))}
    return [
        _problem(e, located)
        for e in errors
        if not (e["type"] == "too_short" and e["loc"] in inner)
    ]


def _format(source: str, located: Located, problems: list[Problem]) -> list[str]:
    lines: dict[str, tuple[int, int, str]] = {}
    for p in problems:
        mark = located.where(p)
        line = f"{source}:{mark.line}:{mark.col}: {format_path(p.path)}: {p.message}"
        lines.setdefault(line, (mark.line, mark.col, line))
    return [line for *_, line in sorted(lines.values())]


def _line(located: Located, path: Path) -> int | None:
    mark = located.values.get(path)
    return None if mark is None else mark.line


def parse_protocol(text: str, *, source: str) -> Protocol:
    """Parse and check one schedule file; raise ScheduleError listing every problem."""
    try:
        located = read_yaml(text)
    except _YamlSyntax as exc:
        raise ScheduleError(
            [f"{source}:{exc.mark.line}:{exc.mark.col}: (yaml): {exc.message}"]) from None
    newer = newer_language(located.data)
    if newer is not None:
        raise ScheduleError(_format(source, located, [newer]))
    problems = list(located.problems)
    protocol: Protocol | None = None
    try:
        protocol = Protocol.model_validate(located.data)
    except ValidationError as exc:
        # What the reader refused (a bad tag, an alias bomb) is not a type error too.
        refused = {p.path for p in located.problems}
        problems += [
            p for p in _problems(exc.errors(include_url=False), located) if p.path not in refused
        ]
    problems += check_protocol(located.data, lambda path: _line(located, path))
    if problems or protocol is None:
        raise ScheduleError(_format(source, located, problems))
    return protocol


def read_schedule(path: FsPath | str) -> str:
    """A schedule file's text; an unreadable file is a ScheduleError like any other."""
    source = str(path)
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScheduleError([f"{source}:1:1: (file): is not UTF-8 text"]) from None
    except OSError as exc:
        raise ScheduleError([f"{source}:1:1: (file): cannot read: {exc.strerror}"]) from None


def load_protocol(path: FsPath | str) -> Protocol:
    """Read and parse a schedule file (see :func:`parse_protocol`)."""
    return parse_protocol(read_schedule(path), source=str(path))
