"""The JSON Schema accepts the shipped configs and rejects what the loader rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from provisioner import naming
from provisioner.config.schema import ID_PATTERN, json_schema

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def team() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CONFIGS / "team.yaml").read_text(encoding="utf-8"))
    return data


def test_dialect_and_closed_objects() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, name
    registries = schema["properties"]["registries"]
    assert registries["propertyNames"] == {"pattern": ID_PATTERN}


@pytest.mark.parametrize("name", ["team.yaml", "example.yaml"])
def test_shipped_configs_are_valid(validator: jsonschema.Draft202012Validator, name: str) -> None:
    data = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) == []


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("visiblity",), "all"),
        (("registries", "ACR", "pasword"), {"env": "X"}),
        (("registries", "ACR", "password", "bogus"), 1),
        (("registries", "ACR", "password"), "a-literal-password"),
        (("name",), "bad name!"),
        (("registries", "ECR", "ecr", "mode"), "tokn"),
        (("registries", "ECR", "ecr", "rotate_after"), "6 hours"),
        (("registries", "ECR", "ecr", "registry_id"), 123456789012),
        (("registries", "1BAD"), {"server": "s"}),
        (("registries", "GITHUB"), {"server": "s"}),
        (("registries", "my-reg"), {"server": "s"}),
        (("targets", 0, "visibility"), "public"),
        (("targets", 1, "repository"), "legacy"),
        (("targets", 2, "repositories"), []),
        (("version",), 2),
        (("github", "api_url"), 5),
    ],
)
def test_rejects_invalid_documents(
    validator: jsonschema.Draft202012Validator, path: tuple[Any, ...], value: Any
) -> None:
    data = team()
    if path[0] == "visiblity":
        data["targets"][0]["visiblity"] = value
    else:
        _set(data, path, value)
    assert list(validator.iter_errors(data)) != []


def test_org_visibility_required_without_repositories(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = team()
    del data["targets"][0]["visibility"]
    assert list(validator.iter_errors(data)) == []
    del data["targets"][0]["repositories"]
    assert list(validator.iter_errors(data)) != []


@pytest.mark.parametrize(
    "registry_id",
    [
        "ACR",
        "ecr_keys",
        "_x",
        "GitHubX",
        "GITHUBX",
        "x1",
        "1x",
        "my-reg",
        "github",
        "GitHub_x",
        "GITHUB_",
        "",
        "é",
    ],
)
def test_id_pattern_agrees_with_naming(
    validator: jsonschema.Draft202012Validator, registry_id: str
) -> None:
    data = team()
    data["registries"][registry_id] = data["registries"]["ACR"]
    schema_ok = not list(validator.iter_errors(data))
    naming_ok = bool(registry_id) and naming.id_problem(registry_id) is None
    assert schema_ok == naming_ok


def test_descriptions_are_markdown_not_rst() -> None:
    text = json.dumps(json_schema())
    assert "``" not in text and ":class:" not in text
