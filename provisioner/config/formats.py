"""Field formats of the configuration: durations, logins, ``owner/name``, URLs, patterns."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from provisioner.hosts import (
    S3_BUCKET_PATTERN,
    STATE_FORMS,
    URL_SCHEME_PATTERN,
    check_api_url,
    state_location_problem,
)

_STRICT: Final = ConfigDict(frozen=True, extra="forbid", strict=True)
DURATION_PATTERN: Final = r"^(?=[0-9])(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$"
_DURATION_RE: Final = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
LOGIN_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
REPO_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$"
REPO_GLOB_PATTERN: Final = r"^[A-Za-z0-9._*?\[\]!-]+$"
ACCOUNT_PATTERN: Final = r"^[0-9]{12}$"
CONFIG_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Where the state lives: s3://BUCKET/PREFIX/ (an S3 bucket name), else a local path that
# looks like no URL (gs://, S3://) and no S3: typo (for editors; validation says why).
STATE_PATTERN: Final = (
    rf"^(?:s3://{S3_BUCKET_PATTERN}(?:/[^\x00]*)?"
    rf"|(?![Ss]3:|{URL_SCHEME_PATTERN}://)[^\x00]{{1,4096}})$"
)
SOURCE_KEYS: Final = ("env", "file", "command", "aws_secretsmanager", "aws_ssm")


def _check(pattern: str, message: str) -> AfterValidator:
    """A format check; ``message`` is formatted with the rejected value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message.format(value))
        return value

    return AfterValidator(check)


def parse_duration(value: object) -> timedelta:
    """``'6h'``, ``'45m'``, ``'90s'``, ``'1h30m'``, ``'2d'`` -> timedelta (must be > 0)."""
    if isinstance(value, timedelta):
        period = value
    else:
        match = _DURATION_RE.fullmatch(value) if isinstance(value, str) and value else None
        if match is None:
            raise ValueError(
                f"expected a duration like '6h', '45m', '90s', '1h30m' or '2d', got {value!r}"
            )
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        try:
            period = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            raise ValueError(f"duration {value!r} is too long") from None
    if period <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return period


def _api_url(value: str) -> str:
    # The one check every source of the API URL goes through (flag, config, environment).
    return check_api_url(value)


def _to_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["6h", "1h30m"]}),
]
NonEmpty = Annotated[str, Field(min_length=1)]
Login = Annotated[
    str,
    _check(LOGIN_PATTERN, "{!r} is not a GitHub login"),
    WithJsonSchema({"type": "string", "pattern": LOGIN_PATTERN}),
]
ConfigName = Annotated[
    str,
    _check(
        CONFIG_NAME_PATTERN,
        "{!r}: a config name is letters, digits, '.', '_' and '-' (at most 100, no leading "
        "punctuation): it names the state",
    ),
    WithJsonSchema({"type": "string", "pattern": CONFIG_NAME_PATTERN}),
]


def _state_location(value: str) -> str:
    problem = state_location_problem(value)
    if problem is None and not re.fullmatch(STATE_PATTERN, value):
        problem = f"{STATE_FORMS} (a lower-case bucket name)"
    if problem is not None:
        raise ValueError(f"{value!r}: {problem}")
    return value


StateLocation = Annotated[
    str,
    AfterValidator(_state_location),
    WithJsonSchema({"type": "string", "pattern": STATE_PATTERN}),
]
RepoName = Annotated[
    str,
    _check(REPO_PATTERN, "{!r} is not an 'owner/name' repository"),
    WithJsonSchema({"type": "string", "pattern": REPO_PATTERN}),
]
RepoGlob = Annotated[
    str,
    _check(
        REPO_GLOB_PATTERN, "{!r}: list repositories of an org by name (no 'owner/'), or by glob"
    ),
    WithJsonSchema({"type": "string", "pattern": REPO_GLOB_PATTERN}),
]
RegistryRefs = Annotated[tuple[str, ...], Field(min_length=1), BeforeValidator(_to_tuple)]
