"""Where the GitHub token and API URL come from (README: authentication). Never a CLI argument."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlparse

from provisioner.errors import ProvisionError
from provisioner.hosts import api_url_for_host, check_api_url, is_dotcom

if TYPE_CHECKING:
    from github.Auth import Auth

DEFAULT_API_URL = "https://api.github.com"
DOTCOM_TOKENS: Final = ("GH_TOKEN", "GITHUB_TOKEN")
ENTERPRISE_TOKENS: Final = ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")


def api_url(flag: str | None, config_url: str | None, environ: Mapping[str, str]) -> str:
    """``--api-url`` > config ``github.api_url`` > ``GITHUB_API_URL`` > ``GH_HOST`` > default.

    ``GH_HOST`` is a web host, mapped to its API URL as gh does
    (:func:`provisioner.hosts.api_url_for_host`). Whichever source it came from, the URL passes
    :func:`provisioner.hosts.check_api_url`: the token never travels over plain http to a host
    that is not loopback, and a web address is refused naming the API's.
    """
    source, url = _chosen_url(flag, config_url, environ)
    try:
        check_api_url(url)
    except ValueError as e:
        raise ProvisionError(f"{source}: API URL {e}") from None
    if urlparse(url).path.rstrip("/").endswith("/api/v3"):
        raise ProvisionError(
            f"{source}: API URL {url!r} looks like GitHub Enterprise Server, which has no "
            "Codespaces; use api.github.com or https://api.SUBDOMAIN.ghe.com"
        )
    return url.rstrip("/")


def _chosen_url(
    flag: str | None, config_url: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(where it came from, the URL) of the first source that gives one."""
    sources = (
        ("--api-url", flag),
        ("config github.api_url", config_url),
        ("GITHUB_API_URL", environ.get("GITHUB_API_URL")),
    )
    for source, url in sources:
        if url:
            return source, url
    host = environ.get("GH_HOST", "").strip()
    if not host:
        return "default", DEFAULT_API_URL
    try:
        return f"GH_HOST={host}", api_url_for_host(host)
    except ValueError as e:
        raise ProvisionError(f"GH_HOST: {e}") from None


def token_variables(url: str) -> tuple[str, ...]:
    """Where a token for this API URL is read from, in order.

    github.com (and gh's ``github.localhost``): ``GH_TOKEN``, ``GITHUB_TOKEN``; the enterprise
    variables are never read, so a token kept for another host never goes to github.com.
    Any other host (GHE.com, a local sandbox): ``GH_ENTERPRISE_TOKEN``, then
    ``GITHUB_ENTERPRISE_TOKEN`` (gh's order), then ``GH_TOKEN``, ``GITHUB_TOKEN``.
    (Recent gh reads only ``GH_TOKEN``/``GITHUB_TOKEN`` for GHE.com; this tool's contract
    asks for the enterprise token there, and ``GH_TOKEN`` still works when it is unset.)
    """
    if is_dotcom(urlparse(url).hostname or ""):
        return DOTCOM_TOKENS
    return ENTERPRISE_TOKENS + DOTCOM_TOKENS


def _gh_token(api_host: str) -> str | None:
    gh = shutil.which("gh")
    if gh is None:
        return None
    argv = [gh, "auth", "token"]
    if api_host not in ("api.github.com", "github.com"):
        argv += ["--hostname", api_host.removeprefix("api.")]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    token = done.stdout.strip()
    return token if done.returncode == 0 and token else None


APP_SOURCE: Final = "the GitHub App (GITHUB_APP_ID)"


def credential_source(environ: Mapping[str, str], url: str) -> str:
    """Where :func:`credentials` takes the token from, in words for messages: the variable
    (``GH_ENTERPRISE_TOKEN``...), ``the GitHub App (GITHUB_APP_ID)`` or ``gh auth token``."""
    for name in token_variables(url):
        if environ.get(name, "").strip():
            return name
    if environ.get("GITHUB_APP_ID", "").strip():
        return APP_SOURCE
    return "gh auth token"


def credentials(environ: Mapping[str, str], url: str) -> Auth:
    """A PyGithub ``Auth``: a token (:func:`token_variables`), a GitHub App, or ``gh``."""
    from github import Auth

    names = token_variables(url)
    for name in names:
        token = environ.get(name, "").strip()
        if token:
            return Auth.Token(token)
    app_id = environ.get("GITHUB_APP_ID", "").strip()
    if app_id:
        return _app_auth(environ, app_id)
    gh_token = _gh_token(urlparse(url).hostname or "")
    if gh_token:
        return Auth.Token(gh_token)
    tokens = f"{', '.join(names[:-1])} or {names[-1]}"
    raise ProvisionError(
        f"no GitHub credentials: set {tokens}, or GITHUB_APP_ID with "
        "GITHUB_APP_PRIVATE_KEY(_FILE) and GITHUB_APP_INSTALLATION_ID, "
        "or log in with 'gh auth login'"
    )


def _app_auth(environ: Mapping[str, str], app_id: str) -> Auth:
    from github import Auth

    key = environ.get("GITHUB_APP_PRIVATE_KEY", "")
    key_file = environ.get("GITHUB_APP_PRIVATE_KEY_FILE", "")
    if not key and key_file:
        try:
            key = Path(key_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ProvisionError(
                f"GITHUB_APP_PRIVATE_KEY_FILE {key_file}: cannot read: {e}"
            ) from None
    if not key:
        raise ProvisionError(
            "GITHUB_APP_ID is set but neither GITHUB_APP_PRIVATE_KEY nor "
            "GITHUB_APP_PRIVATE_KEY_FILE is"
        )
    given = environ.get("GITHUB_APP_PRIVATE_KEY")
    _check_private_key(
        key, "GITHUB_APP_PRIVATE_KEY" if given else f"GITHUB_APP_PRIVATE_KEY_FILE {key_file}"
    )
    installation = environ.get("GITHUB_APP_INSTALLATION_ID", "").strip()
    # ASCII digits only: str.isdigit() also takes '²' or '٣', which int() refuses or reads.
    if not _DIGITS.fullmatch(installation):
        raise ProvisionError(
            "GITHUB_APP_ID is set but GITHUB_APP_INSTALLATION_ID is not a number "
            "(the installation's numeric ID)"
        )
    # The App ID goes into the JWT as it is (PyGithub takes any string: GitHub accepts the
    # numeric App ID and the App's client ID, Iv1.…).
    from provisioner.github.client import InstallationAuth  # PyGithub loads with the client

    return InstallationAuth(Auth.AppAuth(app_id, key), int(installation))


_DIGITS: Final = re.compile(r"[0-9]{1,19}")


def _check_private_key(key: str, where: str) -> None:
    """The key as PyJWT will sign with it (an unencrypted PEM RSA private key), checked now:
    PyJWT would fail on the first request, with an error that names neither variable.
    The message never shows the key's text."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        loaded = load_pem_private_key(key.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        loaded = None
    if not isinstance(loaded, RSAPrivateKey):
        raise ProvisionError(
            f"{where}: not a PEM RSA private key (unencrypted, as GitHub issues it: "
            "-----BEGIN RSA PRIVATE KEY-----)"
        )
