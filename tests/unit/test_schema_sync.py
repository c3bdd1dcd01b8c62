"""The committed JSON Schema is the one the models generate, and it agrees with the loader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.schedule.durations import DURATION_PATTERN, WINDOW_PATTERN, parse_duration
from app.schedule.jsonschema import SCHEMA_FILE, schedule_schema, schema_text

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"
SEEDS = sorted(SCHEDULES.glob("*.yaml"))


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEDULES / SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_up_to_date() -> None:
    committed = (SCHEDULES / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schedules/schedule.schema.json is stale: run "
        "`followup schedule schema > schedules/schedule.schema.json`"
    )


def test_every_key_is_described_for_editors() -> None:
    schema = schedule_schema()
    definitions: dict[str, Any] = {"Protocol": schema, **schema["$defs"]}
    missing = [
        f"{name}.{key}"
        for name, definition in definitions.items()
        for key, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_seeds_point_editors_at_the_schema_and_satisfy_it(seed: Path) -> None:
    text = seed.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./schedule.schema.json"
    assert list(validator().iter_errors(yaml.safe_load(text))) == []


def test_the_schema_catches_shape_mistakes() -> None:
    data = yaml.safe_load((SCHEDULES / "ucart-sle.yaml").read_text(encoding="utf-8"))
    data["study"]["colour"] = "red"
    data["visits"][3]["window"] = {"before": "2 days", "after": "-2 days"}
    data["visits"][4]["at"] = "fortnight"
    data["visits"][5]["kind"] = "spaceship"
    errors = {tuple(e.absolute_path) for e in validator().iter_errors(data)}
    assert errors == {
        ("study",), ("visits", 3, "window"), ("visits", 4, "at"), ("visits", 5, "kind")
    }


@pytest.mark.parametrize(
    "text",
    ["14 days", "-2 days", "1 day", "+3 weeks", "1 week", "3 months", " 12 months ",
     "day 0", "day -2", "day 100", "14", "14 dayz", "day", "3 month s", "two weeks", "",
     "day 1.5", "99999 days"],
)
def test_duration_pattern_matches_the_parser(text: str) -> None:
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(re.match(DURATION_PATTERN, text)) is parsed
    if re.match(WINDOW_PATTERN, text):
        assert parsed and parse_duration(text).amount >= 0
