"""Write bodies are checked as GitHub checks them: 422 "Invalid request." per the schema."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sandbox import GH, seal

ORG, REPO, USER = "/orgs/octo-org", "/repos/octo-org/api", "/user"
API_ID = 1296269
DOCS = "https://docs.github.com/rest/codespaces/"
PUT_DOCS = {
    REPO: DOCS + "repository-secrets#create-or-update-a-repository-secret",
    ORG: DOCS + "organization-secrets#create-or-update-an-organization-secret",
    USER: DOCS + "secrets#create-or-update-a-secret-for-the-authenticated-user",
}
NOT_BASE64 = "c2VjcmV0 not base64!"


def sealed_body(gh: GH, prefix: str, value: str = "v") -> dict[str, Any]:
    """A body GitHub accepts at ``prefix``: a real sealed box and its key_id."""
    key = gh.key(prefix)
    body: dict[str, Any] = {"encrypted_value": seal(key["key"], value), "key_id": key["key_id"]}
    return body | ({"visibility": "all"} if prefix == ORG else {})


def assert_invalid(response: Any, detail: str, docs: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "message": f"Invalid request.\n\n{detail}",
        "documentation_url": docs,
        "status": "422",
    }


@pytest.mark.parametrize(
    ("prefix", "change", "detail"),
    [
        (REPO, {"encrypted_value": None}, '"encrypted_value" wasn\'t supplied.'),
        (ORG, {"encrypted_value": None}, '"encrypted_value" wasn\'t supplied.'),
        (USER, {"encrypted_value": None}, '"encrypted_value" wasn\'t supplied.'),
        (REPO, {"key_id": None}, '"key_id" wasn\'t supplied.'),
        (ORG, {"key_id": None}, '"key_id" wasn\'t supplied.'),
        (USER, {"key_id": None}, '"key_id" wasn\'t supplied.'),
        (ORG, {"visibility": None}, '"visibility" wasn\'t supplied.'),
        (ORG, {"key_id": None, "visibility": None}, '"key_id", "visibility" weren\'t supplied.'),
        (REPO, {"key_id": 12}, "For 'properties/key_id', 12 is not a string."),
        (ORG, {"key_id": 12}, "For 'properties/key_id', 12 is not a string."),
        (USER, {"key_id": [12]}, "For 'properties/key_id', [12] is not a string."),
        (REPO, {"encrypted_value": 5}, "For 'properties/encrypted_value', 5 is not a string."),
        (ORG, {"visibility": 1}, "For 'properties/visibility', 1 is not a string."),
        (
            ORG,
            {"visibility": "public"},
            "For 'properties/visibility', \"public\" is not a member of "
            '["all", "private", "selected"].',
        ),
        (
            ORG,
            {"visibility": "selected", "selected_repository_ids": [str(API_ID)]},
            f"For 'items', \"{API_ID}\" is not an integer.",
        ),
        (
            ORG,
            {"visibility": "selected", "selected_repository_ids": [API_ID, True]},
            "For 'items', true is not an integer.",
        ),
        (
            ORG,
            {"visibility": "selected", "selected_repository_ids": API_ID},
            f"For 'properties/selected_repository_ids', {API_ID} is not an array.",
        ),
        (
            USER,
            {"selected_repository_ids": [API_ID, None]},
            "For 'items', nil is not an integer or string.",
        ),
        (
            USER,
            {"selected_repository_ids": [1.5]},
            "For 'items', 1.5 is not an integer or string.",
        ),
    ],
)
def test_secret_put_bodies_are_checked_against_the_schema(
    gh: GH, prefix: str, change: dict[str, Any], detail: str
) -> None:
    body = sealed_body(gh, prefix)
    for name, value in change.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    response = gh("PUT", f"{prefix}/codespaces/secrets/X", json=body)
    assert_invalid(response, detail, PUT_DOCS[prefix])
    assert gh.secrets() == {}


@pytest.mark.parametrize("prefix", [REPO, ORG, USER])
def test_a_put_without_a_value_no_longer_updates_a_secret(gh: GH, prefix: str) -> None:
    """Before, ``{}`` (or a body without encrypted_value) 'updated' a secret to no new value."""
    assert gh("PUT", f"{prefix}/codespaces/secrets/X", json=sealed_body(gh, prefix, "keep"))
    before = list(gh.secrets().values())
    response = gh("PUT", f"{prefix}/codespaces/secrets/X", json={})
    missing = '"encrypted_value", "key_id" weren\'t supplied.'
    if prefix == ORG:
        missing = '"encrypted_value", "key_id", "visibility" weren\'t supplied.'
    assert_invalid(response, missing, PUT_DOCS[prefix])
    no_value = {k: v for k, v in sealed_body(gh, prefix).items() if k != "encrypted_value"}
    response = gh("PUT", f"{prefix}/codespaces/secrets/X", json=no_value)
    assert_invalid(response, '"encrypted_value" wasn\'t supplied.', PUT_DOCS[prefix])
    assert list(gh.secrets().values()) == before  # value and updated_at untouched
    assert before[0]["value"] == "keep"


@pytest.mark.parametrize(
    ("data", "shown"),
    [(b"[]", "[]"), (b'"text"', '"text"'), (b"null", "nil"), (b"", "nil"), (b"7", "7")],
)
def test_a_body_that_is_not_an_object_is_422(gh: GH, data: bytes, shown: str) -> None:
    for prefix in (REPO, ORG, USER):
        response = gh("PUT", f"{prefix}/codespaces/secrets/X", data=data)
        detail = f"For 'links/0/schema', {shown} is not an object."
        assert_invalid(response, detail, PUT_DOCS[prefix])


def test_a_rejected_encrypted_value_is_never_echoed(gh: GH) -> None:
    body = sealed_body(gh, REPO) | {"encrypted_value": NOT_BASE64}
    response = gh("PUT", f"{REPO}/codespaces/secrets/X", json=body)
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith(
        "Invalid request.\n\nFor 'properties/encrypted_value', the value does not match /^(?:"
    )
    assert NOT_BASE64 not in message and "c2VjcmV0" not in message
    listed = {"encrypted_value": ["c2VjcmV0"], "key_id": body["key_id"]}
    response = gh("PUT", f"{REPO}/codespaces/secrets/X", json=listed)
    detail = "For 'properties/encrypted_value', an array is not a string."
    assert_invalid(response, detail, PUT_DOCS[REPO])


@pytest.mark.parametrize(
    ("prefix", "body", "detail", "anchor"),
    [
        (
            ORG,
            {},
            '"selected_repository_ids" wasn\'t supplied.',
            "organization-secrets#set-selected-repositories-for-an-organization-secret",
        ),
        (
            ORG,
            {"selected_repository_ids": [str(API_ID)]},
            f"For 'items', \"{API_ID}\" is not an integer.",
            "organization-secrets#set-selected-repositories-for-an-organization-secret",
        ),
        (
            USER,
            {"selected_repository_ids": [str(API_ID)]},  # integers only here, unlike the PUT
            f"For 'items', \"{API_ID}\" is not an integer.",
            "secrets#set-selected-repositories-for-a-user-secret",
        ),
        (
            USER,
            [API_ID],
            f"For 'links/0/schema', [{API_ID}] is not an object.",
            "secrets#set-selected-repositories-for-a-user-secret",
        ),
    ],
)
def test_set_repositories_bodies_are_checked(
    gh: GH, prefix: str, body: Any, detail: str, anchor: str
) -> None:
    extra = {"visibility": "selected"} if prefix == ORG else {}
    created = gh.put_secret(prefix, "X", "v", selected_repository_ids=[API_ID], **extra)
    assert created.status_code == 201, created.text
    response = gh("PUT", f"{prefix}/codespaces/secrets/X/repositories", json=body)
    assert_invalid(response, detail, DOCS + anchor)
    assert [s["repositories"] for s in gh.secrets().values()] == [["octo-org/api"]]
