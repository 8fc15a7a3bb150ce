"""Hosts: which API URLs the tool talks to and which hosts may be sent the token, and what a
registry's server names (its host, an ECR registry, GitHub's own package hosts).

One decision for every source of the API URL (``--api-url``, config ``github.api_url``,
``GITHUB_API_URL``, ``GH_HOST``), so that no source can slip past it:

- :func:`check_api_url` -- the URL, or one line saying why not: not http(s), plain http off
  loopback, or a web address (``https://github.com``) where the API's belongs;
- :func:`api_url_for_host` -- ``GH_HOST`` (a web host, as gh takes it) to its API URL;
- :func:`is_dotcom` -- whether a host is github.com's (its own tokens; no enterprise token);
- :func:`is_loopback` -- the one test of a loopback host (plain http allowed there only);
- :func:`state_location_problem` -- why a state location is neither a local path nor
  ``s3://BUCKET/PREFIX/`` (a ``gs://`` or ``S3://`` must never become a local folder);
- :func:`registry_address_problem`, :func:`server_host`, :func:`ecr_host_parts` -- whether a
  registry SERVER is an address, its host, an ECR registry's account and region;
  :data:`GITHUB_PACKAGE_HOSTS`, :data:`ECR_TOKEN_LIFE`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from ipaddress import ip_address
from typing import Final
from urllib.parse import urlsplit

DOTCOM: Final = "github.com"
LOCAL_DOTCOM: Final = "github.localhost"
"""gh's name for a github.com running on the developer's machine (served over plain http)."""
TENANCY: Final = "ghe.com"
"""GHE.com: each enterprise's own subdomain, with its API at ``api.SUBDOMAIN.ghe.com``."""


URL_SCHEME_PATTERN: Final = r"[A-Za-z][A-Za-z0-9+.-]*"
S3_BUCKET_PATTERN: Final = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
"""A URL's scheme, and an S3 bucket name as a state location takes it (the config's
schema uses both)."""
_URL_SCHEME: Final = re.compile(f"({URL_SCHEME_PATTERN})://")
_S3_BUCKET: Final = re.compile(S3_BUCKET_PATTERN)
STATE_FORMS: Final = "the state is a local path or s3://BUCKET/PREFIX/"


