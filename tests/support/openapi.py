"""Validate request bodies against GitHub's OpenAPI description (when ../shared has it)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root; ``../shared`` beside it holds GitHub's OpenAPI description (CI)."""
SPEC = ROOT.parent / "shared" / "github-openapi" / "codespaces-secrets.openapi.json"


def available() -> bool:
    return SPEC.is_file()


@cache
def _spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return document


@cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in _spec()["paths"]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        routes.append((re.compile(f"^{pattern}$"), template))
    # Literal segments beat parameters (".../public-key" is not a secret name).
    routes.sort(key=lambda r: r[1].count("{"))
    return routes


def _resolve(node: Any) -> Any:
    """Inline local $refs (the subset's refs are all local and acyclic for request bodies)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = _spec()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target)
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def request_body_errors(method: str, path: str, body: Any) -> list[str]:
    """Why ``body`` does not fit the operation's request schema (empty when it does)."""
    from openapi_schema_validator import OAS30Validator

    for pattern, template in _routes():
        if pattern.match(path):
            operation = _spec()["paths"][template].get(method.lower())
            break
    else:
        return [f"{method} {path}: no such path in the OpenAPI description"]
    if operation is None:
        return [f"{method} {path}: no such operation in the OpenAPI description"]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return [] if body is None else [f"{method} {path}: the operation takes no body"]
    schema = _resolve(content["schema"])
    validator = OAS30Validator(schema)
    return [f"{method} {path}: {e.message}" for e in validator.iter_errors(body)]
