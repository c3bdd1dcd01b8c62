"""Golden calendars of the example protocols in schedules/examples/.

The expected dates are in tests/golden/examples/*.csv, written by hand from each
protocol's rules (month ends, leap years, the anchor as Day 0 or as Day 1), never
copied from the program's output: a difference is a question about the engine or the
file, not a file to regenerate.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import jsonschema
import pytest
import yaml

from app.schedule.calendar import Calendar, build_calendar
from app.schedule.expand import AnchorDate, ExpandedVisit, VisitRecord, expand
from app.schedule.jsonschema import SCHEMA_FILE
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import load_protocol
from app.schedule.plan import Plan, build_plan
from app.schedule.status import State
from tests.helpers_schedule import ROOT

EXAMPLES = ROOT / "schedules" / "examples"
GOLDEN = ROOT / "tests" / "golden" / "examples"
KARMMA_FILE = EXAMPLES / "karmma-ide-cel.yaml"
LZZT_FILE = EXAMPLES / "lzzt-xanomeline.yaml"
ZUMA1_FILE = EXAMPLES / "zuma1-axi-cel.yaml"

Row = tuple[str, ...]


def d(text: str) -> date:
    return date.fromisoformat(text)


def golden(name: str) -> dict[str, Row]:
    """The rows of a hand-written CSV by visit code, in the file's order."""
    with (GOLDEN / name).open(encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    reader = csv.DictReader(lines)
    columns = reader.fieldnames
    assert columns is not None
    return {row["code"]: tuple(row[c] for c in columns) for row in reader}


def actual_row(visit: ExpandedVisit, with_provisional: bool) -> Row:
    def iso(value: date | None) -> str:
        return "" if value is None else value.isoformat()

    row = (visit.code, visit.state.value, iso(visit.target_date), iso(visit.window_start),
           iso(visit.window_end), "" if visit.study_day is None else str(visit.study_day))
    return row + (str(visit.provisional).lower(),) if with_provisional else row


def rows(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: tuple[Event, ...] = (),
    records: Mapping[str, VisitRecord] | None = None,
    *,
    with_provisional: bool = False,
) -> dict[str, Row]:
    return {v.code: actual_row(v, with_provisional)
            for v in expand(plan, anchors, events, records).visits}


# -- KarMMa (ide-cel, NCT03361748) ----------------------------------------------------

KARMMA_ANCHORS = {
    "consent": AnchorDate(d("2023-12-04")),
    "leukapheresis": AnchorDate(d("2023-12-18")),
    "infusion": AnchorDate(d("2024-01-31")),
}
PROGRESSION = Event(EventType.PROGRESSION, d("2024-09-10"))


@pytest.fixture(scope="module")
def karmma() -> Plan:
    return build_plan(load_protocol(KARMMA_FILE))


def karmma_calendar(plan: Plan, *events: Event) -> Calendar:
    return build_calendar(plan, KARMMA_ANCHORS, events, today=d("2024-02-01"))


def test_karmma_calendar_is_the_hand_written_one(karmma: Plan) -> None:
    expected = golden("karmma-ide-cel.csv")
    got = rows(karmma, KARMMA_ANCHORS)
    assert list(got) == list(expected)  # every visit, in the protocol's order
    assert [got[c] for c in expected] == list(expected.values())


def test_karmma_after_progression_is_the_hand_written_one(karmma: Plan) -> None:
    expected = golden("karmma-ide-cel.csv") | golden("karmma-ide-cel-progression.csv")
    got = rows(karmma, KARMMA_ANCHORS, (PROGRESSION,))
    assert list(got) == list(expected)
    assert [got[c] for c in expected] == list(expected.values())


def test_karmma_yearly_follow_up_is_covered_by_the_main_visit_on_its_day(karmma: Plan) -> None:
    visits = {v.code: v for v in expand(karmma, KARMMA_ANCHORS).visits}
    assert visits["LTFU-Y1"].reason == "covered by visit M12 (2025-01-31)"
    assert visits["LTFU-Y5"].reason == "covered by visit M60 (2029-01-31)"


def test_karmma_a_survival_call_does_not_cover_a_yearly_visit(karmma: Plan) -> None:
    """Only a main-schedule clinic visit covers a yearly visit (covered_by). After a
    progression on 2024-10-20, M12 (2025-01-31) is cancelled, and the survival calls of
    2025-01-20 (3 months after it, 11 days before year 1) and 2026-01-20 (15 months, 11
    days before year 2) leave years 1 and 2 planned, with their +/- 30 day windows."""
    late = Event(EventType.PROGRESSION, d("2024-10-20"))
    visits = {v.code: v for v in expand(karmma, KARMMA_ANCHORS, (late,)).visits}
    assert (visits["SURV3"].target_date, visits["SURV15"].target_date) == (
        d("2025-01-20"), d("2026-01-20"))
    assert visits["M12"].state is State.CANCELLED
    got = {c: (visits[c].state, visits[c].reason, visits[c].target_date,
               visits[c].window_start, visits[c].window_end) for c in ("LTFU-Y1", "LTFU-Y2")}
    assert got == {
        "LTFU-Y1": (State.PLANNED, None, d("2025-01-31"), d("2025-01-01"), d("2025-03-02")),
        "LTFU-Y2": (State.PLANNED, None, d("2026-01-31"), d("2026-01-01"), d("2026-03-02")),
    }


def test_karmma_periods_span_two_anchors(karmma: Plan) -> None:
    spans = {p.code: (p.start, p.end) for p in karmma_calendar(karmma).periods}
    assert spans == {
        # the day after leukapheresis to the day before lymphodepletion (Day -6)
        "BRIDGING": (d("2023-12-19"), d("2024-01-25")),
        "LYMPHODEPLETION": (d("2024-01-26"), d("2024-01-28")),
        "INPATIENT": (d("2024-01-31"), d("2024-02-13")),
    }


def test_karmma_endpoint_windows(karmma: Plan) -> None:
    windows = {e.code: (e.target_date, e.window_start, e.window_end)
               for e in karmma_calendar(karmma).endpoints}
    assert len(windows) == 4 + 10 + 10
    assert [windows[f"ORR@{n}"] for n in ("1 month", "3 months", "6 months", "12 months")] == [
        (d("2024-02-29"), d("2024-02-22"), d("2024-03-07")),  # 31 Jan + 1 month, leap year
        (d("2024-04-30"), d("2024-04-23"), d("2024-05-07")),
        (d("2024-07-31"), d("2024-07-24"), d("2024-08-07")),
        (d("2025-01-31"), d("2025-01-24"), d("2025-02-07")),
    ]
    assert windows["PFS@6 months"] == (d("2024-07-31"), d("2024-07-03"), d("2024-08-28"))
    assert windows["OS@60 months"] == (d("2029-01-31"), d("2029-01-03"), d("2029-02-28"))


def test_karmma_survival_phase_opens_at_progression_only(karmma: Plan) -> None:
    assert karmma_calendar(karmma).phases["SURV"].value == "pending"
    assert karmma_calendar(karmma, PROGRESSION).phases["SURV"].value == "active"


# -- LZZT (xanomeline TTS, the CDISC pilot protocol) -----------------------------------

LZZT_ANCHORS = {"first_dose": AnchorDate(d("2024-03-01"))}
LZZT_DONE = {
    "WK8": VisitRecord(State.COMPLETED, d("2024-05-02")),
    "WK12": VisitRecord(State.COMPLETED, d("2024-05-22")),
}


@pytest.fixture(scope="module")
def lzzt() -> Plan:
    return build_plan(load_protocol(LZZT_FILE))


def test_lzzt_calendar_is_the_hand_written_one(lzzt: Plan) -> None:
    expected = golden("lzzt-xanomeline.csv")
    got = rows(lzzt, LZZT_ANCHORS, with_provisional=True)
    assert sorted(got) == sorted(expected)
    assert [got[c] for c in expected] == list(expected.values())


def test_lzzt_telephone_contacts_follow_the_day_the_visit_was_done(lzzt: Plan) -> None:
    expected = golden("lzzt-xanomeline.csv") | golden("lzzt-xanomeline-done.csv")
    got = rows(lzzt, LZZT_ANCHORS, records=LZZT_DONE, with_provisional=True)
    assert sorted(got) == sorted(expected)
    assert [got[c] for c in expected] == list(expected.values())


def test_lzzt_windowless_visits_are_never_graded(lzzt: Plan) -> None:
    visits = {v.code: v for v in expand(lzzt, LZZT_ANCHORS).visits}
    assert {c for c, v in visits.items() if not v.graded} == {
        "SCR1", "SCR2", "TEL10", "TEL14", "TEL18", "TEL22"}
    assert {v.kind for c, v in visits.items() if c.startswith("TEL")} == {"phone"}


def test_lzzt_periods(lzzt: Plan) -> None:
    calendar = build_calendar(lzzt, LZZT_ANCHORS, today=d("2024-03-01"))
    assert {p.code: (p.start, p.end) for p in calendar.periods} == {
        "AMBUL-ECG": (d("2024-02-28"), d("2024-03-01")),
        "TREATMENT": (d("2024-03-01"), d("2024-08-16")),  # Day 1 + 24 weeks
    }


# -- ZUMA-1 (axi-cel, NCT02348216) ----------------------------------------------------

ZUMA1_ANCHORS = {
    "consent": AnchorDate(d("2023-07-24")),
    "leukapheresis": AnchorDate(d("2023-08-07")),
    "infusion": AnchorDate(d("2023-08-31")),
}
ZUMA1_PROGRESSION = Event(EventType.PROGRESSION, d("2024-05-31"))
ZUMA1_WITHDRAWAL = Event(EventType.WITHDRAWAL, d("2024-01-31"))


@pytest.fixture(scope="module")
def zuma1() -> Plan:
    return build_plan(load_protocol(ZUMA1_FILE))


def test_zuma1_calendar_is_the_hand_written_one(zuma1: Plan) -> None:
    expected = golden("zuma1-axi-cel.csv")
    got = rows(zuma1, ZUMA1_ANCHORS)
    assert list(got) == list(expected)  # every visit, in the protocol's order
    assert [got[c] for c in expected] == list(expected.values())


def test_zuma1_after_progression_is_the_hand_written_one(zuma1: Plan) -> None:
    expected = golden("zuma1-axi-cel.csv") | golden("zuma1-axi-cel-progression.csv")
    got = rows(zuma1, ZUMA1_ANCHORS, (ZUMA1_PROGRESSION,))
    assert list(got) == list(expected)
    assert [got[c] for c in expected] == list(expected.values())


def test_zuma1_after_withdrawal_is_the_hand_written_one(zuma1: Plan) -> None:
    expected = golden("zuma1-axi-cel.csv") | golden("zuma1-axi-cel-withdrawal.csv")
    got = rows(zuma1, ZUMA1_ANCHORS, (ZUMA1_WITHDRAWAL,))
    assert list(got) == list(expected)
    assert [got[c] for c in expected] == list(expected.values())


def test_zuma1_phases_open_on_their_own_event_only(zuma1: Plan) -> None:
    def phases(*events: Event) -> dict[str, str]:
        calendar = build_calendar(zuma1, ZUMA1_ANCHORS, events, today=d("2024-02-05"))
        return {code: state.value for code, state in calendar.phases.items()}

    assert phases() == {"SURV": "pending", "ET": "pending"}
    assert phases(ZUMA1_PROGRESSION) == {"SURV": "active", "ET": "pending"}
    assert phases(ZUMA1_WITHDRAWAL) == {"SURV": "not_applicable", "ET": "active"}


def test_zuma1_periods_and_endpoint_windows(zuma1: Plan) -> None:
    calendar = build_calendar(zuma1, ZUMA1_ANCHORS, today=d("2023-09-01"))
    assert {p.code: (p.start, p.end) for p in calendar.periods} == {
        "CONDITIONING": (d("2023-08-26"), d("2023-08-28")),  # Days -5 to -3
        "INPATIENT": (d("2023-08-31"), d("2023-09-07")),  # Day 0 to Day 7
    }
    windows = {e.code: (e.target_date, e.window_start, e.window_end)
               for e in calendar.endpoints}
    assert len(windows) == 3 + 10
    assert [windows[f"ORR@{n}"] for n in ("4 weeks", "3 months", "6 months")] == [
        (d("2023-09-28"), d("2023-09-24"), d("2023-10-02")),
        (d("2023-11-30"), d("2023-11-26"), d("2023-12-04")),  # 31 August + 3 months
        (d("2024-02-29"), d("2024-02-25"), d("2024-03-04")),  # leap year
    ]
    assert windows["OS@60 months"] == (d("2028-08-31"), d("2028-08-17"), d("2028-09-14"))


def test_the_golden_files_are_all_used() -> None:
    used = {"karmma-ide-cel.csv", "karmma-ide-cel-progression.csv", "lzzt-xanomeline.csv",
            "lzzt-xanomeline-done.csv", "zuma1-axi-cel.csv", "zuma1-axi-cel-progression.csv",
            "zuma1-axi-cel-withdrawal.csv"}
    assert {p.name for p in Path(GOLDEN).glob("*.csv")} == used


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_point_editors_at_the_schema_and_satisfy_it(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../schedule.schema.json"
    schema = json.loads((ROOT / "schedules" / SCHEMA_FILE).read_text(encoding="utf-8"))
    errors = jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text))
    assert [e.message for e in errors] == []
