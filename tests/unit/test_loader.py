"""The schedule loader: every problem of a file at once, each at file:line:col with its path."""

from __future__ import annotations

import copy
import re
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ScheduleError
from app.schedule.calendar import build_calendar
from app.schedule.expand import AnchorDate
from app.schedule.loader import load_protocol, parse_protocol
from app.schedule.plan import build_plan

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules"
LINE = re.compile(r"^x\.yaml:\d+:\d+: [\w\[\]().-]+: \S.*$")

HEAD = """\
study:
  code: T
  title: Test study
  version: "1"
  target_enrolment: 10
  time_zone: Europe/Paris
  anchor_day: 0
anchors:
  - name: infusion
    label: Infusion
    recorded: later
  - name: transplant
    label: Transplant
    recorded: later
"""  # 14 lines: a file's own lines start at 15


def problems(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(textwrap.dedent(text), source="x.yaml")
    for line in caught.value.problems:
        assert LINE.match(line), line
    return caught.value.problems


def test_both_seed_schedules_load() -> None:
    sle = load_protocol(SCHEDULES / "ucart-sle.yaml")
    mm = load_protocol(str(SCHEDULES / "cart-allo-hsct-rrmm.yaml"))
    assert [v.code for v in build_plan(sle).visits] == [
        "D-2", "D-1", "D0", "D14", "D28", "M3", "M6", "M9", "M12", "M18", "M24"
    ]
    assert sle.study.code == "UCART-SLE" and mm.study.code == "CART-HSCT-MM"
    assert "HSCT-M12" in build_plan(mm).by_code


def test_the_issue_example_negative_window() -> None:
    text = HEAD + """\
visits:
  - code: D0
    name: Day 0
    at: day 0
  - code: D14
    name: Day 14
    at: day 14
    window: {before: 2 days, after: -2 days}
"""
    assert problems(text) == ["x.yaml:22:37: visits[1].window.after: must be >= 0 days"]


def test_type_errors_and_unknown_names_come_in_one_run() -> None:
    text = HEAD + """\
visits:
  - code: D0
    name: Day 0
    at: day 0
    kind: spaceship
  - code: D14
    name: Day 14
    anchor: infuson
    at: day 14
    optional: maybe
"""
    assert problems(text) == [
        "x.yaml:19:11: visits[0].kind: must be 'clinic', 'phone', 'procedure', 'inpatient' or"
        ' \'home\', not "spaceship"',
        'x.yaml:22:13: visits[1].anchor: unknown anchor "infuson" (did you mean "infusion"?);'
        " declared anchors: infusion, transplant",
        'x.yaml:24:15: visits[1].optional: must be true or false, not "maybe"',
    ]


def test_unknown_keys_are_reported_at_the_key() -> None:
    text = HEAD + """\
visits:
  - code: D14
    name: Day 14
    at: day 14
    windw: 2 days
colour: red
"""
    assert problems(text) == [
        'x.yaml:19:5: visits[0].windw: unknown key (did you mean "window"?)',
        "x.yaml:20:1: colour: unknown key; allowed: language, study, amendment, sites,"
        " anchors, default_anchor, event_values, visits, phases, endpoints, periods",
    ]


def test_duplicate_yaml_keys_are_an_error_not_last_wins() -> None:
    text = HEAD + """\
visits:
  - code: D14
    name: Day 14
    at: day 14
    at: day 15
"""
    assert problems(text) == ["x.yaml:19:5: visits[0].at: duplicate key (first at line 18)"]


def test_yaml_syntax_errors_have_a_position() -> None:
    assert problems("study:\n  code: a: b\n") == [
        'x.yaml:2:10: (yaml): the value of "code" holds ": ": put the value in quotes ("...")'
    ]
    (line,) = problems("study: [1, 2\n")
    assert line == ("x.yaml:1:8: (yaml): the [ opened here is not closed with ] (or a comma "
                    "is missing between its items)")


def test_empty_and_non_mapping_documents() -> None:
    assert problems("") == ["x.yaml:1:1: (document): must be a mapping of keys to values, not null"]
    assert problems("- a\n- b\n") == [
        "x.yaml:1:1: (document): must be a mapping of keys to values, not a list"
    ]


def test_missing_sections_and_wrong_scalars() -> None:
    text = """\
study:
  code: T
  version: 1.0
  target_enrolment: many
  time_zone: Mars/Olympus
  anchor_day: 2
anchors: []
"""
    assert problems(text) == [
        "x.yaml:1:1: visits: is required",
        "x.yaml:2:3: study.title: is required",
        'x.yaml:3:12: study.version: must be text, not 1.0 (put it in quotes: "1.0")',
        'x.yaml:4:21: study.target_enrolment: must be a whole number, not "many"',
        'x.yaml:5:14: study.time_zone: "Mars/Olympus" is not an IANA time zone such as'
        ' "Asia/Shanghai"',
        "x.yaml:6:15: study.anchor_day: must be 0 or 1, not 2",
        "x.yaml:7:10: anchors: Tuple should have at least 1 item after validation, not 0",
    ]


def test_cycles_in_visit_relative_timing() -> None:
    text = HEAD + """\
visits:
  - {code: A, name: A, after_visit: C, at: 3 days}
  - {code: B, name: B, after_visit: A, at: 3 days}
  - {code: C, name: C, after_visit: B, at: 3 days}
  - {code: S, name: S, after_visit: S, at: 1 day}
  - {code: OK, name: fine, after_visit: Z, at: 2 days}
  - {code: Z, name: declared later, at: day 1}
"""
    assert problems(text) == [
        "x.yaml:16:37: visits[0].after_visit: timing cycle: A -> C -> B -> A",
        "x.yaml:19:37: visits[3].after_visit: visit S is timed after itself",
    ]


def test_after_visit_targets() -> None:
    text = HEAD + """\
visits:
  - {code: D0, name: D0, at: day 0}
  - {code: X, name: X, after_visit: HSCT-D0, at: 7 days}
  - {code: Y, name: Y, after_visit: D00, at: day 7}
  - {code: W, name: W, after_visit: D0, at: -1 days}
phases:
  - code: HSCT
    name: Transplant
    anchor: transplant
    condition: {values: [CR]}
    visits:
      - {code: HSCT-D0, name: t, at: day 0}
      - {code: HSCT-F, name: after main visit is fine, after_visit: D0, at: 30 days}
"""
    assert problems(text) == [
        "x.yaml:17:37: visits[1].after_visit: a visit of the main schedule cannot be timed"
        " from visit HSCT-D0 of the conditional phase HSCT",
        'x.yaml:18:37: visits[2].after_visit: unknown visit "D00" (did you mean "D0"?)',
        'x.yaml:18:46: visits[2].at: write the time after visit D00 as "7 days", not "day 7"',
    ]  # W, 1 day before D0, is fine


def test_series_templates_and_duplicate_codes_after_expansion() -> None:
    text = HEAD + """\
visits:
  - code: M{n}
    name: Month {n}
    series: {every: 3 months, from: 3 months, to: 12 months}
  - code: M6
    name: Month 6 again
    at: 6 months
  - code: Q
    name: Quarter {x}
    series: {every: 3 months, from: 3 months, to: 6 months}
  - code: T{n
    name: T
    series: {every: 1 week, from: 1 week, to: 2 weeks}
  - code: V{n}
    name: not a series
    at: day 3
  - code: "Month {n}"
    name: spaces
    series: {every: 1 month, from: 1 month, to: 1 month}
"""
    assert problems(text) == [
        'x.yaml:19:11: visits[1].code: duplicate visit code "M6": visits[0] (line 16) already'
        ' makes it from "M{n}"',
        "x.yaml:22:11: visits[2].code: a series code must contain {n} or {i}, or every time"
        " point gets the same code",
        "x.yaml:23:11: visits[2].name: unknown placeholder {x}: use {n} (the time point) or {i}"
        " (the position in the series)",
        "x.yaml:25:11: visits[3].code: bad template: expected '}' before end of string"
        " (write {n} or {i})",
        "x.yaml:28:11: visits[4].code: only the code of a series or of a list of time "
        "points may use {n}, {i} or {day}",
        'x.yaml:31:11: visits[5].code: "Month 1" is not a valid visit code: letters, digits and'
        " _ . + -, starting with a letter or digit",
    ]


def test_study_day_zero_does_not_exist_under_the_day_1_convention() -> None:
    text = HEAD.replace("anchor_day: 0", "anchor_day: 1") + """\
visits:
  - {code: D1, name: D1, at: day 1}
  - {code: D0, name: D0, at: day 0}
endpoints:
  - {code: E, name: E, anchor: infusion, at: [day 0, 6 months, 6 months]}
periods:
  - {code: P, name: P, anchor: infusion, from: day 0, to: day 7}
  - {code: Q, name: Q, anchor: infusion, from: 3 months, to: day 28}
"""
    out = problems(text)
    day0 = "there is no day 0 when study.anchor_day is 1"
    assert [line.split(": ", 2)[1] for line in out] == [
        "visits[1].at", "endpoints[0].code", "endpoints[0].at[0]", "endpoints[0].at[2]",
        "periods[0].from", "periods[1].to",
    ]
    assert out[0].startswith(f"x.yaml:17:30: visits[1].at: {day0}")
    assert "x.yaml:19:12: endpoints[0].code: no visit carries the assessment E" in out[1]
    assert out[3] == 'x.yaml:19:64: endpoints[0].at[2]: time point "6 months" is listed twice'
    assert out[5] == 'x.yaml:22:62: periods[1].to: "day 28" is before "from" (3 months)'


def test_duplicates_of_every_kind_of_code() -> None:
    text = HEAD + """\
  - name: infusion
    label: again
    recorded: later
sites:
  - {code: S1, name: One}
  - {code: S1, name: Two}
default_anchor: consent
visits:
  - {code: D0, name: D0, at: day 0, assessments: [ORR]}
phases:
  - {code: main, name: M, anchor: transplant, condition: {values: [CR]},
     visits: [{code: P1, name: P1, at: day 1}]}
  - {code: main, name: M, anchor: transplnt, condition: {values: [CR]},
     visits: [{code: P2, name: P2, at: day 1}]}
endpoints:
  - {code: ORR, name: ORR, anchor: infusion, at: [6 months], satisfied_by: [D0, P1, P9]}
  - {code: ORR, name: ORR, anchor: infusion, at: [6 months], satisfied_by: []}
periods:
  - {code: P, name: P, anchor: infusion, from: day 0, to: day 7}
  - {code: P, name: P, anchor: infusion, from: day 0, to: day 7}
"""
    paths = [line.split(": ", 2)[1] for line in problems(text)]
    assert paths == [
        "anchors[2].name", "sites[1].code", "default_anchor", "phases[0].code",
        "phases[1].code", "phases[1].code", "phases[1].anchor", "endpoints[0].satisfied_by[1]",
        "endpoints[0].satisfied_by[2]", "endpoints[1].code", "endpoints[1].satisfied_by",
        "periods[1].code",
    ]


def test_endpoints_must_be_satisfiable() -> None:
    text = HEAD + """\
visits:
  - {code: M6, name: M6, at: 6 months, assessments: [ORR]}
endpoints:
  - {code: ORR, name: ORR, anchor: infusion, at: [6 months]}
  - {code: OS, name: OS, anchor: infusion, at: [6 months]}
  - {code: PFS, name: PFS, anchor: infusion, at: [6 months], satisfied_by: [M6]}
"""
    assert problems(text) == [
        "x.yaml:19:12: endpoints[1].code: no visit carries the assessment OS, so this endpoint"
        " can never be met (list it in a visit's assessments)",
        "x.yaml:20:77: endpoints[2].satisfied_by[0]: visit M6 does not carry the assessment PFS",
    ]


def test_unsafe_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = HEAD + f"""\
visits:
  - code: !!python/object/apply:os.system ["touch {marker}"]
    name: x
    at: day 0
"""
    assert problems(text) == [
        "x.yaml:16:11: visits[0].code: the tag !!python/object/apply:os.system is not allowed here"
    ]
    assert not marker.exists()


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    too_large = ("x.yaml:1:1: (document): the document is too large or too deeply nested"
                 " (check its aliases)")
    assert problems("\n".join(lines) + "\n") == [too_large]
    for recursive in ("a: &x [*x]\n", "a: &x {b: *x}\n", "a: &x {<<: *x}\n"):
        assert problems(recursive) == [too_large]


def test_merge_key_bombs_count_against_the_size_guard() -> None:
    # Each level merges the one before ten times: 10**5 merged pairs from a few hundred
    # bytes. Merged pairs used to escape the guard (the duplicates collapse, so the
    # result looked small while building it took minutes at eight levels).
    lines = ["a0: &a0 {x0: 1, y0: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 10) + f"], k{i}: 1}}"
              for i in range(1, 6)]
    assert problems("\n".join(lines) + "\n") == [
        "x.yaml:1:1: (document): the document is too large or too deeply nested"
        " (check its aliases)"
    ]