def state_location_problem(location: str) -> str | None:
    """None for a local path or ``s3://BUCKET/PREFIX/``; else why not, in words.

    Anything that looks like a URL (``scheme://``) other than lower-case ``s3://`` is refused:
    taken as a path, ``gs://acme/x/`` or ``S3://acme/x/`` would silently become the folders
    ``./gs:/acme/x/``. ``S3://`` is refused too, not read as S3: the config's ``state:``
    has always refused it, and one spelling keeps the two the same.
    """
    scheme = _URL_SCHEME.match(location)
    if scheme is None:
        return None
    if scheme[1] == "s3":
        bucket = location[len("s3://") :].partition("/")[0]
        if _S3_BUCKET.fullmatch(bucket):
            return None
        return f"{STATE_FORMS} (a lower-case bucket name)"
    if scheme[1].lower() == "s3":
        return f"{STATE_FORMS}: write s3:// in lower case"
    return f"{STATE_FORMS}: {scheme[1]}:// is not supported"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and names under ``.localhost`` (RFC 6761 reserves them)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """The URL, if the token may be sent there; else ValueError saying why (one line)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced "[" in the host
        raise ValueError(f"{url!r} is not an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an http(s) URL")
    # Before the scheme check: "http://github.com" is better answered with the right URL.
    api = _api_of_web_host(host)
    if api is not None:
        owner = "GitHub's" if api == "https://api.github.com" else "a GHE.com"
        raise ValueError(f"{url!r} is {owner} web address; the API is {api}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(f"{url!r} must use https (plain http only for loopback hosts)")
    return url


def _api_of_web_host(host: str) -> str | None:
    """The API URL of a GitHub web host (github.com, SUBDOMAIN.ghe.com); None for any other.

    Such a URL answers HTML (or redirects) to every API path, so a run against it would
    only retry and then report "cannot reach": refused before any request, naming the API.
    """
    name = host.rstrip(".").lower()
    if name in (DOTCOM, f"www.{DOTCOM}"):
        return f"https://api.{DOTCOM}"
    tenant = name.removesuffix(f".{TENANCY}")
    if tenant != name and tenant and "." not in tenant:
        return f"https://api.{name}"
    return None


def api_url_for_host(host: str) -> str:
    """``GH_HOST`` to its API URL, by gh's rule (cli/cli ``internal/ghinstance.RESTPrefix``).

    github.com and GHE.com hosts: ``https://api.HOST``; ``github.localhost``:
    ``http://api.github.localhost``; any other host is GitHub Enterprise Server's
    ``https://HOST/api/v3`` (which the caller refuses: it has no Codespaces).
    ValueError (one line) for what is no host name, or an API host given as the web host.
    """
    name = host.strip().rstrip(".").lower()
    if not name or any(c in name for c in "/:@ ") or name.startswith("."):
        raise ValueError(
            f"expected a host name such as github.com or acme.ghe.com, got {host!r} "
            "(set GITHUB_API_URL for a full API URL)"
        )
    if name.startswith("api.") and not _is_enterprise_server(name):
        web = name.removeprefix("api.")
        raise ValueError(f"{host!r} is an API host; GH_HOST takes the web host: {web}")
    if name == LOCAL_DOTCOM:
        return f"http://api.{name}"
    if _is_enterprise_server(name):
        return f"https://{name}/api/v3"
    return f"https://api.{name}"


def is_dotcom(host: str) -> bool:
    """github.com or a name under it (api.github.com), or gh's local ``github.localhost``.

    gh uses ``GH_ENTERPRISE_TOKEN`` for every other host, and never for these.
    """
    name = host.rstrip(".").lower()
    return any(name == h or name.endswith(f".{h}") for h in (DOTCOM, LOCAL_DOTCOM))


def _is_enterprise_server(name: str) -> bool:
    # gh's ghauth.IsEnterprise: neither github.com's (nor its local stand-in's) nor GHE.com's.
    return not is_dotcom(name) and not name.endswith(f".{TENANCY}")


# -- registry servers -----------------------------------------------------------------------

# awslabs/amazon-ecr-credential-helper ecr-login/api/client.go `ecrPattern`, pinned
# . Always used with fullmatch: `$` alone would accept "\n".
ECR_HOST_PATTERN: Final = (
    r"^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\."
    r"(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|"
    r"c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
_ECR_HOST_RE: Final = re.compile(ECR_HOST_PATTERN, re.ASCII)
ECR_TOKEN_LIFE: Final = timedelta(hours=12)
GITHUB_PACKAGE_HOSTS: Final = frozenset({"ghcr.io", "npm.pkg.github.com"})


def is_private_ecr_host(server: str) -> bool:
    """True for a private ECR registry host, with an optional ``https://`` and trailing ``/``."""
    return ecr_host_parts(server) is not None


def ecr_host_parts(server: str) -> tuple[str, str] | None:
    """(account, region) of a private ECR registry host, or None for any other server."""
    match = _ECR_HOST_RE.fullmatch(server.removeprefix("https://").removesuffix("/"))
    return (match[1], match[3]) if match else None


_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII | re.IGNORECASE)


def registry_address_problem(server: str) -> str | None:
    """Why a SERVER value is not a registry address (``HOST[:PORT][/PATH]``, optionally with
    ``https://`` or ``http://``), or None. A codespace's ``docker login`` gets it as written, so
    a space, a bad port or another scheme would fail only there, at every codespace start."""
    if not server or any(c.isspace() or not c.isprintable() for c in server):
        return "has a space or a control character"
    scheme, sep, _ = server.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        return f"has the scheme {scheme!r}: only https:// (or http://) or none"
    parts = urlsplit(server if sep else "//" + server)
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    host = (parts.hostname or "").rstrip(".")
    if parts.username is not None or parts.query or parts.fragment:
        return "has a user, a query or a fragment: give HOST[:PORT][/PATH]"
    if host.startswith("["):
        host = host.strip("[]")
    try:
        ip_address(host)
        return None
    except ValueError:
        pass
    if not host or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return "has no valid host name"
    return None


def server_host(server: str) -> str:
    """The lower-cased host of a server value: ``https://ghcr.io/`` -> ``ghcr.io``."""
    rest = server.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
