"""Declared event values: the protocol says which values an event may carry."""

from __future__ import annotations

import textwrap

import pytest

from app.errors import ScheduleError
from app.schedule.language import Protocol
from app.schedule.loader import parse_protocol
from app.schedule.vocabulary import closest, refused_value
from tests.helpers_schedule import MM_FILE, SLE_FILE
from tests.unit.test_loader import HEAD, problems

IMWG = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD")

# HEAD is 14 lines: event_values starts on line 15.
VALUES = """\
event_values:
  response:
    - {value: CR, label: Complete response}
    - value: PR
"""  # lines 15-18

PHASE = """\
visits:
  - code: D0
    name: Day 0
    at: day 0
phases:
  - code: HSCT
    name: Transplant
    anchor: transplant
    condition: {event: response, values: [%s]}
    visits:
      - code: T14
        name: Day +14
        at: day 14
"""  # the condition is on the file's line 9 of this block


def parse(text: str) -> Protocol:
    return parse_protocol(textwrap.dedent(text), source="x.yaml")


def test_declared_values_load_in_order_with_their_labels() -> None:
    protocol = parse(HEAD + VALUES + PHASE % "CR")
    terms = protocol.event_values.terms("response")
    assert terms is not None
    assert [(t.value, t.label) for t in terms] == [("CR", "Complete response"), ("PR", None)]
    assert protocol.allowed_values("response") == ("CR", "PR")
    assert protocol.event_values.declared() == {"response": terms}


def test_a_condition_on_an_undeclared_value_is_located_and_names_the_allowed_ones() -> None:
    # Line 15 + 4 lines of VALUES + the condition on the 9th line of PHASE = line 27.
    assert problems(HEAD + VALUES + PHASE % "CR, cr, VGPR") == [
        'x.yaml:27:47: phases[0].condition.values[1]: "cr" is not a declared response value'
        " (did you mean CR?); allowed: CR, PR",
        'x.yaml:27:51: phases[0].condition.values[2]: "VGPR" is not a declared response'
        " value; allowed: CR, PR",
    ]


def test_duplicate_values_are_refused_and_so_are_values_differing_only_in_case() -> None:
    text = HEAD + """\
event_values:
  response:
    - value: CR
    - value: PR
    - value: CR
    - value: pr
""" + PHASE % "CR"
    assert problems(text) == [
        'x.yaml:19:14: event_values.response[2].value: duplicate response value "CR"'
        " (first at event_values.response[0])",
        'x.yaml:20:14: event_values.response[3].value: "pr" differs from "PR"'
        " (first at event_values.response[1]) only in case: declare one of them",
    ]


def test_only_event_types_that_carry_a_value_and_never_an_empty_list() -> None:
    text = HEAD + """\
event_values:
  response: []
  progression:
    - value: PD
""" + PHASE % "CR"
    assert problems(text) == [
        "x.yaml:16:13: event_values.response: Tuple should have at least 1 item after"
        " validation, not 0",
        "x.yaml:17:3: event_values.progression: unknown key; allowed: response",
    ]


def test_values_are_codes() -> None:
    text = HEAD + """\
event_values:
  response:
    - {value: "C R"}
""" + PHASE % "CR"
    assert problems(text) == [
        "x.yaml:17:15: event_values.response[0].value: must be a code: a letter or digit,"
        ' then letters, digits or _ . + - (at most 40), not "C R"',
    ]


def test_without_declared_values_any_code_is_allowed_as_before() -> None:
    """Protocol versions stored before vocabularies existed still load: their phase
    conditions are checked against nothing, and any value may be recorded."""
    protocol = parse(HEAD + PHASE % "CR, cr")
    assert protocol.allowed_values("response") is None
    assert protocol.event_values.declared() == {}
    assert refused_value(protocol, "response", "anything") is None


def test_a_value_outside_the_vocabulary_is_refused_with_a_hint() -> None:
    protocol = parse(HEAD + VALUES + PHASE % "CR")
    assert refused_value(protocol, "response", "CR") is None
    refused = refused_value(protocol, "response", "cr")
    assert refused is not None and refused.allowed == ("CR", "PR")
    assert refused.message == '"cr" is not a declared response value (did you mean CR?);' \
                              " allowed: CR, PR"
    # Event types without declared values are not this module's to refuse.
    assert refused_value(protocol, "progression", "PD") is None


@pytest.mark.parametrize(("value", "meant"), [
    ("cr", "CR"), ("SCR", "sCR"), ("scr", "sCR"), ("vgpr", "VGPR"),
    # Only case: a near miss may be another response (VGPR is one letter from PR).
    ("VGPR-typo", None), ("C", None), ("XYZ", None),
])
def test_the_hint_is_the_value_meant(value: str, meant: str | None) -> None:
    assert closest(value, IMWG) == meant


def test_the_seeds_declare_their_values() -> None:
    mm, sle = parse_protocol(MM_FILE.read_text("utf-8"), source="mm"), parse_protocol(
        SLE_FILE.read_text("utf-8"), source="sle")
    assert mm.allowed_values("response") == IMWG
    assert sle.allowed_values("response") == ("DORIS", "LLDAS", "ACTIVE")
    terms = mm.event_values.terms("response")
    assert terms is not None and all(t.label for t in terms)
    assert {v for p in mm.phases for v in p.condition.values} <= set(IMWG)


def test_a_seed_condition_on_a_lower_case_value_is_refused() -> None:
    text = MM_FILE.read_text("utf-8").replace("values: [CR, sCR]", "values: [cr, sCR]")
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(text, source="mm.yaml")
    [line] = caught.value.problems
    assert 'phases[0].condition.values[0]: "cr" is not a declared response value' \
           " (did you mean CR?); allowed: sCR, CR, VGPR, PR, MR, SD, PD" in line
