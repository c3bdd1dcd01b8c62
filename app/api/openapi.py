"""The OpenAPI document: FastAPI's, plus what no single route can say.

FastAPI answers 400 when a body is not decodable JSON text (before validation runs), and
the body limit answers 413. Both can happen on every route that takes a body, so they
are added to the document here instead of being repeated on each route. The links
between operations (app/api/links.py) are added here too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.links import add_links
from app.api.schemas.common import BODY_PROBLEMS, problem_responses
from app.problems import PROBLEM_JSON


def _body_problem_entries() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for status, entry in problem_responses(*BODY_PROBLEMS).items():
        if int(status) in (400, 413):
            out[str(status)] = {
                "description": entry["description"],
                "content": {PROBLEM_JSON: entry["content"][PROBLEM_JSON]},
            }
    return out


def customise_openapi(app: FastAPI, *, api_prefix: str) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            extra = _body_problem_entries()
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        responses = operation.setdefault("responses", {})
                        for status, entry in extra.items():
                            responses.setdefault(status, entry)
            add_links(schema, prefix=api_prefix)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
