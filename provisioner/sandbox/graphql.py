"""The sandbox's ``POST /graphql``: the repository-ID look-ups of ``gh secret set --repos``.

gh 2.23 maps repository names to IDs with ONE query of aliased fields (``mapRepoToID`` in
cli/cli ``pkg/cmd/secret/set/http.go``)::

    query MapRepositoryNames { repo_000: repository(owner: "o", name: "a") { databaseId } ... }

GitHub answers a name it cannot resolve with ``null`` and a ``NOT_FOUND`` error naming the
alias. No GraphQL library is a dependency of provisioner (graphql-core is only pulled in by
moto, for tests) and a schema-driven engine is far more than this one shape needs, so a
tokenizer (one regex) and a strict parser accept exactly: an optional ``query`` keyword with
an optional name and ``String``/``String!`` variables, then fields ``[alias:] repository(owner:
S, name: S) { databaseId }`` where S is a string literal or a ``$variable``. Anything else is
answered with a GraphQL error saying what is supported, never a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from provisioner.sandbox.world import World

SUPPORTED = "only repository(owner:, name:) { databaseId } look-ups are supported"
_TOKEN = re.compile(
    r"""
      (?P<skip>[\s,\ufeff]+|\#[^\r\n]*)
    | (?P<STRING>"(?:[^"\\\r\n]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*")
    | (?P<IDENTIFIER>[_A-Za-z][_0-9A-Za-z]*)
    | (?P<FLOAT>-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))
    | (?P<INT>-?\d+)
    | (?P<punct>\.\.\.|[!$&():=@\[\]{|}])
    """,
    re.VERBOSE,
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# graphql-ruby's token names, which GitHub's parse errors quote
_PUNCT = {"{": "LCURLY", "}": "RCURLY", "(": "LPAREN", ")": "RPAREN", ":": "COLON"}
_PUNCT |= {"!": "BANG", "$": "VAR_SIGN", "=": "EQUALS", "[": "LBRACKET", "]": "RBRACKET"}
_PUNCT |= {"@": "DIR_SIGN", "&": "AMP", "|": "PIPE", "...": "ELLIPSIS"}


@dataclass(frozen=True)
class _Token:
    kind: str  # IDENTIFIER, STRING, INT, FLOAT, a punctuator's name, or END
    text: str
    line: int
    column: int

    def location(self) -> dict[str, int]:
        return {"line": self.line, "column": self.column}


@dataclass(frozen=True)
class Lookup:
    """One ``alias: repository(owner:, name:) { fields }`` of a query."""

    alias: str
    owner: str
    name: str
    fields: tuple[str, ...]
    at: _Token


class GraphQLError(Exception):
    """A query the sandbox refuses; ``as_json`` is its entry in the answer's ``errors``."""

    def __init__(self, message: str, at: _Token | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.at = at

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message}
        if self.at is not None:
            error["locations"] = [self.at.location()]
        return error


