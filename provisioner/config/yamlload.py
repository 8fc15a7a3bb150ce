"""YAML text -> plain Python data, with the line and column of every node.

PyYAML only composes the node tree here; the data is built from it by hand so that every
node keeps its position, duplicate keys are refused, tags outside YAML's core schema are
refused, and alias expansion, nesting and size are bounded (a config file is small: anything
beyond these limits is a mistake or an attack). Every failure is one ``ConfigError`` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.errors import ConfigError, Diagnostic

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES: Final = 1024 * 1024
MAX_NODES: Final = 100_000
MAX_DEPTH: Final = 64

YamlPath = tuple[str | int, ...]
Position = tuple[int, int]

_CORE: Final = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR = _CORE + "map", _CORE + "seq", _CORE + "str"
_CONSTRUCTOR: Final = SafeConstructor()
_SCALAR_TAGS: Final = {
    _STR: None,
    _CORE + "null": None,
    _CORE + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _CORE + "int": _CONSTRUCTOR.construct_yaml_int,
    _CORE + "float": _CONSTRUCTOR.construct_yaml_float,
    # Dates and '=' have no meaning in this config: keep the text as written.
    _CORE + "timestamp": None,
    _CORE + "value": None,
}


@dataclass(frozen=True)
class YamlDocument:
    """The top-level mapping, plus where each node (and each mapping key) starts, 1-based."""

    data: dict[str, Any]
    positions: dict[YamlPath, Position]
    key_positions: dict[YamlPath, Position]

    def position(self, path: YamlPath, *, key: bool = False) -> Position:
        """Where ``path`` starts (its key with ``key=True``), else its nearest known ancestor."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))


def parse_yaml(raw: bytes, filename: str) -> YamlDocument:
    """Parse ``raw`` (the bytes of ``filename``) into a :class:`YamlDocument`.

    Raises ``ConfigError`` with one ``filename[:line:column]: message`` problem.
    """
    text = _decode(raw, filename)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise ConfigError([Diagnostic(f"invalid YAML: {problem}", filename)]) from None
        line, column = mark.line + 1, mark.column + 1
        raise ConfigError(
            [Diagnostic(f"invalid YAML: {problem}", filename, line, column)]
        ) from None
    except yaml.reader.ReaderError as exc:
        source = raw if exc.encoding != "unicode" else text
        line, column = _line_column(source, exc.position)
        reason = f"{exc.reason} (character #x{exc.character:04x})"
        raise ConfigError([Diagnostic(f"invalid YAML: {reason}", filename, line, column)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            [Diagnostic(f"invalid YAML: {str(exc).splitlines()[0]}", filename)]
        ) from None
    except RecursionError:
        raise ConfigError(
            [Diagnostic(f"nested deeper than {MAX_DEPTH} levels", filename)]
        ) from None
    if root is None:
        raise ConfigError(
            [Diagnostic("the file is empty (expected a mapping with 'version: 1')", filename)]
        )
    builder = _Builder(filename)
    data = builder.build(root, (), 0)
    if not isinstance(data, dict):
        raise builder.error(root, f"the top level must be a mapping, got {_kind(root)}")
    return YamlDocument(data, builder.positions, builder.key_positions)


def _decode(raw: bytes, filename: str) -> str:
    if len(raw) > MAX_BYTES:
        raise ConfigError([Diagnostic(f"file too large (over {MAX_BYTES:,} bytes)", filename)])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError([Diagnostic("the file is UTF-16 encoded; save it as UTF-8", filename)])
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, column = _line_column(raw, nul)
        raise ConfigError(
            [Diagnostic("binary file (NUL byte); expected UTF-8 text", filename, line, column)]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw, exc.start)
        raise ConfigError(
            [
                Diagnostic(
                    f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x})", filename, line, column
                )
            ]
        ) from None


def _line_column(source: bytes | str, offset: int) -> Position:
    offset = max(0, min(offset, len(source)))
    newline: Any = b"\n" if isinstance(source, bytes) else "\n"
    line_start = source.rfind(newline, 0, offset) + 1
    return source.count(newline, 0, offset) + 1, offset - line_start + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "null" if node.tag == _CORE + "null" else "a scalar"


class _Builder:
    """Builds plain data from composed nodes, counting every node it expands."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.count = 0
        self.positions: dict[YamlPath, Position] = {}
        self.key_positions: dict[YamlPath, Position] = {}

    def error(self, node: Node, message: str) -> ConfigError:
        mark = node.start_mark
        return ConfigError([Diagnostic(message, self.filename, mark.line + 1, mark.column + 1)])

    def build(self, node: Node, path: YamlPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            # The node at hand sits where its anchor is; the top-level entry being expanded
            # is what the user must look at.
            line, column = self.positions.get(path[:1], (1, 1))
            raise ConfigError(
                [
                    Diagnostic(
                        f"too many YAML nodes (over {MAX_NODES:,}): an alias ('*name') that "
                        "expands exponentially? Refusing to expand it",
                        self.filename,
                        line,
                        column,
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise self.error(node, f"nested deeper than {MAX_DEPTH} levels")
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise self.error(node, f"unsupported YAML tag {node.tag!r}")
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if not isinstance(node, ScalarNode):  # pragma: no cover - compose makes only these three
            raise self.error(node, "unsupported YAML node")
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: YamlPath, depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self.error(node, f"unsupported YAML tag {node.tag!r}")
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                raise self.error(
                    key_node, "merge keys ('<<') are not supported; write the keys out"
                )
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                raise self.error(key_node, "a mapping key must be a plain string")
            key = str(key_node.value)
            if key in result:
                raise self.error(
                    key_node, f"duplicate key {key!r} (first defined on line {first_line[key]})"
                )
            first_line[key] = key_node.start_mark.line + 1
            child = (*path, key)
            self.key_positions[child] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self.error(node, f"unsupported YAML tag {node.tag!r}")
        if node.tag == _CORE + "null":
            return None
        construct = _SCALAR_TAGS[node.tag]
        if construct is None:
            return str(node.value)
        try:
            return construct(node)
        except (ValueError, KeyError, TypeError):
            return str(node.value)  # e.g. '0x_': the resolver says int, int() disagrees
