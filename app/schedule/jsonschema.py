"""The JSON Schema of the schedule language, generated from the pydantic models.

It is published as ``schedules/schedule.schema.json`` so that editors validate and
complete schedule files (``# yaml-language-server: $schema=./schedule.schema.json``),
and a test regenerates it to keep the committed file in step with the models.

The schema checks the shape of a file only; cross references (unknown anchors,
duplicate codes, cycles) are the loader's job. Descriptions the models do not carry
themselves are added here, so that every key has one for editors to show.
"""

from __future__ import annotations

import json
from typing import Any

from app.schedule.language import Protocol

SCHEMA_FILE = "schedule.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

# "Model" describes a definition, "Model.key" one of its keys (keys as written in YAML).
DESCRIPTIONS: dict[str, str] = {
    "Protocol": "A protocol's visit schedule (see schedules/README.md).",
    "Protocol.language": "Version of the schedule language the file is written in; files "
                         "without it are version 1 (see schedules/README.md)",
    "Protocol.study": "Study metadata and the study-day convention",
    "Protocol.sites": "Sites that run the study; created when the schedule is loaded",
    "Protocol.anchors": "Named reference dates of a patient (consent, infusion, transplant...)",
    "Protocol.event_values": "Per event type that carries a value (response), the values it "
                             "may carry; a type left out accepts any code",
    "Protocol.visits": "The main schedule: visits every patient has",
    "Protocol.phases": "Conditional phases: visits that exist only when a condition holds",
    "Protocol.endpoints": "Endpoint assessment time points, each with a window",
    "Protocol.periods": "Spans shown on the calendar (inpatient stay, AE monitoring...)",
    "Study": "Study metadata. `version` is the protocol version: a changed schedule needs a "
             "new version.",
    "Study.code": "Study code used in the API and by EDC systems, e.g. UCART-SLE",
    "Study.title": "Full title of the study",
    "Study.registry_id": "Trial registry identifier, e.g. NCT07274059",
    "Study.version": 'Protocol version, as text ("1.0", quoted)',
    "Study.target_enrolment": "Number of patients to enrol",
    "Study.age": "Age eligibility in whole years (bounds inclusive; one may be left out)",
    "AgeRange": "Age eligibility in whole years.",
    "Site": "A site (hospital) that runs the study.",
    "Site.code": "Site code, unique across all studies, e.g. YC3H",
    "Site.name": "Name of the site",
    "Anchor": "A named reference date of a patient.",
    "Anchor.name": "Name used by visits, phases, endpoints and periods, e.g. infusion",
    "Anchor.label": "What the date is, as shown to users",
    "Visit.code": "Visit code, unique in the file; in a series a template with {n} or {i}, "
                  "e.g. M{n}",
    "Visit.name": "Name shown to users; in a series or a list of time points it may use {n} "
                  "and {i} ({day} for a list of study days)",
    "Visit.anchor": "Anchor the visit is timed from; defaults to the phase's anchor, else "
                    "default_anchor",
    "Visit.at": 'When: "day 14", "14 days", "2 weeks", "3 months" or "2 years" from the '
                "anchor (or after the visit named by after_visit); a list of time points "
                "gives one visit each, the code a template such as D{day}",
    "Visit.series": "A repeating series instead of `at`: one visit per time point",
    "Visit.window": 'Acceptable days before/after the target; "3 days" means 3 before and 3 '
                    'after; "none": no window (never graded early or late)',
    "Visit.due_for": "With window: none, how long after its target the visit stays due; "
                     "default: until the day before the next visit of its schedule",
    "Visit.kind": "What kind of visit it is",
    "Visit.optional": "An optional visit is never overdue: once its window closes it is not "
                      "applicable",
    "Visit.stops_at_progression": "Cancel this visit when the patient progresses",
    "Visit.assessments": "Assessment codes done at this visit; endpoints are satisfied by "
                         "visits carrying theirs",
    "Series": "Time points from `from` to `to` (inclusive) every `every`, all in one unit.",
    "Series.every": 'Step between time points, e.g. "3 months"',
    "Series.from": 'First time point, e.g. "6 months"',
    "Series.to": 'Last time point (inclusive), e.g. "24 months"',
    "Window": "How early and how late a visit may be done and still be on time.",
    "Phase": "A conditional phase: its visits exist only once the condition holds, are "
             "pending until then and not applicable once it can no longer happen.",
    "Phase.code": "Phase code, e.g. HSCT",
    "Phase.name": "Name shown to users",
    "Phase.anchor": "Anchor of the phase's visits (recorded when the phase starts), e.g. "
                    "transplant; default: the date of the event that opens the phase",
    "Phase.condition": "What opens the phase: a response with given values, a progression, "
                       "a withdrawal (early termination) or the completion of the study",
    "Phase.closes_on": "Events that, recorded before the opening one, keep the phase from "
                       "ever opening (default: progression; none for a phase opened by "
                       "withdrawal or study_completed)",
    "Phase.stops_at_progression": "Cancel all the phase's visits at progression",
    "Phase.visits": "The phase's visits",
    "EventValues": "The values events may carry, per event type, in order (best response "
                   "first, say). Recording any other value is refused.",
    "EventValues.response": "Response values, e.g. IMWG: sCR, CR, VGPR, PR, MR, SD, PD",
    "Term": "One value an event may carry.",
    "Term.value": "The value as recorded: a case-sensitive code, e.g. CR or sCR",
    "Term.label": "What it means, as shown to users, e.g. Complete response",
    "Condition": "The event that opens the phase: a response with one of the listed values, "
                 "a progression, a withdrawal or the completion of the study.",
    "Condition.event": "The event that opens the phase: response, progression, withdrawal "
                       "(early-termination visits, closed only by a death) or study_completed "
                       "(end-of-study visits)",
    "Endpoint": "An endpoint assessed at time points, each with its own window.",
    "Endpoint.code": "Endpoint code, e.g. ORR",
    "Endpoint.name": "Name shown to users",
    "Endpoint.anchor": "Anchor the time points are counted from",
    "Endpoint.at": 'Time points, e.g. ["6 months", "12 months"]',
    "Endpoint.series": "Regular time points instead of `at`, e.g. every 6 months from 6 to 60 "
                       "months",
    "Endpoint.window": 'Window around each time point; "14 days" means 14 before and 14 after',
    "Endpoint.assessment": "Assessment code a visit must carry to satisfy it; defaults to "
                           "the endpoint's code",
    "Period": "A span shown on the calendar, from one offset to another (both inclusive).",
    "Period.code": "Period code, e.g. INPATIENT",
    "Period.name": "Name shown to users",
    "Period.anchor": "Anchor the span is counted from",
    "Period.from": 'First day, e.g. "day 0"',
    "Period.to": 'Last day (inclusive), e.g. "day 28" or "3 months"',
}


def _describe(name: str, definition: dict[str, Any]) -> None:
    if name in DESCRIPTIONS:
        definition["description"] = DESCRIPTIONS[name]
    for key, prop in definition.get("properties", {}).items():
        # Titles such as "Registry Id" say nothing the key does not; editors show the
        # description instead.
        prop.pop("title", None)
        text = DESCRIPTIONS.get(f"{name}.{key}")
        if text is not None:
            prop["description"] = text


def schedule_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a schedule file."""
    body = Protocol.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = body.pop("$defs")
    _describe("Protocol", body)
    for name, definition in definitions.items():
        _describe(name, definition)
    return {"$schema": DIALECT, **body, "$defs": dict(sorted(definitions.items()))}


def schema_text() -> str:
    """The schema as committed: stable key order, two-space indent, final newline."""
    return json.dumps(schedule_schema(), indent=2, ensure_ascii=False) + "\n"
