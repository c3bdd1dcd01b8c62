"""YAML text -> Protocol (minimal; replaced by the located loader)."""
from __future__ import annotations

from pathlib import Path

import yaml

from app.schedule.language import Protocol


def load_protocol(path: Path) -> Protocol:
    return Protocol.model_validate(yaml.safe_load(path.read_text()))
