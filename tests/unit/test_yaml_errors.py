"""YAML syntax mistakes come out in plain words, still at file:line:column."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ScheduleError
from app.schedule.loader import parse_protocol

# The path: plain names and indexes, and keys that are not plain names quoted.
LINE = re.compile(r'^x\.yaml:\d+:\d+: (?:[\w\[\]().-]|"[^"]*")+: \S.*$')


def problems(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(text, source="x.yaml")
    return caught.value.problems


VISITS = """\
visits:
  - code: D14
    name: Day 14
{line}
"""


@pytest.mark.parametrize(("line", "expected"), [
    ("   kind: clinic", 'x.yaml:4:4: (yaml): check the indentation of "kind:" '
                       "(3 spaces, expected 4)"),
    ("      kind: clinic", 'x.yaml:4:7: (yaml): check the indentation of "kind:" '
                          "(6 spaces, expected 4)"),
    ("     kind: clinic", 'x.yaml:4:6: (yaml): check the indentation of "kind:" '
                         "(5 spaces, expected 4)"),
    (" - code: M3", 'x.yaml:4:2: (yaml): check the indentation of "- code:" '
                   "(1 space, expected 2)"),
    ("   - code: M3", 'x.yaml:4:4: (yaml): check the indentation of "- code:" '
                     "(3 spaces, expected 2)"),
])
def test_a_line_indented_unlike_its_siblings(line: str, expected: str) -> None:
    assert problems(VISITS.format(line=line)) == [expected]


def test_the_issue_example_two_spaces_where_four_are_expected() -> None:
    text = "study:\n  code: T\nvisits:\n  - code: D14\n    window:\n      before: 1 day\n" \
           "  kind: clinic\n"
    # "kind:" at 2 spaces is no key of the visit (4) nor a list item (2 is the list's).
    assert problems(text) == [
        'x.yaml:7:3: (yaml): check the indentation of "kind:" (2 spaces, expected 4)'
    ]


def test_a_key_at_the_column_of_the_list_dash() -> None:
    text = "anchors:\n  - name: consent\n  label: Consent\n"
    assert problems(text) == [
        'x.yaml:3:3: (yaml): check the indentation of "label:" (2 spaces, expected 4)'
    ]


def test_a_nested_key_between_two_levels_goes_to_the_deeper_one() -> None:
    text = "visits:\n  - code: A\n    window:\n      before: 1 day\n     after: 2 days\n"
    assert problems(text) == [
        'x.yaml:5:6: (yaml): check the indentation of "after:" (5 spaces, expected 6)'
    ]


def test_a_list_item_where_a_key_is_expected() -> None:
    assert problems("study:\n  code: T\n  - D14\n") == [
        'x.yaml:3:3: (yaml): a list item where a key was expected: put the list under a key'
        ' ("key:" on the line above) or check its indentation'
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("study:\n\tcode: T\n", "x.yaml:2:1: (yaml): a tab indents this line: YAML indents with"
                            " spaces only"),
    ("study:\n  code: T\n\ttitle: X\n", "x.yaml:3:1: (yaml): a tab indents this line: YAML "
                                        "indents with spaces only"),
    ("study:\n  code: T\n  \ttitle: X\n", "x.yaml:3:3: (yaml): a tab indents this line: YAML "
                                          "indents with spaces only"),
])
def test_a_tab_used_for_indentation(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    # Followed by another key: YAML reads "code:A title" as text, then trips on a colon.
    ("study:\n  code:T\n  title: X\n", 'x.yaml:2:3: (yaml): put a space after the colon of '
     '"code:T" ("code: T"); without it YAML reads text, not a key'),
    ("visits:\n  - code:D14\n    name: Day 14\n", 'x.yaml:2:5: (yaml): put a space after the '
     'colon of "code:D14" ("code: D14"); without it YAML reads text, not a key'),
    ("study:\n  code: T\nvisits:x\n", 'x.yaml:3:1: (yaml): put a space after the colon of '
     '"visits:x" ("visits: x"); without it YAML reads text, not a key'),
])
def test_key_colon_value_without_a_space(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_key_colon_value_without_a_space_that_is_valid_yaml_text() -> None:
    # Alone, "code:T" is valid YAML: the text "code:T" where a mapping is expected.
    out = problems("study:\n  code:T\nvisits:\n  - code:D14\n")
    assert 'x.yaml:2:3: study: must be a mapping of keys to values, not "code:T" (put a ' \
           'space after the colon: "code: T")' in out
    assert 'x.yaml:4:5: visits[0]: must be a mapping of keys to values, not "code:D14" (put a' \
           ' space after the colon: "code: D14")' in out


@pytest.mark.parametrize(("text", "expected"), [
    ('study:\n  title: "UCAR-T\n  code: T\n', "x.yaml:2:10: (yaml): the quote \" opened here "
                                             "is never closed"),
    ("study:\n  title: 'UCAR-T\n  code: T\n", "x.yaml:2:10: (yaml): the quote ' opened here "
                                             "is never closed"),
    ("visits:\n  - code: D14\n    assessments: [AE, SLEDAI\n    name: Day 14\n",
     "x.yaml:3:18: (yaml): the [ opened here is not closed with ] (or a comma is missing "
     "between its items)"),
    ("visits:\n  - code: D14\n    window: {before: 2 days\n",
     "x.yaml:3:13: (yaml): the { opened here is not closed with } (or a comma is missing "
     "between its items)"),
])
def test_an_unclosed_quote_or_bracket_is_shown_where_it_opens(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_value_holding_colon_space_and_text_after_a_quote() -> None:
    assert problems("study:\n  title: CAR-T: phase 1\n") == [
        'x.yaml:2:15: (yaml): the value of "title" holds ": ": put the value in quotes ("...")'
    ]
    assert problems('study:\n  code: T\n  title: "CAR-T" trial\n') == [
        "x.yaml:3:18: (yaml): text after the closing quote: put the whole value in quotes"
    ]


def test_a_duplicate_key_is_reported_at_the_second_one() -> None:
    text = "study:\n  code: T\n  code: U\n"
    assert "x.yaml:3:3: study.code: duplicate key (first at line 2)" in problems(text)


def test_other_syntax_errors_keep_the_parser_words_with_a_position() -> None:
    assert problems("study: &a 1\nother: *b\n") == [
        "x.yaml:2:8: (yaml): found undefined alias 'b'"
    ]


HEAD = """\
study: {code: T, title: T, version: "1", target_enrolment: 5, time_zone: UTC, anchor_day: 0}
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
"""  # 4 lines: the visits start at line 5


def test_a_code_made_by_a_series_names_its_template_and_the_first_use() -> None:
    text = HEAD + """\
  - {code: M12, name: Month 12, at: 12 months}
  - code: M{n}
    name: Month {n}
    series: {every: 3 months, from: 3 months, to: 12 months}
  - {code: M6, name: Month 6 again, at: 6 months}
  - code: M{n}
    name: Month {n} again
    series: {every: 6 months, from: 6 months, to: 6 months}
