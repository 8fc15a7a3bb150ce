"""``load_config``: read, parse and validate a config file, reporting every problem at once.

Each registry and target is validated on its own, so one bad entry never hides another;
pydantic's error locations are mapped back to YAML positions, then the cross-entry rules of
:mod:`provisioner.config.rules` run over everything that validated.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from provisioner.config import rules
from provisioner.config.formats import ConfigName, StateLocation
from provisioner.config.model import (
    SOURCE_KEYS,
    SOURCE_MODELS,
    TARGET_MODELS,
    Config,
    EcrSettings,
    GitHubSettings,
    Literal,
    OrgTarget,
    Registry,
    RegistrySpec,
    RepositoryTarget,
    Target,
    UserTarget,
)
from provisioner.config.rules import Finding, YamlPath, describe, did_you_mean
from provisioner.config.yamlload import MAX_BYTES, YamlDocument, parse_yaml
from provisioner.errors import ConfigError, Diagnostic

TOP_KEYS: Final = ("version", "name", "state", "github", "registries", "targets")
_VALUE_FIELDS: Final = frozenset({"server", "username", "password"})
_EXPECTED: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}
_MISSING_HINTS: Final = {
    (OrgTarget, "visibility"): " (all, private or selected; it defaults to selected only "
    "when 'repositories' is given)",
    (UserTarget, "repositories"): " (a user secret is visible to the listed repositories only)",
    (EcrSettings, "mode"): " (token or swap)",
}


def load_config(path: Path) -> Config:
    """Read and validate the config at ``path``.

    Raises ``ConfigError`` listing every problem as ``path:line:column: message``, sorted.
    Warnings are returned in ``Config.warnings`` in the same form, with ``warning:``.
    """
    display = str(path)
    document = parse_yaml(_read(path, display), display)
    findings: list[Finding] = []
    data = document.data
    findings.extend(_unknown_keys(data, (), TOP_KEYS))
    version = data.get("version")
    if "version" not in data:
        findings.append(Finding((), "missing required key 'version' (write 'version: 1')"))
    elif type(version) is not int or version != 1:
        findings.append(Finding(("version",), f"unsupported version {version!r}: expected 1"))
    name = _validate(_Name, {"name": data["name"]}, (), findings) if "name" in data else None
    where = _validate(_State, {"state": data["state"]}, (), findings) if "state" in data else None
    github = _validate(GitHubSettings, data.get("github", {}), ("github",), findings)
    registries, all_ids = _registries(data, findings)
    targets, unvalidated = _targets(data, findings)
    if all_ids is not None:
        findings.extend(rules.check(registries, targets, all_ids))
        findings.extend(rules.check_unvalidated_refs(unvalidated, all_ids))
    errors = _render(document, display, (f for f in findings if not f.warning))
    warnings = tuple(_render(document, display, (f for f in findings if f.warning)))
    if errors:
        raise ConfigError(errors, warnings)
    assert isinstance(github, GitHubSettings)
    return Config(
        name=name.name if isinstance(name, _Name) else None,
        state=where.state if isinstance(where, _State) else None,
        github=github,
        registries=registries,
        targets=tuple(target for _, target in targets),
        path=path,
        warnings=warnings,
    )


class _Name(BaseModel):
    """The top-level ``name:`` (validated alone, so its error points at its line)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    name: ConfigName


