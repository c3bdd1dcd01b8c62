"""The names and codes a schedule file uses, and the strict model every section is built on."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

Code = Annotated[
    str, Field(pattern=CODE_PATTERN, description="A short code: letters, digits, _ . + -")
]
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="A lower-case identifier")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
