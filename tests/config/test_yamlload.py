"""YAML parsing: positions, duplicate keys, tags, and clean errors for hostile input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from provisioner.config import load_config, yamlload
from provisioner.config.yamlload import MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml
from provisioner.errors import ConfigError

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def problem(raw: bytes | str) -> str:
    """The one problem ``parse_yaml`` reports for ``raw``."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    with pytest.raises(ConfigError) as excinfo:
        parse_yaml(data, "c.yaml")
    assert len(excinfo.value.problems) == 1, excinfo.value.problems
    return excinfo.value.problems[0]


def test_positions_of_every_node() -> None:
    doc = parse_yaml(b"version: 1\nregistries:\n  ACR:\n    server: [a, {b: c}]\n", "c.yaml")
    assert doc.data == {"version": 1, "registries": {"ACR": {"server": ["a", {"b": "c"}]}}}
    assert doc.positions[()] == (1, 1)
    assert doc.positions[("version",)] == (1, 10)
    assert doc.key_positions[("version",)] == (1, 1)
    assert doc.key_positions[("registries", "ACR")] == (3, 3)
    assert doc.positions[("registries", "ACR")] == (4, 5)
    assert doc.positions[("registries", "ACR", "server", 0)] == (4, 14)
    assert doc.positions[("registries", "ACR", "server", 1, "b")] == (4, 21)
    assert doc.key_positions[("registries", "ACR", "server", 1, "b")] == (4, 18)
    assert doc.position(("registries", "ACR", "server", 7, "x")) == (4, 13)
    assert doc.position(("nowhere",)) == (1, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x: yes", True),
        ("x: off", False),
        ("x: ~", None),
        ("x: 0x1F", 31),
        ("x: 0x_", "0x_"),
        ("x: 0b_", "0b_"),
        ("x: 1_000", 1000),
        ("x: 1.5", 1.5),
        ("x: 2024-01-02", "2024-01-02"),
        ("x: =", "="),
        ("x: !!str 12", "12"),
        ("x: '012345678901'", "012345678901"),
        ("x: !!int nope", "nope"),
    ],
)
def test_scalars(text: str, value: object) -> None:
    assert parse_yaml(text.encode(), "c.yaml").data == {"x": value}


def test_keys_are_kept_as_written() -> None:
    doc = parse_yaml(b"yes: 1\n123: 2\n~: 3\n0x1F: 4\n", "c.yaml")
    assert list(doc.data) == ["yes", "123", "~", "0x1F"]


def test_utf8_bom_is_accepted() -> None:
    assert parse_yaml("\ufeffx: é\n".encode(), "c.yaml").data == {"x": "é"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "c.yaml: the file is empty"),
        (b"# only a comment\n\n", "c.yaml: the file is empty"),
        (b"- a\n- b\n", "c.yaml:1:1: the top level must be a mapping, got a list"),
        (b"just text\n", "c.yaml:1:1: the top level must be a mapping, got a scalar"),
        (b"---\n", "c.yaml:2:1: the top level must be a mapping, got null"),
        (b"a: 1\nb: [1, 2\n", "c.yaml:3:1: invalid YAML: did not find expected ',' or ']'"),
        (b"a: 1\n  b: 2\n", "c.yaml:2:4: invalid YAML: mapping values are not allowed"),
        (b"a: 1\n---\nb: 2\n", "c.yaml:2:1: invalid YAML: but found another document"),
        (b"a: *nope\n", "c.yaml:1:4: invalid YAML: found undefined alias"),
        (b"a: 1\nb: \x07\n", "c.yaml:2:4: invalid YAML: control characters are not allowed"),
        (b"a: 1\nb:\n  c: 1\n  c: 2\n", "c.yaml:4:3: duplicate key 'c' (first defined on line 3)"),
        (b"a: x\x00y\n", "c.yaml:1:5: binary file (NUL byte); expected UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "c.yaml:3:1: binary file (NUL byte)"),
        (b"a: 1\nb: caf\xe9\n", "c.yaml:2:7: not UTF-8 text (invalid byte 0xe9)"),
        ("a: 1\n".encode("utf-16"), "c.yaml: the file is UTF-16 encoded; save it as UTF-8"),
        (
            b"a: !!python/object:os.system x\n",
            "c.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        (b"a: !Ref x\n", "c.yaml:1:4: unsupported YAML tag '!Ref'"),
        (b"a: !!binary aGk=\n", "c.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:binary'"),
        (b"a: !!set {x}\n", "c.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:set'"),
        (b"a: !!omap [x: 1]\n", "c.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:omap'"),
        (b"b: &b {x: 1}\na:\n  <<: *b\n", "c.yaml:3:3: merge keys ('<<') are not supported"),
        (b"? [a]\n: 1\n", "c.yaml:1:3: a mapping key must be a plain string"),
        (b"a: &a [*a]\n", f"c.yaml:1:4: nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_clean_errors(raw: bytes, expected: str) -> None:
    assert problem(raw).startswith(expected)


def test_alias_bomb_is_refused_quickly() -> None:
    start = time.monotonic()
    message = problem(BILLION_LAUGHS)
    assert time.monotonic() - start < 5
    assert message.startswith(f"c.yaml:6:4: too many YAML nodes (over {MAX_NODES:,})")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 5000, 200_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    message = problem("a: " + "[" * depth + "]" * depth + "\n")
    assert "nested deeper than" in message or "exceeded maximum nesting depth" in message


def test_block_nesting_is_refused() -> None:
    text = "".join(" " * i + "a:\n" for i in range(200))
    assert "nested deeper than 64 levels" in problem(text)


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1
    doc = parse_yaml(("a: " + "[" * depth + "]" * depth).encode(), "c.yaml")
    assert "a" in doc.data


def test_too_large() -> None:
    raw = b"a: '" + b"x" * MAX_BYTES + b"'\n"
    assert problem(raw) == f"c.yaml: file too large (over {MAX_BYTES:,} bytes)"


def test_load_config_reports_yaml_problems_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(BILLION_LAUGHS.encode() + b"x" * MAX_BYTES)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert excinfo.value.problems == [f"{path}: file too large (over {MAX_BYTES:,} bytes)"]
    path.write_bytes(b"")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert excinfo.value.problems[0].startswith(f"{path}: the file is empty")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a: [1\n", "c.yaml:2:1: invalid YAML: expected ',' or ']'"),
        (b"a: \x07\n", "c.yaml:1:4: invalid YAML: special characters are not allowed"),
        (b"a: " + b"[" * 5000 + b"]" * 5000, "c.yaml: nested deeper than 64 levels"),
        (BILLION_LAUGHS.encode(), "c.yaml:6:4: too many YAML nodes"),
    ],
)
def test_pure_python_loader_fallback(
    monkeypatch: pytest.MonkeyPatch, raw: bytes, expected: str
) -> None:
    monkeypatch.setattr(yamlload, "_Loader", yaml.SafeLoader)
    assert problem(raw).startswith(expected)
