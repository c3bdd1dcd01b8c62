"""The pure diff on the sections the SLE amendment leaves alone: phases, periods and
event vocabularies (the myeloma seed has all three)."""

from __future__ import annotations

from app.schedule.amendment import Change, ChangeKind, Section, diff_plans
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan, build_plan
from tests.helpers_subjects import seed_text

MM_TEXT = seed_text("cart-allo-hsct-rrmm.yaml")


def _plan(text: str) -> Plan:
    return build_plan(parse_protocol(text, source="mm.yaml"))


def test_phases_periods_and_vocabulary() -> None:
    amended = (
        MM_TEXT.replace('version: "1.1"', 'version: "1.2"')
        .replace("    closes_on: [progression]   #", "    closes_on: [progression, death]   #")
        .replace("    - {value: MR, label: Minimal response}\n", "")
        .replace("    from: day 0\n    to: day 7", "    from: day 0\n    to: day 10", 1)
    )
    assert amended.count("day 10") == MM_TEXT.count("day 10") + 1
    diff = diff_plans(_plan(MM_TEXT), _plan(amended))
    assert diff.amendment is None and diff.to_version == "1.2"
    assert diff.of(Section.PHASE) == (Change(
        Section.PHASE, "HSCT", ChangeKind.CHANGED, "closes_on", "progression",
        "progression, death"),)
    assert diff.of(Section.PERIOD) == (Change(
        Section.PERIOD, "INPATIENT", ChangeKind.RETIMED, "span", "day 0 .. day 7",
        "day 0 .. day 10"),)
    assert diff.of(Section.VOCABULARY) == (Change(
        Section.VOCABULARY, "response", ChangeKind.REMOVED, "value", "MR", None),)
    assert diff.of(Section.VISIT) == () and diff.of(Section.ENDPOINT) == ()


def test_the_same_version_has_no_changes() -> None:
    assert diff_plans(_plan(MM_TEXT), _plan(MM_TEXT)).changes == ()
