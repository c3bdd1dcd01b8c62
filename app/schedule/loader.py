"""YAML text -> Protocol (minimal; to be replaced by the located loader)."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.schedule.language import Protocol


def parse_protocol(text: str, *, source: str) -> Protocol:
    return Protocol.model_validate(yaml.safe_load(text))


def load_protocol(path: Path) -> Protocol:
    return parse_protocol(path.read_text(encoding="utf-8"), source=str(path))