def answer(world: World, body: Any) -> dict[str, Any]:
    """The JSON answer (HTTP 200, as GitHub) to one ``POST /graphql`` body."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _errors(GraphQLError("A query attribute must be specified and must be a string."))
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return _errors(GraphQLError("Variables must be a JSON object."))
    try:
        name, lookups = parse(body["query"], variables or {})
        wanted = body.get("operationName")
        if wanted is not None and wanted != name:
            raise GraphQLError(f'No operation named "{wanted}"')
    except GraphQLError as e:
        return _errors(e)
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for lookup in lookups:
        repo = world.repo(f"{lookup.owner}/{lookup.name}")
        if repo is None:
            data[lookup.alias] = None
            where = f"{lookup.owner}/{lookup.name}"
            errors.append(
                {
                    "type": "NOT_FOUND",
                    "path": [lookup.alias],
                    "locations": [lookup.at.location()],
                    "message": f"Could not resolve to a Repository with the name '{where}'.",
                }
            )
        else:
            data[lookup.alias] = dict.fromkeys(lookup.fields, repo.id)  # databaseId only
    return {"data": data, "errors": errors} if errors else {"data": data}


def _errors(error: GraphQLError) -> dict[str, Any]:
    return {"errors": [error.as_json()]}


def parse(source: str, variables: dict[str, Any]) -> tuple[str | None, list[Lookup]]:
    """(operation name, look-ups) of a query; GraphQLError for anything else."""
    return _Parser(_tokens(source), variables).document()


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        column = pos - line_start + 1
        if match is None:
            raise GraphQLError(f'Parse error on "{source[pos]}" at [{line}, {column}]')
        kind = str(match.lastgroup)
        if kind == "punct":
            kind = _PUNCT[match.group()]
        if kind != "skip":
            tokens.append(_Token(kind, match.group(), line, column))
        for brk in _LINE_BREAK.finditer(match.group()):  # only skipped text spans lines
            line, line_start = line + 1, pos + brk.end()
        pos = match.end()
    tokens.append(_Token("END", "", line, pos - line_start + 1))
    return tokens


class _Parser:
    """Strict recursive descent over the one query shape (see the module docstring)."""

    def __init__(self, tokens: list[_Token], variables: dict[str, Any]) -> None:
        self.tokens = tokens
        self.i = 0
        self.variables = variables
        self.declared: dict[str, bool] = {}  # variable name -> non-null

    def peek(self, kind: str, text: str | None = None) -> bool:
        token = self.tokens[self.i]
        return token.kind == kind and (text is None or token.text == text)

    def take(self, kind: str, text: str | None = None) -> _Token:
        token = self.tokens[self.i]
        if not self.peek(kind, text):
            if token.kind == "END":
                raise GraphQLError("Unexpected end of document")
            message = f'Parse error on "{token.text}" ({token.kind}) at [{token.line}, '
            raise GraphQLError(message + f"{token.column}]", token)
        self.i += 1
        return token

    def document(self) -> tuple[str | None, list[Lookup]]:
        name: str | None = None
        first = self.tokens[self.i]
        if first.kind == "IDENTIFIER":
            if first.text != "query":
                raise GraphQLError(f"sandbox: '{first.text}' is not supported; {SUPPORTED}", first)
            self.take("IDENTIFIER")
            if self.peek("IDENTIFIER"):
                name = self.take("IDENTIFIER").text
            if self.peek("LPAREN"):
                self.variable_definitions()
        self.take("LCURLY")
        lookups = [self.field()]
        while not self.peek("RCURLY"):
            lookups.append(self.field())
        self.take("RCURLY")
        self.take("END")
        aliases = [lookup.alias for lookup in lookups]
        for lookup in lookups:
            if aliases.count(lookup.alias) > 1:
                raise GraphQLError(f"sandbox: the alias '{lookup.alias}' is used twice", lookup.at)
        return name, lookups

    def variable_definitions(self) -> None:
        self.take("LPAREN")
        while True:
            self.take("VAR_SIGN")
            name = self.take("IDENTIFIER")
            self.take("COLON")
            kind = self.take("IDENTIFIER")
            if kind.text != "String":
                message = f"sandbox: variable ${name.text} must be a String; {SUPPORTED}"
                raise GraphQLError(message, kind)
            self.declared[name.text] = self.peek("BANG")
            if self.declared[name.text]:
                self.take("BANG")
            if self.peek("RPAREN"):
                self.take("RPAREN")
                return

    def field(self) -> Lookup:
        at = self.take("IDENTIFIER")
        alias, field = at.text, at
        if self.peek("COLON"):
            self.take("COLON")
            field = self.take("IDENTIFIER")
        if field.text != "repository":
            raise GraphQLError(f"sandbox: Query.{field.text} is not supported; {SUPPORTED}", field)
        args = self.arguments(field)
        self.take("LCURLY")
        fields = [self.repository_field()]
        while not self.peek("RCURLY"):
            fields.append(self.repository_field())
        self.take("RCURLY")
        return Lookup(alias, args["owner"], args["name"], tuple(fields), at)

    def arguments(self, field: _Token) -> dict[str, str]:
        args: dict[str, str] = {}
        self.take("LPAREN")
        while not self.peek("RPAREN"):
            name = self.take("IDENTIFIER")
            self.take("COLON")
            if name.text not in ("owner", "name") or name.text in args:
                message = f"sandbox: argument '{name.text}' of repository is not supported"
                raise GraphQLError(f"{message}; {SUPPORTED}", name)
            args[name.text] = self.string_value(name.text)
        self.take("RPAREN")
        missing = [a for a in ("owner", "name") if a not in args]
        if missing:
            message = f"Field 'repository' is missing required arguments: {', '.join(missing)}"
            raise GraphQLError(message, field)
        return args

    def string_value(self, argument: str) -> str:
        if self.peek("STRING"):
            value: str = json.loads(self.take("STRING").text)  # GraphQL escapes are JSON's
            return value
        if self.peek("VAR_SIGN"):
            self.take("VAR_SIGN")
            name = self.take("IDENTIFIER")
            if name.text not in self.declared:
                raise GraphQLError(f"Variable ${name.text} is used but not declared", name)
            given = self.variables.get(name.text)
            if not isinstance(given, str):
                kind = "String!" if self.declared[name.text] else "String"
                message = f"Variable ${name.text} of type {kind} was provided invalid value"
                raise GraphQLError(message, name)
            return given
        token = self.tokens[self.i]
        message = f"Argument '{argument}' on Field 'repository' has an invalid value"
        raise GraphQLError(f"{message} ({token.text}). Expected type 'String!'.", token)

    def repository_field(self) -> str:
        token = self.take("IDENTIFIER")
        if token.text != "databaseId":
            message = f"sandbox: Repository.{token.text} is not supported; {SUPPORTED}"
            raise GraphQLError(message, token)
        return token.text
