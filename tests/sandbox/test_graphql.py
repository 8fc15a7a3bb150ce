"""``POST /graphql``: the repository-ID look-ups gh sends, answered as GitHub answers them."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.sandbox import Sandbox
from tests.support.sandbox import GH

API_ID, WEB_ID = 1296269, 1296270
SUPPORTED = "only repository(owner:, name:) { databaseId } look-ups are supported"

# What gh 2.23 sends for `gh secret set X --org octo-org --repos api,nope` (captured from
# Debian's gh; built by mapRepoToID in cli/cli pkg/cmd/secret/set/http.go): tabs, newlines,
# aliases repo_000, repo_001, ... and "variables": null.
GH_QUERY = (
    'query MapRepositoryNames { \n\t\t\trepo_000: repository(owner: "octo-org", name: "api") {'
    '\n\t\t\t\tdatabaseId\n\t\t\t}\n\t\t\n\t\t\trepo_001: repository(owner: "octo-org", '
    'name: "nope") {\n\t\t\t\tdatabaseId\n\t\t\t}\n\t\t }'
)


def graphql(gh: GH, body: Any, token: str | None = "ghp_sandbox_admin") -> Any:
    response = gh("POST", "/graphql", token, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_gh_query_maps_names_to_ids_and_reports_unknown_names(gh: GH) -> None:
    assert graphql(gh, {"query": GH_QUERY, "variables": None}) == {
        "data": {"repo_000": {"databaseId": API_ID}, "repo_001": None},
        "errors": [
            {
                "type": "NOT_FOUND",
                "path": ["repo_001"],
                "locations": [{"line": 6, "column": 4}],
                "message": "Could not resolve to a Repository with the name 'octo-org/nope'.",
            }
        ],
    }


def test_names_resolve_case_insensitively_and_across_owners(gh: GH) -> None:
    query = (
        '{ a: repository(owner: "Octo-Org", name: "WEB") { databaseId }, '
        'b: repository(owner: "octocat", name: "dotfiles") { databaseId } }'
    )
    assert graphql(gh, {"query": query}) == {
        "data": {"a": {"databaseId": WEB_ID}, "b": {"databaseId": 1296275}}
    }


def test_variables(gh: GH) -> None:
    query = (
        "query Lookup($owner: String!, $name: String!) "
        "{ repository(owner: $owner, name: $name) { databaseId } }"
    )
    body = {"query": query, "variables": {"owner": "octo-org", "name": "api"}}
    assert graphql(gh, body | {"operationName": "Lookup"}) == {
        "data": {"repository": {"databaseId": API_ID}}
    }
    missing = graphql(gh, {"query": query, "variables": {"owner": "octo-org"}})
    assert missing["errors"][0]["message"] == (
        "Variable $name of type String! was provided invalid value"
    )
    other = graphql(gh, body | {"operationName": "Other"})
    assert other == {"errors": [{"message": 'No operation named "Other"'}]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ viewer { login } }", f"sandbox: Query.viewer is not supported; {SUPPORTED}"),
        ("mutation { addStar(input: {}) { clientMutationId } }", "sandbox: 'mutation' is not"),
        ('{ repository(owner: "o", name: "r") { name } }', "sandbox: Repository.name is not"),
        ('{ repository(owner: "o") { databaseId } }', "missing required arguments: name"),
        ('{ repository(owner: 1, name: "r") { databaseId } }', "has an invalid value (1)"),
        ('{ repository(owner: "o", name: "r", followRenames: true) { databaseId } }', "argument"),
        ('{ repository(owner: "o", name: "r") { ... on Repository { id } } }', "Parse error on"),
        ('{ repository(owner: "o", name: $r) { databaseId } }', "Variable $r is used but not"),
        ("query($n: Int) { repository(owner: $n, name: $n) { databaseId } }", "must be a String"),
        (
            '{ r: repository(owner: "o", name: "a") { databaseId } r: repository(owner: "o", '
            'name: "b") { databaseId } }',
            "the alias 'r' is used twice",
        ),
        ("{ }", 'Parse error on "}" (RCURLY) at [1, 3]'),
        ('{ repository(owner: "o", name: "r") { databaseId }', "Unexpected end of document"),
        ("{ repository(owner: 'o') }", 'Parse error on "\'" at [1, 21]'),
        ('{ repository(owner: "o", name: "r") { databaseId } } { }', 'Parse error on "{"'),
        ("", "Unexpected end of document"),
    ],
)
def test_unsupported_or_malformed_queries_are_graphql_errors(
    gh: GH, query: str, message: str
) -> None:
    answer = graphql(gh, {"query": query})
    assert set(answer) == {"errors"}
    assert message in answer["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"query": 5}, [], "query", {"query": "{ a }", "variables": [1]}],
)
def test_bodies_without_a_query_are_graphql_errors(gh: GH, body: Any) -> None:
    answer = graphql(gh, body)
    assert set(answer) == {"errors"} and answer["errors"][0]["message"]


def test_needs_a_token_and_a_post(gh: GH) -> None:
    assert gh("POST", "/graphql", None, json={"query": GH_QUERY}).status_code == 401
    assert gh("GET", "/graphql").status_code == 404


def test_a_query_is_not_a_write(gh: GH, sandbox: Sandbox) -> None:
    """A POST, but a read: it neither uses up a secondary write limit nor counts as a write."""
    sandbox.store.set_faults(secondary_limit_writes=1, rotate_key_after_writes=1)
    key_id = gh.key("/repos/octo-org/api")["key_id"]
    assert "data" in graphql(gh, {"query": GH_QUERY})
    assert gh.put_secret("/repos/octo-org/api", "X", "v").status_code == 403  # still limited
    assert gh.key("/repos/octo-org/api")["key_id"] == key_id  # no rotation