class _State(BaseModel):
    """The top-level ``state:`` (validated alone, so its error points at its line)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    state: StateLocation


def _read(path: Path, display: str) -> bytes:
    try:
        # Non-blocking open, then a regular-file check: a FIFO as CONFIG must not hang the
        # run waiting for a writer (the value sources refuse FIFOs the same way).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError([Diagnostic("not a regular file", display)])
            return stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Diagnostic(f"cannot read: {exc.strerror or exc}", display)]) from None


def _registries(
    data: dict[str, Any], findings: list[Finding]
) -> tuple[dict[str, Registry], Collection[str] | None]:
    raw = data.get("registries")
    if not isinstance(raw, dict) or not raw:
        findings.append(_section_problem(data, "registries", "a mapping of registry IDs"))
        return {}, None
    registries: dict[str, Registry] = {}
    for registry_id, entry in raw.items():
        spec = _validate(RegistrySpec, entry, ("registries", registry_id), findings)
        if isinstance(spec, RegistrySpec):
            registries[registry_id] = Registry.model_validate({**dict(spec), "id": registry_id})
    return registries, list(raw)


def _targets(
    data: dict[str, Any], findings: list[Finding]
) -> tuple[list[tuple[int, Target]], list[tuple[int, object]]]:
    """The valid targets (with their index), and the raw entries that failed validation."""
    raw = data.get("targets")
    if not isinstance(raw, list) or not raw:
        findings.append(_section_problem(data, "targets", "a list of targets"))
        return [], []
    targets: list[tuple[int, Target]] = []
    failed: list[tuple[int, object]] = []
    for index, entry in enumerate(raw):
        path: YamlPath = ("targets", index)
        kinds = [kind for kind in TARGET_MODELS if isinstance(entry, dict) and kind in entry]
        if isinstance(entry, dict) and len(kinds) != 1:
            findings.append(_target_kind_problem(path, entry, kinds))
            continue
        model = TARGET_MODELS[kinds[0]] if kinds else OrgTarget
        target = _validate(model, entry, path, findings)
        if isinstance(target, OrgTarget | RepositoryTarget | UserTarget):
            targets.append((index, target))
        else:
            failed.append((index, entry))
    return targets, failed


def _section_problem(data: dict[str, Any], key: str, expected: str) -> Finding:
    if key not in data:
        return Finding((), f"missing required key {key!r}")
    value = data[key]
    if isinstance(value, dict | list) and not value:
        return Finding((key,), f"{key}: at least one entry is required")
    return Finding((key,), f"expected {expected}, got {describe(value)}")


def _target_kind_problem(path: YamlPath, entry: dict[str, Any], kinds: list[str]) -> Finding:
    if kinds:
        return Finding(
            (*path, kinds[1]),
            f"a target takes exactly one of 'org', 'repository' or 'user'; got {kinds[0]!r} "
            f"and {kinds[1]!r}",
            at_key=True,
        )
    hint = did_you_mean([str(key) for key in entry], TARGET_MODELS)
    return Finding(path, f"a target needs one of 'org', 'repository' or 'user'{hint}")


def _validate(
    model: type[BaseModel], raw: Any, path: YamlPath, findings: list[Finding]
) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # pydantic also says "too short" for a list whose items failed: the items say more.
        inner = {error["loc"][:-1] for error in errors if error["loc"]}
        findings.extend(
            _translate(error, path, model)
            for error in errors
            if not (error["type"] == "too_short" and error["loc"] in inner)
        )
        return _without_unknown_keys(model, raw, errors)


def _without_unknown_keys(
    model: type[BaseModel], raw: Any, errors: list[ErrorDetails]
) -> BaseModel | None:
    """The entry validated again without its unknown keys (already reported), so that the
    semantic rules still see it: every problem of a file is reported in one pass, not a
    literal password only once a misspelled key next to it is fixed."""
    unknown = {e["loc"][0] for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1}
    if not isinstance(raw, dict) or not unknown:
        return None
    try:
        return model.model_validate({k: v for k, v in raw.items() if k not in unknown})
    except ValidationError:
        return None


def _translate(error: ErrorDetails, base: YamlPath, root: type[BaseModel]) -> Finding:
    loc, parent = _strip_tags(tuple(error["loc"]), root)
    path = base + loc
    if error["type"] == "missing" and loc:
        hint = _MISSING_HINTS.get((parent, str(loc[-1])), "") if parent else ""
        return Finding(path[:-1], f"missing required key {loc[-1]!r}{hint}")
    if error["type"] == "extra_forbidden" and loc:
        allowed = list(parent.model_fields) if parent else []
        key = str(loc[-1])
        return Finding(path, f"unknown key {key!r}{did_you_mean([key], allowed)}", at_key=True)
    return Finding(path, _message(error))


def _strip_tags(
    loc: tuple[Any, ...], root: type[BaseModel]
) -> tuple[YamlPath, type[BaseModel] | None]:
    """Drop the union tags pydantic puts in ``loc``; also return the model holding the last key."""
    out: list[str | int] = []
    model: type[BaseModel] | None = root
    parent: type[BaseModel] | None = root
    items = iter(loc)
    for element in items:
        parent = model
        out.append(element)
        if model is RegistrySpec and element in _VALUE_FIELDS:
            tag = next(items, None)
            model = Literal if tag == "literal" else SOURCE_MODELS.get(str(tag))
        elif model is RegistrySpec and element == "ecr":
            model = EcrSettings
        else:
            model = None
    return tuple(out), parent


def _message(error: ErrorDetails) -> str:
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {describe(value)}"
        if kind == "string_type" and isinstance(value, bool):
            return message + " (YAML reads unquoted yes, no, on, off as booleans): quote it"
        if kind == "string_type" and isinstance(value, int | float):
            return message + " (YAML reads unquoted digits as a number): quote it"
        return message
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {value!r}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "finite_number":
        return "must be a finite number"
    if kind in {"too_short", "string_too_short"}:
        return "must not be empty"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "value_source":
        return _value_source_message(value)
    return str(error["msg"])


def _value_source_message(value: Any) -> str:
    sources = ", ".join(SOURCE_KEYS)
    if not isinstance(value, dict):
        return (
            "expected a string (a literal) or a value source mapping such as {env: NAME}, "
            f"got {describe(value)}"
        )
    found = [key for key in SOURCE_KEYS if key in value]
    if found:
        return f"a value source takes exactly one of {sources}; got {' and '.join(found)}"
    hint = did_you_mean([str(key) for key in value], SOURCE_KEYS)
    return f"a value source needs one of {sources}{hint}"


def _unknown_keys(
    data: dict[str, Any], path: YamlPath, allowed: Collection[str]
) -> Iterator[Finding]:
    for key in data:
        if key not in allowed:
            hint = did_you_mean([key], allowed)
            yield Finding((*path, key), f"unknown key {key!r}{hint}", at_key=True)


def _render(document: YamlDocument, display: str, findings: Iterator[Finding]) -> list[Diagnostic]:
    placed = set()
    for finding in findings:
        line, column = document.position(finding.path, key=finding.at_key)
        message = finding.message
        if finding.related is not None:
            message += f" (see line {document.position(finding.related, key=True)[0]})"
        placed.add((line, column, message, finding.warning))
    return [
        Diagnostic(message, display, line, column, warning)
        for line, column, message, warning in sorted(placed)
    ]