"""
    assert problems(text) == [
        'x.yaml:6:11: visits[1].code: the code "M12" made by "M{n}" is already used by'
        " visits[0] (line 5)",
        'x.yaml:9:12: visits[2].code: duplicate visit code "M6": visits[1] (line 6) already'
        ' makes it from "M{n}"',
        'x.yaml:10:11: visits[3].code: the code "M6" made by "M{n}" is already made by "M{n}"'
        " at visits[1] (line 6)",
    ]


def test_a_code_made_by_a_list_of_days_and_two_plain_codes() -> None:
    text = HEAD + """\
  - {code: D7, name: Day 7, at: day 7}
  - {code: "D{day}", name: "Day {day}", at: [day 3, day 7]}
  - {code: D7, name: Day 7 again, at: day 8}
"""
    assert problems(text) == [
        'x.yaml:6:12: visits[1].code: the code "D7" made by "D{day}" is already used by'
        " visits[0] (line 5)",
        'x.yaml:7:12: visits[2].code: duplicate visit code "D7" (first at visits[0], line 5)',
    ]


@pytest.mark.parametrize("text", [
    "study:\n  code: T\n  title\nvisits: 1\n",
    "study:\n  code: T\n  title\n  version: 1\n",
])
def test_a_key_without_its_colon(text: str) -> None:
    assert problems(text) == [
        'x.yaml:3:3: (yaml): "title" needs a colon and a space after its key ("key: value")'
    ]


def test_a_key_without_its_colon_before_another_key() -> None:
    assert problems("study:\n  code T\n  title: X\n") == [
        'x.yaml:2:3: (yaml): "code T" needs a colon and a space after its key ("key: value")'
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(
    ["study:", "  code: T", "code:T", "  - x", "- a: 1", "\t", "  ", "    kind: clinic",
     '"open', "'open", "[1, 2", "{a: 1", "a: b: c", "# note", "---", ":", "-", "? x"]),
    max_size=8))
def test_any_broken_text_gives_located_problems_never_a_crash(parts: list[str]) -> None:
    text = "\n".join(parts) + "\n"
    try:
        parse_protocol(text, source="x.yaml")
    except ScheduleError as exc:
        assert exc.problems and all(LINE.match(p) for p in exc.problems), exc.problems


def test_a_key_that_is_not_a_plain_name_is_quoted_in_its_problem() -> None:
    # YAML's explicit key folds "? x" and "  - x" into the key "x - x".
    assert problems("? x\n  - x\n")[-1].startswith('x.yaml:1:3: "x - x": unknown key')
