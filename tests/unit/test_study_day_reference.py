"""One study-day reference for the whole calendar (``study.study_day_from``)."""

from __future__ import annotations

from datetime import date

from app.schedule.expand import AnchorDate
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from tests.helpers_schedule import expanded
from tests.unit.test_loader import HEAD, problems

BODY = """\
visits:
  - {code: D14, name: Day 14, at: day 14}
phases:
  - code: HSCT
    name: Transplant
    anchor: transplant
    condition: {values: [CR]}
    visits:
      - {code: HSCT-D14, name: Transplant day 14, at: day 14}
"""
ANCHORS = {"infusion": AnchorDate(date(2025, 1, 1)), "transplant": AnchorDate(date(2025, 3, 1))}


def test_each_visit_counts_from_its_own_anchor_by_default() -> None:
    plan = build_plan(parse_protocol(HEAD + BODY, source="x.yaml"))
    days = {c: v.study_day for c, v in expanded(plan, ANCHORS).items()}
    assert days == {"D14": 14, "HSCT-D14": 14}


def test_a_declared_reference_gives_one_day_numbering() -> None:
    text = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  study_day_from: infusion\n")
    plan = build_plan(parse_protocol(text + BODY, source="x.yaml"))
    days = {c: v.study_day for c, v in expanded(plan, ANCHORS).items()}
    assert days == {"D14": 14, "HSCT-D14": 73}  # 2025-03-15 is 73 days after 1 January
    assert plan.protocol.reference_anchor == "infusion"
    undated = {c: v.study_day for c, v in expanded(plan, {"transplant": ANCHORS["transplant"]})
               .items()}
    assert undated["HSCT-D14"] is None  # no reference date, no study day


def test_the_reference_must_be_a_declared_anchor() -> None:
    text = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  study_day_from: infusoin\n")
    assert problems(text + BODY) == [
        'x.yaml:8:19: study.study_day_from: unknown anchor "infusoin" (did you mean'
        ' "infusion"?); declared anchors: infusion, transplant',
    ]