def test_deep_nesting_is_one_located_problem_not_a_crash() -> None:
    for text in ("a: " + "[" * 5000 + "]" * 5000 + "\n", "a: " + "{b: " * 5000 + "1" + "}" * 5000):
        assert problems(text) == [
            "x.yaml:1:1: (yaml): the document is too deeply nested for a schedule"
        ]


def test_anchors_and_merge_keys_are_plain_yaml() -> None:
    text = HEAD + """\
x-window: &late {before: 0 days, after: 7 days}
visits:
  - {code: D14, name: D14, at: day 14, window: *late}
  - <<: {code: D28, name: from merge, at: day 20}
    at: day 28
"""
    # Merge keys and aliases work; the unknown top-level key is still reported.
    assert problems(text) == ["x.yaml:15:1: x-window: unknown key; allowed: language,"
                              " study, amendment, sites, anchors, default_anchor, event_values,"
                              " visits, phases, endpoints, periods"]
    good = text.replace("x-window: &late", "default_anchor: infusion\n_w: &late").replace(
        "_w:", "#")
    assert "D28" in parse_protocol(good.replace("window: *late", "window: 2 days"),
                                   source="x.yaml").visits[1].code


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScheduleError) as caught:
        load_protocol(binary)
    assert caught.value.problems == [f"{binary}:1:1: (file): is not UTF-8 text"]
    with pytest.raises(ScheduleError) as caught:
        load_protocol(tmp_path / "missing.yaml")
    assert caught.value.problems[0].endswith("(file): cannot read: No such file or directory")


