"""A schedule file declares the language version it is written in; older files load."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ScheduleError
from app.schedule.loader import load_protocol, parse_protocol
from app.schedule.versions import LANGUAGE_VERSION

ROOT = Path(__file__).resolve().parents[2]
BODY = """\
study: {code: T, title: T, version: "1", target_enrolment: 5, time_zone: UTC, anchor_day: 0}
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - {code: D14, name: Day 14, at: day 14}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(text, source="x.yaml")
    return caught.value.problems


def test_the_current_language_is_version_1() -> None:
    assert LANGUAGE_VERSION == 1


def test_a_file_without_a_version_is_version_1_and_the_seeds_load_unchanged() -> None:
    assert parse_protocol(BODY, source="x.yaml").language == 1
    for seed in ("ucart-sle.yaml", "cart-allo-hsct-rrmm.yaml"):
        text = (ROOT / "schedules" / seed).read_text(encoding="utf-8")
        assert "\nlanguage:" not in text
        assert load_protocol(ROOT / "schedules" / seed).language == 1


def test_a_file_may_declare_version_1() -> None:
    declared = parse_protocol("language: 1\n" + BODY, source="x.yaml")
    assert declared.language == 1
    assert declared.visits == parse_protocol(BODY, source="x.yaml").visits


def test_a_newer_version_is_the_one_problem_reported_at_its_value() -> None:
    # The newer language may have keys this service does not know: they are not reported.
    text = "language: 3\n" + BODY + "  - {code: D28, name: Day 28, at: day 28, new_key: 1}\n"
    assert problems(text) == [
        "x.yaml:1:11: language: this file uses language 3; this service reads up to 1"
    ]


@pytest.mark.parametrize(("value", "expected"), [
    ("0", "x.yaml:1:11: language: must be greater than or equal to 1"),
    ("-2", "x.yaml:1:11: language: must be greater than or equal to 1"),
    ('"1"', 'x.yaml:1:11: language: must be a whole number, not "1"'),
    ("1.5", "x.yaml:1:11: language: must be a whole number, not 1.5"),
    ("true", "x.yaml:1:11: language: must be a whole number, not true"),
])
def test_a_version_that_is_not_a_positive_whole_number(value: str, expected: str) -> None:
    assert problems(f"language: {value}\n" + BODY) == [expected]
