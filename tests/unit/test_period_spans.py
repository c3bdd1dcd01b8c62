"""Periods whose two ends count from two anchors (``to_anchor``)."""

from __future__ import annotations

import textwrap
from datetime import date

from app.schedule.calendar import periods
from app.schedule.expand import AnchorDate
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from tests.unit.test_loader import HEAD, problems

BRIDGING = HEAD + textwrap.dedent("""\
    visits:
      - {code: D0, name: Infusion, at: day 0}
    periods:
      - code: BRIDGING
        name: Bridging therapy
        anchor: transplant
        from: 1 day
        to_anchor: infusion
        to: -1 day
    """)


def test_a_span_from_one_anchor_to_another() -> None:
    plan = build_plan(parse_protocol(BRIDGING, source="x.yaml"))
    both = {"transplant": AnchorDate(date(2025, 1, 6)), "infusion": AnchorDate(date(2025, 2, 3))}
    (span,) = periods(plan, both)
    assert (span.start, span.end, span.provisional) == (date(2025, 1, 7), date(2025, 2, 2), False)
    assert (span.anchor, span.end_anchor) == ("transplant", "infusion")
    planned = both | {"infusion": AnchorDate(date(2025, 2, 10), actual=False)}
    (span,) = periods(plan, planned)
    assert (span.end, span.provisional) == (date(2025, 2, 9), True)
    (span,) = periods(plan, {"transplant": both["transplant"]})
    assert (span.start, span.end) == (None, None)  # dated once both anchors are


def test_the_end_anchor_must_exist_and_the_order_is_left_to_the_dates() -> None:
    text = BRIDGING.replace("to_anchor: infusion", "to_anchor: infusoin")
    assert problems(text) == [
        'x.yaml:22:16: periods[0].to_anchor: unknown anchor "infusoin" (did you mean'
        ' "infusion"?); declared anchors: infusion, transplant',
    ]
    same = BRIDGING.replace("to_anchor: infusion", "to_anchor: transplant")
    assert problems(same) == ['x.yaml:23:9: periods[0].to: "-1 day" is before "from" (1 day)']


def test_an_endpoint_series_gives_the_same_windows_as_its_list() -> None:
    def endpoint(*timing: str) -> str:
        return HEAD + "\n".join([
            "visits:",
            '  - {code: "M{n}", name: Month, assessments: [OS], window: 14 days,',
            "     series: {every: 6 months, from: 6 months, to: 24 months}}",
            "endpoints:",
            "  - code: OS",
            "    name: Overall survival",
            "    anchor: infusion",
            *(f"    {line}" for line in timing),
            "    window: 14 days",
            "",
        ])
    listed = build_plan(parse_protocol(
        endpoint("at: [6 months, 12 months, 18 months, 24 months]"), source="x.yaml"))
    series = build_plan(parse_protocol(
        endpoint("series: {every: 6 months, from: 6 months, to: 24 months}"), source="x.yaml"))
    (ep,) = series.protocol.endpoints
    assert [str(d) for d in ep.time_points] == ["6 months", "12 months", "18 months", "24 months"]
    assert ep.time_points == listed.protocol.endpoints[0].time_points
    both = endpoint("at: [6 months]", "series: {every: 6 months, from: 6 months, to: 12 months}")
    assert problems(both) == [
        "x.yaml:19:5: endpoints[0]: give exactly one of 'at' or 'series'",
    ]