def test_the_complete_examples_of_the_language_reference_are_valid() -> None:
    readme = (SCHEDULES / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    complete = [b for b in blocks if b.startswith("study:")]
    assert complete
    for block in complete:
        plan = build_plan(parse_protocol(block, source="README.md"))
        assert plan.by_code["POSTOP"].after_visit == "SURG"
        assert [v.code for v in plan.visits if v.code.startswith("M")] == [
            "M3", "M6", "M9", "M12"
        ]


# -- robustness: whatever the file says, the loader answers with problems, never a crash --

_SEED = yaml.safe_load((SCHEDULES / "cart-allo-hsct-rrmm.yaml").read_text(encoding="utf-8"))
_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 400), st.floats(allow_nan=False),
    st.sampled_from(["", "x", "{n}", "{", "M{n}", "day 0", "-3 days", "3 months", "infusion",
                     "D0", "HSCT-D0", "M6", "CR"]),
    st.lists(st.sampled_from(["x", "D0", "M{n}", "6 months"]), max_size=3),
    st.fixed_dictionaries({"every": st.sampled_from(["1 months", "0 days", "x"]),
                           "from": st.sampled_from(["1 months", "3 days"]),
                           "to": st.sampled_from(["3 months", "1 months"])}),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else []
    for key, value in children:
        out += _paths(value, prefix + (key,))
    return out


