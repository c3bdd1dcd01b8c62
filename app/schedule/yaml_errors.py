"""YAML syntax errors in a protocol author's words.

PyYAML words its errors for people who know its grammar: ``expected <block end>, but
found '<block mapping start>'``, ``mapping values are not allowed here``. Most of them
come from a handful of typing mistakes, and the text around the error says which:

- a key indented less or more than its siblings: ``check the indentation of "kind:"
  (3 spaces, expected 4)``; the expected indentation is that of the keys (or list
  items) still open above the line, the nearest one, the deeper one on a tie;
- a tab used to indent: YAML indents with spaces only;
- ``key:value`` without a space, which YAML reads as text, not as a key;
- a value holding ``: `` that is not quoted;
- a quote, ``[`` or ``{`` that is never closed: at the place it was opened.

:func:`explain` returns ``None`` for anything else; the loader then keeps PyYAML's own
words, with the position. Pure: it reads the text and the error, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

# "key:" or "- key:" followed by a space or the end of the line, as YAML reads a key.
_KEY = re.compile(r"""^(?P<key>[^\s#'"\[\]{},-][^:#]*?|"[^"]*"|'[^']*'):(?:\s|$)""")
# "key:value": YAML reads this as one piece of text.
_NO_SPACE = re.compile(r"""^(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^\s:/].*)$""")
_CLOSERS = {"flow sequence": ("[", "]"), "flow mapping": ("{", "}")}


@dataclass(frozen=True, slots=True)
class Explained:
    line: int  # 1-based
    col: int  # 1-based
    message: str


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based
    indent: int  # spaces before the first character
    body: str  # the line without its indentation

    @property
    def item(self) -> bool:
        """A list item ("- ...")."""
        return self.body == "-" or self.body.startswith("- ")

    @property
    def label(self) -> str:
        """How the message names the line: its key with the colon, or its first words."""
        rest = self.body[2:].lstrip() if self.item else self.body
        found = _KEY.match(rest)
        shown = f"{found.group('key')}:" if found else rest[:30]
        return f"- {shown}" if self.item else shown


def _lines(text: str) -> list[_Line]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.lstrip(" ")
        out.append(_Line(number, len(raw) - len(body), body))
    return out


def _content(line: _Line) -> bool:
    return bool(line.body.strip()) and not line.body.startswith("#") and line.body != "---"


def _open_columns(before: list[_Line]) -> list[tuple[int, bool]]:
    """The (column, is a list) of the blocks still open after these lines, outermost
    first: where the next line may start."""
    stack: list[tuple[int, bool]] = []
    for line in filter(_content, before):
        while stack and stack[-1][0] > line.indent:
            stack.pop()
        if stack and stack[-1][0] == line.indent and stack[-1][1] != line.item:
            # A list under a key at the key's own column ("visits:" / "- code: A").
            if line.item:
                stack.append((line.indent, True))
            else:
                stack.pop()
        if not stack or stack[-1] != (line.indent, line.item):
            stack.append((line.indent, line.item))
        if line.item:
            rest = line.body[1:]
            inner = line.indent + 1 + len(rest) - len(rest.lstrip(" "))
            if _KEY.match(rest.lstrip(" ")):
                stack.append((inner, False))
    return stack


def _spaces(n: int) -> str:
    return "1 space" if n == 1 else f"{n} spaces"


def _indentation(lines: list[_Line], bad: _Line) -> Explained | None:
    """The message for a line at a column no open block of its kind has."""
    columns = [col for col, is_list in _open_columns(lines[: bad.number - 1])
               if is_list == bad.item]
    if not columns or bad.indent in columns:
        return None
    expected = min(columns, key=lambda col: (abs(col - bad.indent), -col))
    return Explained(bad.number, bad.indent + 1, f'check the indentation of "{bad.label}" '
                     f"({_spaces(bad.indent)}, expected {expected})")


def _no_space(line: _Line) -> Explained | None:
    found = _NO_SPACE.match(line.body)
    if found is None:
        return None
    key, value = found.group("key"), found.group("value")
    col = line.indent + 1 + line.body.index(key)
    return Explained(line.number, col, f'put a space after the colon of "{key}:{value}" '
                     f'("{key}: {value}"); without it YAML reads text, not a key')


def no_space_hint(value: object) -> str:
    """A hint for text that was meant as ``key: value`` (a mapping was expected).

    >>> no_space_hint("code:A")
    ' (put a space after the colon: "code: A")'
    >>> no_space_hint("12:30")
    ''
    """
    found = _NO_SPACE.match(value) if isinstance(value, str) else None
    if found is None:
        return ""
    return f' (put a space after the colon: "{found.group("key")}: {found.group("value")}")'


def _previous(lines: list[_Line], number: int) -> _Line | None:
    return next((line for line in reversed(lines[: number - 1]) if _content(line)), None)


def _tab(lines: list[_Line], line: int, col: int) -> Explained:
    text = lines[line - 1].body if line <= len(lines) else ""
    indent = lines[line - 1].indent if line <= len(lines) else 0
    if col - 1 <= indent or not text[: col - 1 - indent].strip(" \t"):
        return Explained(line, col, "a tab indents this line: YAML indents with spaces only")
    return Explained(line, col, "a tab here: YAML allows spaces only between a key and "
                                "its value")


def _mapping_value(lines: list[_Line], line: int, col: int) -> Explained | None:
    """``mapping values are not allowed here``: a colon YAML did not expect."""
    here = lines[line - 1]
    before = (" " * here.indent + here.body)[: col - 1]
    if ": " in before or before.rstrip().endswith(":"):
        key = before.split(":", 1)[0].strip().removeprefix("- ")
        return Explained(line, col, f'the value of "{key}" holds ": ": put the value in '
                                    'quotes ("...")')
    previous = _previous(lines, line)
    if previous is not None and (found := _no_space(previous)) is not None:
        return found
    if (previous is not None and previous.indent == here.indent and not previous.item
            and not _KEY.match(previous.body)):
        return _needs_colon(previous)
    return _indentation(lines, here)


def _needs_colon(line: _Line) -> Explained:
    return Explained(line.number, line.indent + 1, f'"{line.body[:30]}" needs a colon and a '
                                                   'space after its key ("key: value")')


def _block_end(lines: list[_Line], bad: _Line, col: int) -> Explained | None:
    """``expected <block end>``: a line that does not fit the block it is in."""
    found = _indentation(lines, bad)
    if found is not None:
        return found
    before = (" " * bad.indent + bad.body)[: col - 1].rstrip()
    if before.endswith(('"', "'")) and col > bad.indent + 1:
        return Explained(bad.number, col, "text after the closing quote: put the whole "
                                          "value in quotes")
    if bad.item:
        return Explained(bad.number, col, 'a list item where a key was expected: put the '
                                          'list under a key ("key:" on the line above) or '
                                          "check its indentation")
    return None


def explain(text: str, error: yaml.MarkedYAMLError) -> Explained | None:
    """The plain words for a syntax error of ``text``, or None to keep PyYAML's."""
    problem, context = error.problem or "", error.context or ""
    mark, opened = error.problem_mark, error.context_mark
    lines = _lines(text)
    if mark is None:
        return None
    line, col = mark.line + 1, mark.column + 1
    if "'\\t'" in problem:
        return _tab(lines, line, col)
    if opened is not None and context == "while scanning a quoted scalar":
        quote = text.splitlines()[opened.line][opened.column]
        return Explained(opened.line + 1, opened.column + 1,
                         f"the quote {quote} opened here is never closed")
    for kind, (start, end) in _CLOSERS.items():
        if opened is not None and context == f"while parsing a {kind}":
            return Explained(opened.line + 1, opened.column + 1,
                             f"the {start} opened here is not closed with {end} (or a comma "
                             "is missing between its items)")
    if problem == "could not find expected ':'" and opened is not None:
        key_line = lines[opened.line]
        return _no_space(key_line) or _needs_colon(key_line)
    if line > len(lines):
        return None
    if problem == "mapping values are not allowed here":
        return _mapping_value(lines, line, col)
    if problem.startswith("expected <block end>"):
        return _block_end(lines, lines[line - 1], col)
    return None
