"""Schemathesis hooks for the stateful fuzz run (loaded through SCHEMATHESIS_HOOKS).

The run authenticates with one admin token, whose name it gets in FUZZ_TOKEN_NAME.
Revoking that token would answer every later request with 401 and end the useful part
of the run, so a revocation of it is sent for a token that does not exist instead.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

TOKEN_NAME_ENV = "FUZZ_TOKEN_NAME"
TOKEN_PATH = "/api/v1/tokens/{name}"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    own = os.environ.get(TOKEN_NAME_ENV)
    if (case.method.upper() == "DELETE" and case.path == TOKEN_PATH
            and case.path_parameters.get("name") == own):
        case.path_parameters["name"] = f"not-{own}"
