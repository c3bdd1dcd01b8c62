"""CDISC USDM v4 -> schedule YAML: the two CDISC examples pinned, timings by hand, refusals.

The imported YAML of both example files is compared exactly with tests/golden/usdm-*.yaml.
When a change is meant to alter it, regenerate and review the diff::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_usdm.py

The dates below are checked by hand through the real loader and engine, so that
regenerating can never silently accept a wrong schedule.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.errors import ScheduleError
from app.schedule.calendar import build_calendar
from app.schedule.expand import AnchorDate
from app.schedule.language import Protocol
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.usdm import UsdmImport, Warning, import_usdm

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "standards" / "usdm-4"
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PILOT = DATA / "CDISC_Pilot_Study.json"
OBSERVATIONAL = DATA / "observational.json"
TIMELINE = "$.study.versions[0].studyDesigns[0].scheduleTimelines[0]"


def imported(path: Path, timeline: str | None = None) -> UsdmImport:
    return import_usdm(path.read_text(encoding="utf-8"), source=path.name, timeline=timeline)


def targets(protocol: Protocol, anchor: str, day: date) -> dict[str, tuple[date, date, date]]:
    """Each visit's (target, window start, window end) for an actual anchor date."""
    plan = build_plan(protocol)
    cal = build_calendar(plan, {anchor: AnchorDate(day)}, (), {}, today=day)
    out = {}
    for item in cal.visits:
        v = item.visit
        if v.phase != "main":
            continue  # a phase opened by an event, not by the anchor
        assert v.target_date and v.window_start and v.window_end
        out[v.code] = (v.target_date, v.window_start, v.window_end)
    return out


@pytest.mark.parametrize("path", [PILOT, OBSERVATIONAL], ids=["pilot", "observational"])
def test_golden_yaml(path: Path) -> None:
    golden = GOLDEN / f"usdm-{path.stem}.yaml"
    text = imported(path).yaml
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden.name} is missing: run UPDATE_GOLDEN=1 pytest {__file__}")
    assert text == golden.read_text(encoding="utf-8")


def test_pilot_is_its_protocols_schedule() -> None:
    result = imported(PILOT)
    protocol = parse_protocol(result.yaml, source="pilot.yaml")
    assert (protocol.study.code, protocol.study.version) == ("H2Q-MC-LZZT", "2")
    assert protocol.study.registry_id == "NCT12345678"
    assert protocol.study.target_enrolment == 300
    assert protocol.study.anchor_day == 1  # the Fixed Reference P1D: the dose is Day 1
    assert [(a.name, a.recorded) for a in protocol.anchors] == [("dose", "later")]
    names = {v.code: v.name for v in protocol.visits}
    assert names["E4"] == "Week 2" and names["E3"] == "Baseline"

    day1 = date(2026, 1, 5)
    t = targets(protocol, "dose", day1)
    assert list(t) == ["E1", "E2", "E3", "E4", "E5", "E7", "E8", "E8-2", "E9", "E9-2",
                       "E10", "E10-2", "E11", "E11-2", "E12", "E13"]
    # Week 2 is 14 days after Day 1, 3 days either side.
    assert t["E4"] == (date(2026, 1, 19), date(2026, 1, 16), date(2026, 1, 22))
    assert t["E3"] == (day1, day1, day1)  # the dose itself
    assert t["E1"][0] == day1 - timedelta(days=14)  # screening: Before P2W
    assert t["E2"][0] == day1 - timedelta(days=2)  # Before P2D (its -4 h window dropped)
    assert t["E9"] == (day1 + timedelta(weeks=12), date(2026, 3, 26), date(2026, 4, 3))
    # Week 8 Home: After P2W from Week 8 (After P8W from the dose), summed: week 10.
    assert t["E8-2"] == (day1 + timedelta(weeks=10),) * 3
    assert t["E13"][0] == day1 + timedelta(weeks=26)
    plan = build_plan(protocol)
    days = {v.code: v.study_day for v in build_calendar(
        plan, {"dose": AnchorDate(day1)}, (), {}, today=day1).visits for v in (v.visit,)}
    assert (days["E1"], days["E3"], days["E4"]) == (-14, 1, 15)  # no Day 0