_ALL_PATHS = _paths(_SEED)


@settings(max_examples=60, deadline=None)
@given(edits=st.lists(st.tuples(st.sampled_from(_ALL_PATHS), _JUNK), min_size=1, max_size=4))
def test_mutated_files_give_problems_or_a_usable_protocol(
    edits: list[tuple[tuple[Any, ...], object]],
) -> None:
    data = copy.deepcopy(_SEED)
    for path, value in edits:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
        protocol = parse_protocol(text, source="x.yaml")
    except ScheduleError as exc:
        assert exc.problems and all(LINE.match(line) for line in exc.problems)
        return
    # What the loader accepts, the engine can expand.
    anchors = {a.name: AnchorDate(date(2024, 1, 31)) for a in protocol.anchors}
    build_calendar(build_plan(protocol), anchors, today=date(2024, 6, 1))


def test_an_age_range_may_give_one_bound_but_not_none() -> None:
    visits = "visits:\n  - {code: D7, name: Day 7, at: 7 days}\n"
    minimum = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  age: {min: 50}\n")
    study = parse_protocol(minimum + visits, source="x.yaml").study
    assert study.age is not None and (study.age.min, study.age.max) == (50, None)
    assert str(study.age) == "50 years or older"
    maximum = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  age: {max: 75}\n")
    assert str(parse_protocol(maximum + visits, source="x.yaml").study.age) == "75 years or younger"
    empty = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  age: {}\n")
    reversed_ = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  age: {min: 70, max: 18}\n")
    assert problems(empty + visits) == ["x.yaml:8:8: study.age: give min, max or both"]
    assert problems(reversed_ + visits) == ["x.yaml:8:8: study.age: max must be >= min"]
