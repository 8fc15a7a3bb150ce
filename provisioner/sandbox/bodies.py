"""GitHub's request-schema checks of the secrets write bodies: 422 "Invalid request.".

GitHub checks a body against the operation's JSON schema before it looks at the values, and
answers 422 with one message and no ``errors`` list, e.g. ``Invalid request.\\n\\n"key_id"
wasn't supplied.``. The schemas follow ``codespaces-secrets.openapi.json``; on top of them
every secret PUT needs ``encrypted_value`` and ``key_id``, as GitHub does: it refuses a
secrets PUT without ``key_id`` although its description does not mark it required
(github/rest-api-description#419), and a PUT without a value must not pass for an update that
leaves the old value in place (the sandbox once answered ``{}`` with 204).

A rejected ``encrypted_value`` is never echoed: it may be a real sealed box.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from provisioner.sandbox.store import VISIBILITIES, ApiError

# GitHub's pattern for encrypted_value (standard Base64, padded), from the description.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
_BASE64 = re.compile(BASE64)
_DOCS = "https://docs.github.com/rest/codespaces/"
_PUT_DOCS = {
    "repository": _DOCS + "repository-secrets#create-or-update-a-repository-secret",
    "org": _DOCS + "organization-secrets#create-or-update-an-organization-secret",
    "user": _DOCS + "secrets#create-or-update-a-secret-for-the-authenticated-user",
}
_SET_REPOS_DOCS = {
    "org": _DOCS + "organization-secrets#set-selected-repositories-for-an-organization-secret",
    "user": _DOCS + "secrets#set-selected-repositories-for-a-user-secret",
}
_SHOWN = 80  # characters of a rejected value quoted in a message


def check_secret_put(scope: str, body: Any) -> None:
    """The body of ``PUT .../codespaces/secrets/{name}`` at ``scope``; ApiError(422) if bad."""
    docs = _PUT_DOCS[scope]
    data = _object(body, docs)
    required = ["encrypted_value", "key_id"] + (["visibility"] if scope == "org" else [])
    _required(data, required, docs)
    value = data["encrypted_value"]
    if not isinstance(value, str):
        _fail(f"For 'properties/encrypted_value', {_unquoted(value)} is not a string.", docs)
    if not _BASE64.fullmatch(value):
        _fail(f"For 'properties/encrypted_value', the value does not match /{BASE64}/.", docs)
    _string(data, "key_id", docs)
    if scope == "org":
        _string(data, "visibility", docs)
        if data["visibility"] not in VISIBILITIES:
            members = ", ".join(json.dumps(v) for v in VISIBILITIES)
            shown = _inspect(data["visibility"])
            _fail(f"For 'properties/visibility', {shown} is not a member of [{members}].", docs)
    if scope != "repository" and "selected_repository_ids" in data:
        # the user PUT alone also takes digit strings ("anyOf": integer, string)
        _ids(data["selected_repository_ids"], strings_ok=scope == "user", docs=docs)


def check_repositories_put(scope: str, body: Any) -> None:
    """The body of ``PUT .../secrets/{name}/repositories`` (org or user); ApiError(422)."""
    docs = _SET_REPOS_DOCS[scope]
    data = _object(body, docs)
    _required(data, ["selected_repository_ids"], docs)
    _ids(data["selected_repository_ids"], strings_ok=False, docs=docs)


def _object(body: Any, docs: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        # GitHub names its root schema 'links/0/schema' (a JSON hyper-schema link)
        _fail(f"For 'links/0/schema', {_inspect(body)} is not an object.", docs)
    return body


def _required(data: dict[str, Any], names: list[str], docs: str) -> None:
    missing = [f'"{name}"' for name in names if name not in data]
    if len(missing) == 1:
        _fail(f"{missing[0]} wasn't supplied.", docs)
    if missing:
        _fail(f"{', '.join(missing)} weren't supplied.", docs)


def _string(data: dict[str, Any], name: str, docs: str) -> None:
    if not isinstance(data[name], str):
        _fail(f"For 'properties/{name}', {_inspect(data[name])} is not a string.", docs)


def _ids(raw: Any, strings_ok: bool, docs: str) -> None:
    if not isinstance(raw, list):
        _fail(f"For 'properties/selected_repository_ids', {_inspect(raw)} is not an array.", docs)
    for item in raw:
        if _is_int(item) or (strings_ok and isinstance(item, str)):
            continue
        kinds = "an integer or string" if strings_ok else "an integer"
        _fail(f"For 'items', {_inspect(item)} is not {kinds}.", docs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(detail: str, docs: str) -> NoReturn:
    raise ApiError(422, f"Invalid request.\n\n{detail}", documentation_url=docs)


def _unquoted(value: Any) -> str:
    """A value for a message, strings inside it hidden (they may be sealed boxes)."""
    if isinstance(value, list | dict):
        return "an array" if isinstance(value, list) else "an object"
    return _inspect(value)


def _inspect(value: Any) -> str:
    """A value as GitHub (Ruby) quotes it in messages: nil, true, "text", [1, 2]."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        text = "[" + ", ".join(_inspect(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{json.dumps(k)}=>{_inspect(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