def test_pilot_warnings_and_other_timelines() -> None:
    result = imported(PILOT)
    assert result.timeline == "Main Timeline"
    assert result.other_timelines == (
        "Adverse Event Timeline", "Vital Sign Blood Pressure Timeline",
    )
    assert result.phase_timelines == ("Early Termination Timeline",)
    et = "$.study.versions[0].studyDesigns[0].scheduleTimelines[2]"
    assert [str(w) for w in result.warnings] == [
        f"{TIMELINE}.timings[1].windowLower: PT4H is shorter than a day or not whole days: "
        "0 day(s) on that side",
        f"{et}.instances[0]: ScheduledActivityInstance_2 has no window: it is due on its day"
        " only; add the protocol's window by hand",
        f'{et}.entryCondition: "Subject terminates the study early" is read as a withdrawal:'
        " its visits count from the withdrawal's date",
    ]
    # The path names the value it speaks of.
    assert resolve(json.loads(PILOT.read_text()), result.warnings[0].path) == "PT4H"
    assert "# Other timelines, not imported (--timeline NAME): \"Adverse Event Timeline\"" in (
        result.yaml)
    assert resolve(json.loads(PILOT.read_text()), result.warnings[2].path) == (
        "Subject terminates the study early")


def test_pilot_early_termination_is_a_phase_opened_by_withdrawal() -> None:
    protocol = parse_protocol(imported(PILOT).yaml, source="pilot.yaml")
    [phase] = protocol.phases
    assert (phase.code, phase.condition.event, [v.code for v in phase.visits]) == (
        "ET", "withdrawal", ["ET"])
    plan = build_plan(protocol)
    day1, withdrawn = date(2026, 1, 5), date(2026, 2, 27)  # withdrawn in week 8
    on_study = {v.visit.code: v.visit for v in build_calendar(
        plan, {"dose": AnchorDate(day1)}, (), {}, today=withdrawn).visits}
    assert (on_study["ET"].state.value, on_study["ET"].target_date) == ("pending", None)
    cal = build_calendar(plan, {"dose": AnchorDate(day1)},
                         (Event(EventType.WITHDRAWAL, withdrawn),), {}, today=withdrawn)
    visits = {v.visit.code: v for v in cal.visits}
    et = visits["ET"].visit
    # Due on the day of the withdrawal (USDM gives it no window), not cancelled by it.
    assert (et.state.value, et.target_date, et.window_start, et.window_end) == (
        "planned", withdrawn, withdrawn, withdrawn)
    assert visits["ET"].info.status.value == "due"
    # Week 8 (target 2 March, window 27 February..5 March) was still open: cancelled.
    assert visits["E8"].visit.state.value == "cancelled"


def test_observational_warnings_are_pinned() -> None:
    result = imported(OBSERVATIONAL)
    assert [(w.path, w.message) for w in result.warnings] == [
        (f"{TIMELINE}.instances[4].conditionAssignments[0].condition",
         'decision ScheduledDecisionInstance_1 "PROG": the free-text condition "if opted out" '
         '(go to ScheduledActivityInstance_6 "FU") is not translated; the visits it skips are '
         "made optional"),
        (f"{TIMELINE}.timings[1].value",
         "PT15M is shorter than a day or not whole days: counted as 0 day(s), the hours and "
         "minutes are dropped"),
        (f"{TIMELINE}.timings[1].windowLower",
         "PT4H is shorter than a day or not whole days: 0 day(s) on that side"),
    ]
    doc = json.loads(OBSERVATIONAL.read_text())
    assert [resolve(doc, w.path) for w in result.warnings] == ["if opted out", "PT15M", "PT4H"]
    protocol = parse_protocol(result.yaml, source="observational.yaml")
    visits = {v.code: v for v in protocol.visits}
    assert [c for c, v in visits.items() if v.optional] == ["E5"]  # Day 28, skipped if opted out
    assert visits["E6"].kind == "phone"  # at home, by telephone
    day1 = date(2026, 1, 5)
    t = targets(protocol, "dose", day1)
    # Baseline is 15 minutes before the dose: its day; screening 2 days before that.
    assert t["E2"][0] == day1 and t["E1"][0] == day1 - timedelta(days=2)
    assert t["E4"] == (date(2026, 1, 19), date(2026, 1, 18), date(2026, 1, 20))


def resolve(doc: Any, path: str) -> Any:
    """Follow a ``$.a.b[0].c`` path (the warnings' form) into a JSON document."""
    assert path.startswith("$")
    node = doc
    for part in path[1:].replace("[", ".[").split("."):
        if not part:
            continue
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


# -- timings by hand, on a small document -----------------------------------------------


def _code(decode: str) -> dict[str, Any]:
    return {"id": f"Code_{decode}", "decode": decode, "instanceType": "Code"}


def _timing(n: int, of: str, kind: str, value: str, to: str | None = None,
            lower: str | None = None, upper: str | None = None) -> dict[str, Any]:
    return {"id": f"Timing_{n}", "name": f"T{n}", "type": _code(kind), "value": value,
            "relativeFromScheduledInstanceId": of, "relativeToScheduledInstanceId": to or of,
            "windowLower": lower, "windowUpper": upper, "relativeToFrom": _code("Start to Start")}


def _instance(name: str, encounter: str | None = None) -> dict[str, Any]:
    return {"id": name, "name": name, "label": name.title(), "encounterId": encounter,
            "instanceType": "ScheduledActivityInstance"}


def small(timings: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """A USDM document of one design whose instances each have their own encounter."""
    return {
        "usdmVersion": "4.0.0",
        "study": {"id": "Study_1", "name": "SMALL", "versions": [{
            "versionIdentifier": "3",
            "studyIdentifiers": [{"text": "SM-1", "scopeId": "Org_1"}],
            "organizations": [{"id": "Org_1", "type": _code("Clinical Study Sponsor")}],
            "titles": [{"text": "A small study", "type": _code("Official Study Title")}],
            "studyDesigns": [{
                "encounters": [{"id": f"Enc_{n}", "name": n.upper(), "label": n.title()}
                               for n in names],
                "population": {"plannedEnrollmentNumber": {"value": 20}},
                "scheduleTimelines": [
                    {"id": "TL_1", "name": "Main", "mainTimeline": True, "entryId": names[0],
                     "instances": [_instance(n, f"Enc_{n}") for n in names],
                     "timings": timings},
                    {"id": "TL_2", "name": "Side", "mainTimeline": False, "entryId": "x",
                     "instances": [], "timings": []},
                ],
            }],
        }]},
    }


def run(doc: dict[str, Any], timeline: str | None = None) -> UsdmImport:
    return import_usdm(json.dumps(doc), source="small.json", timeline=timeline)


def test_months_stay_calendar_months_and_mixed_chains_use_after_visit() -> None:
    doc = small([
        _timing(1, "base", "Fixed Reference", "P1D"),
        _timing(2, "m3", "After", "P3M", "base", "P7D", "P7D"),
        _timing(3, "m3b", "After", "P2W", "m3"),  # 3 months + 2 weeks: no one duration
        _timing(4, "y1", "After", "P1Y", "base", "P2W", "P1W"),
        _timing(5, "pre", "Before", "P1W", "base"),
    ], ["base", "m3", "m3b", "y1", "pre"])
    result = run(doc)
    assert result.warnings == ()
    protocol = parse_protocol(result.yaml, source="small.yaml")
    visits = {v.code: v for v in protocol.visits}
    assert str(visits["M3"].at) == "3 months" and visits["M3"].after_visit is None
    assert (visits["M3B"].after_visit, str(visits["M3B"].at)) == ("M3", "2 weeks")
    assert "mixes months and days, so it is timed after_visit M3" in result.yaml
    assert str(visits["Y1"].at) == "12 months"
    assert (str(visits["Y1"].window.before), str(visits["Y1"].window.after)) == (
        "2 weeks", "1 week")
    t = targets(protocol, "base", date(2025, 11, 30))
    assert t["M3"][0] == date(2026, 2, 28)  # calendar months, never 90 days
    assert t["M3B"][0] == date(2026, 3, 14)  # from M3's (target) date
    assert t["Y1"][0] == date(2026, 11, 30)
    assert t["PRE"][0] == date(2025, 11, 23)


def test_a_fixed_reference_of_day_0_gives_the_day_0_convention() -> None:
    doc = small([_timing(1, "inf", "Fixed Reference", "P0D"),
                 _timing(2, "d7", "After", "P7D", "inf", "P1D", "P2D")], ["inf", "d7"])
    protocol = parse_protocol(run(doc).yaml, source="small.yaml")
    assert protocol.study.anchor_day == 0
    visits = {v.code: v for v in protocol.visits}
    assert str(visits["INF"].at) == "day 0" and visits["INF"].records == "inf"
    assert (str(visits["D7"].window.before), str(visits["D7"].window.after)) == (
        "1 day", "2 days")


def test_what_cannot_be_translated_is_a_warning_at_its_path() -> None:
    doc = small([
        _timing(1, "base", "Fixed Reference", "P1D"),
        _timing(2, "odd", "After", "P1M2D", "base"),  # months and days in one value
        _timing(3, "win", "After", "P2M", "base", "P1M", "P1M"),
        _timing(4, "lost", "After", "P1D", "elsewhere"),
        _timing(5, "bad", "After", "two days", "base"),
        _timing(6, "a", "After", "P1D", "b"),
        _timing(7, "b", "After", "P1D", "a"),
    ], ["base", "odd", "win", "lost", "bad", "a", "b", "none"])
    doc["study"]["versions"][0]["studyDesigns"][0]["scheduleTimelines"][0]["instances"].append(
        _instance("lab"))
    result = run(doc)
    path = "$.study.versions[0].studyDesigns[0].scheduleTimelines[0]"
    got = [str(w) for w in result.warnings]
    # In the order of the instances they concern.
    assert got == [
        f'{path}.instances[1]: odd "odd" falls 1 month +2 days from the anchor, which no '
        "duration of the schedule language says and no after_visit can chain: left out",
        f'{path}.timings[2].windowLower: "P1M" is in months: the visit is given no window',
        f'{path}.timings[3].relativeToScheduledInstanceId: "elsewhere" is not an instance of '
        'this timeline: lost "lost" is left out',
        f'{path}.timings[4].value: "two days" is not an ISO 8601 duration: bad "bad" is left out',
        f"{path}.timings[5]: the timings chain in a circle: a -> b -> a",
        f'{path}.timings[6]: b "b" is timed from a "a", which has no time: left out',
        f'{path}.timings[5]: a "a" is timed from b "b", which has no time: left out',
        f'{path}.instances[7]: none "none" has no timing: left out',
        f'{path}.instances[8]: lab "lab" has no encounter: not a visit',
    ]
    protocol = parse_protocol(result.yaml, source="small.yaml")
    assert [v.code for v in protocol.visits] == ["BASE", "WIN"]


def test_another_timeline_by_name_and_its_refusals() -> None:
    doc = small([_timing(1, "base", "Fixed Reference", "P1D")], ["base"])
    side = doc["study"]["versions"][0]["studyDesigns"][0]["scheduleTimelines"][1]
    side.update(instances=[_instance("fu", "Enc_base")],
                timings=[_timing(9, "fu", "Fixed Reference", "P1D")])
    result = run(doc, timeline="Side")
    assert (result.timeline, result.other_timelines) == ("Side", ("Main",))
    assert "no Fixed Reference" not in result.yaml
    assert [v.code for v in parse_protocol(result.yaml, source="s.yaml").visits] == ["BASE"]
    assert run(doc, timeline="TL_2").timeline == "Side"  # or by id
    with pytest.raises(ScheduleError) as caught:
        run(doc, timeline="Nope")
    assert caught.value.problems == [
        'small.json: no timeline "Nope"; the file has "Main" (main), "Side"']


def refusal(text: str, timeline: str | None = None) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        import_usdm(text, source="in.json", timeline=timeline)
    return caught.value.problems


def test_a_file_that_is_not_usdm_is_refused_in_one_line() -> None:
    assert refusal('{"study": ') == ["in.json:1:11: not JSON: Expecting value"]
    assert refusal("[1, 2]") == [
        'in.json: $: not a USDM document: the root must be an object with "study" and '
        '"usdmVersion" (USDM Wrapper)']
    assert refusal('{"study": {}, "usdmVersion": "3.0.0"}') == [
        'in.json: $.usdmVersion: USDM version "3.0.0": only USDM 4 is read']
    doc = small([_timing(1, "base", "Fixed Reference", "P1D")], ["base"])
    nameless = copy.deepcopy(doc)
    del nameless["study"]["versions"][0]["studyDesigns"][0]["scheduleTimelines"][1]["name"]
    assert refusal(json.dumps(nameless)) == [
        "in.json: $.study.versions[0].studyDesigns[0].scheduleTimelines[1].name: a schedule "
        "timeline has no name"]
    no_main = copy.deepcopy(doc)
    no_main["study"]["versions"][0]["studyDesigns"][0]["scheduleTimelines"][0][
        "mainTimeline"] = False
    assert refusal(json.dumps(no_main)) == [
        'in.json: no timeline is marked mainTimeline; name one with --timeline: "Main", "Side"']
    assert refusal(json.dumps(doc), timeline="Side") == [
        "in.json: $.study.versions[0].studyDesigns[0].scheduleTimelines[1]: timeline \"Side\" "
        "has no instance with an encounter and a timing: no visit to import"]


def test_warning_is_the_path_and_the_message() -> None:
    assert str(Warning("$.a[0]", "left out")) == "$.a[0]: left out"


def test_an_early_termination_timeline_with_an_encounter_a_window_and_a_later_call() -> None:
    doc = json.loads(PILOT.read_text(encoding="utf-8"))
    design = doc["study"]["versions"][0]["studyDesigns"][0]
    et = design["scheduleTimelines"][2]
    et["name"] = et["label"] = "Discontinuation"  # found by its words, whatever they are
    et["instances"][0]["encounterId"] = "Encounter_4"  # the Week 2 encounter, "E4"
    et["timings"][0]["windowUpper"] = "P14D"
    call = {**copy.deepcopy(et["instances"][0]), "id": "SFU_1", "name": "SFU",
            "label": "Safety call", "encounterId": None}
    et["instances"].append(call)
    et["timings"].append({**copy.deepcopy(et["timings"][0]), "id": "Timing_SFU",
                          "name": "TSFU", "type": {"decode": "After"}, "value": "P30D",
                          "relativeFromScheduledInstanceId": "SFU_1",
                          "windowLower": "P2D", "windowUpper": "P7D"})
    result = import_usdm(json.dumps(doc), source="in.json")
    assert result.phase_timelines == ("Discontinuation",)
    phases = result.yaml[result.yaml.index("phases:"):]
    assert phases.splitlines()[2:] == [
        '  - code: "D"',
        '    name: "Discontinuation"',
        "    condition: {event: withdrawal}",
        "    visits:",
        '      # ScheduledActivityInstance_2 "ET", Encounter_4 "E4"',
        '      # Timing_18 "TIM18": Fixed Reference P1D, Day 1: the day of the withdrawal',
        '      - code: "E4-2"',  # E4 is the main timeline's Week 2
        '        name: "Week 2"',
        "        at: 0 days",
        "        window: {before: 0 days, after: 14 days}",
        '      # SFU_1 "SFU" (no encounter: named after the instance)',
        '      # Timing_SFU "TSFU": After P30D from ScheduledActivityInstance_2 "ET"',
        '      - code: "SFU"',
        '        name: "Safety call"',
        "        at: 30 days",
        "        window: {before: 2 days, after: 7 days}",
    ]
    plan = build_plan(parse_protocol(result.yaml, source="in.yaml"))
    withdrawn = date(2026, 2, 27)
    cal = build_calendar(plan, {"dose": AnchorDate(date(2026, 1, 5))},
                         (Event(EventType.WITHDRAWAL, withdrawn),), {}, today=withdrawn)
    dates = {v.visit.code: (v.visit.target_date, v.visit.window_start, v.visit.window_end)
             for v in cal.visits if v.visit.phase == "D"}
    assert dates == {"E4-2": (withdrawn, withdrawn, date(2026, 3, 13)),
                     "SFU": (date(2026, 3, 29), date(2026, 3, 27), date(2026, 4, 5))}
