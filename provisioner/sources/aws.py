"""AWS: the one owner of boto3 (Secrets Manager, SSM Parameter Store, ECR tokens, STS).

Imported only when a config uses AWS, and boto3 itself only on the first call to AWS, so
``provision --version``, ``validate`` and non-AWS configs never pay for it. Credentials and
endpoints come from boto3's standard chain (environment, profile, OIDC web identity,
``AWS_ENDPOINT_URL``, ``AWS_REGION``). Clients are created once per (service, region) through
:meth:`Aws.make_client`, the seam tests replace. botocore errors become :class:`SourceError`
naming the source and AWS's error code, never a value. An ECR token that has expired, or
expires within the hour, is refused here: a run never writes a token about to lapse.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from provisioner.config import SecretsManagerSource, SsmSource
from provisioner.desired import ECR_USER
from provisioner.errors import SourceError
from provisioner.hosts import ecr_host_parts, server_host
from provisioner.secret import SecretValue
from provisioner.sources import EcrTokenPart, Read, Reader, describe

INSTALL_HINT: Final = "AWS support needs boto3: pip install 'provisioner[aws]'"
MIN_TOKEN_LIFE: Final = timedelta(hours=1)
"""An ECR token with less life left than this is never written (README: reliability)."""

_HINTS: Final = {
    "AccessDenied": "the AWS identity lacks the IAM permission for this call",
    "AccessDeniedException": "the AWS identity lacks the IAM permission for this call",
    "UnrecognizedClientException": "the AWS credentials are invalid",
    "InvalidClientTokenId": "the AWS credentials are invalid",
    "ExpiredTokenException": "the AWS credentials have expired",
    "ResourceNotFoundException": "not found in this account and region",
    "ParameterNotFound": "not found in this account and region",
    "ThrottlingException": "AWS throttled the requests (retried, then gave up)",
    "Throttling": "AWS throttled the requests (retried, then gave up)",
    "TooManyRequestsException": "AWS throttled the requests (retried, then gave up)",
    "DecryptionFailure": "KMS could not decrypt the value (check kms:Decrypt on its key)",
}

ClientFactory = Callable[..., Any]
"""(service, region, **credentials) -> a boto3 client; tests pass moto or Stubber ones."""
Clock = Callable[[], datetime]
"""Aware "now"; tests pass a fixed one."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EcrToken:
    """A decoded ECR authorization token: registry host, user ``AWS`` and the password."""

    server: str
    password: SecretValue
    expires_at: datetime | None


def import_boto3() -> Any:
    """boto3, or a clear error naming the extra to install."""
    try:
        import boto3
    except ImportError:
        raise SourceError(INSTALL_HINT) from None
    return boto3


def _translate(e: Exception, what: str) -> SourceError:
    """A botocore failure as one line naming the source and AWS's error code."""
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "").strip()[:300]
        hint = _HINTS.get(code) or (_HINTS["AccessDenied"] if "AccessDenied" in code else "")
        detail = "; ".join(part for part in (hint, message) if part)
        return SourceError(f"{what}: AWS error {code}" + (f" ({detail})" if detail else ""))
    name = type(e).__name__
    if name == "NoCredentialsError":
        return SourceError(
            f"{what}: no AWS credentials found (environment, profile, web identity or "
            "instance role)"
        )
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return SourceError(f"{what}: cannot reach AWS ({name})")
    return SourceError(f"{what}: AWS call failed ({name})")


class Aws:
    """One run's access to AWS: one boto3 session, clients once per (service, region).

    ECR tokens are fetched at most once per (account, region); the caller's account is
    asked of STS at most once.
    """

    def __init__(self, client_factory: ClientFactory | None = None, now: Clock = utc_now) -> None:
        self._factory = client_factory
        self._now = now
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._tokens: dict[tuple[str, str], EcrToken | SourceError] = {}
        self._account: str | None = None
        self._suffixes: dict[str, str] | None = None
        self._secrets: dict[tuple[str, str], SecretValue | SourceError] = {}

    # -- the seam ---------------------------------------------------------------------------
    def session(self) -> Any:
        if self._session is None:
            self._session = import_boto3().session.Session()
        return self._session

    def make_client(self, service: str, region: str, **credentials: Any) -> Any:
        """A new boto3 client (AWS_ENDPOINT_URL and retry settings are boto3's own);
        ``credentials`` (``aws_access_key_id``...) replace the chain's for this client."""
        if self._factory is not None:
            return self._factory(service, region, **credentials)
        return self.session().client(service, region_name=region, **credentials)

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.make_client(service, region)
        return self._clients[key]

    def _call(self, what: str, service: str, region: str, operation: str, **params: Any) -> Any:
        import_boto3()  # the clear "pip install" error comes first
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(service, region), operation)(**params)
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, what) from None

    def region(self, configured: str | None, what: str) -> str:
        """The configured region, else the chain's (AWS_REGION, AWS_DEFAULT_REGION, profile)."""
        region = configured or self.session().region_name
        if not region:
            raise SourceError(f"{what}: no AWS region: set 'region:' in the config, or AWS_REGION")
        return str(region)

    # -- value sources ----------------------------------------------------------------------
    def secret_string(self, source: SecretsManagerSource) -> str:
        """``GetSecretValue``'s SecretString (the resolver applies ``key``).

        Read once per (secret, region): the two keys of an access key pair share one call.
        """
        region = self.region(source.region, describe(source))
        key = (source.aws_secretsmanager, region)
        if key not in self._secrets:
            try:
                self._secrets[key] = SecretValue(self._get_secret_string(source, region))
            except SourceError as e:
                self._secrets[key] = e
        found = self._secrets[key]
        if isinstance(found, SourceError):
            raise found
        return found.reveal()

    def _get_secret_string(self, source: SecretsManagerSource, region: str) -> str:
        what = f"{describe(source)} ({region})"
        answer = self._call(
            what, "secretsmanager", region, "get_secret_value", SecretId=source.aws_secretsmanager
        )
        text = answer.get("SecretString")
        if text is None:
            raise SourceError(
                f"{what}: a binary secret (SecretBinary); store the value as a SecretString"
            )
        return str(text)

    def parameter(self, source: SsmSource) -> str:
        """``GetParameter`` with ``WithDecryption=True`` (SecureString decrypted)."""
        region = self.region(source.region, describe(source))
        what = f"{describe(source)} ({region})"
        answer = self._call(
            what, "ssm", region, "get_parameter", Name=source.aws_ssm, WithDecryption=True
        )
        return str(answer["Parameter"]["Value"])

    # -- ECR --------------------------------------------------------------------------------
    def caller_account(self, region: str) -> str:
        """The account of the credentials (STS GetCallerIdentity, which needs no permission)."""
        if self._account is None:
            answer = self._call("AWS STS", "sts", region, "get_caller_identity")
            self._account = str(answer["Account"])
        return self._account

    def _where(self, part: EcrTokenPart) -> tuple[str, str, str]:
        what = describe(part)
        region = self.region(part.region, what)
        account = part.registry_id or self.caller_account(region)
        return account, region, f"ECR authorization token ({account}, {region})"

    def registry_host(self, account: str, region: str) -> str:
        """``<account>.dkr.ecr.<region>.<partition's DNS suffix>``: what proxyEndpoint names."""
        partition = self.session().get_partition_for_region(region)
        if self._suffixes is None:
            # botocore's public loader (the session's own is private API); read once per run.
            from botocore.loaders import create_loader

            data = create_loader().load_data("endpoints")
            self._suffixes = {p["partition"]: p["dnsSuffix"] for p in data["partitions"]}
        return f"{account}.dkr.ecr.{region}.{self._suffixes.get(partition, 'amazonaws.com')}"

    def ecr_token(self, part: EcrTokenPart) -> EcrToken:
        """``GetAuthorizationToken`` for (account, region), fetched at most once per run."""
        account, region, what = self._where(part)
        key = (account, region)
        if key not in self._tokens:
            try:
                self._tokens[key] = self._fetch_token(part, account, region, what)
            except SourceError as e:
                self._tokens[key] = e
        token = self._tokens[key]
        if isinstance(token, SourceError):
            raise token
        return token

    def _fetch_token(self, part: EcrTokenPart, account: str, region: str, what: str) -> EcrToken:
        params: dict[str, Any] = {"registryIds": [part.registry_id]} if part.registry_id else {}
        answer = self._call(what, "ecr", region, "get_authorization_token", **params)
        token = _decode_token(answer, what)
        expected = self.registry_host(account, region)
        if token.server != expected:
            # SERVER is compared without a token as the derived host: they must agree.
            raise SourceError(
                f"{what}: ECR names the registry {token.server or '(nothing)'!r}, not "
                f"{expected!r}; set ecr.registry_id and ecr.region to the registry's own"
            )
        self._check_life(token, what)
        return token

    def _check_life(self, token: EcrToken, what: str) -> None:
        """A token that lapses within the hour would break codespaces that start with it;
        without ``expiresAt`` no expiry is known and the token is taken as AWS gave it."""
        if token.expires_at is None or token.expires_at - self._now() >= MIN_TOKEN_LIFE:
            return
        expires = token.expires_at.astimezone(UTC).isoformat(timespec="seconds")
        raise SourceError(
            f"{what}: AWS returned a token that expires at {expires}, less than 1h from now; "
            "not written"
        )

    def swap_token(self, key_id: SecretValue, secret: SecretValue, server: str) -> EcrToken:
        """An ECR token minted with a swap-mode key pair, as GitHub will (doctor's check).

        Proves the pair is valid and may read ECR (``ecr:GetAuthorizationToken``), without
        the run's own credentials: the client is made with that pair alone.
        """
        parts = ecr_host_parts(server)
        if parts is None:
            raise SourceError(f"{server}: not a private ECR registry host")
        account, region = parts
        what = f"ECR key pair for {server_host(server)}"
        import_boto3()
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.make_client(
            "ecr",
            region,
            aws_access_key_id=key_id.reveal(),
            aws_secret_access_key=secret.reveal(),
            aws_session_token=None,
        )
        try:
            answer = client.get_authorization_token(registryIds=[account])
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, what) from None
        return _decode_token(answer, what)

    def token_part(self, part: EcrTokenPart) -> str | Read:
        """SERVER is derived (no token needed to compare it); USER is AWS; PASSWORD fetches,
        and tells the resolver when it expires."""
        if part.part == "PASSWORD":
            token = self.ecr_token(part)
            return Read(token.password.reveal(), expires_at=token.expires_at)
        if part.part == "USER":
            return ECR_USER
        account, region, _ = self._where(part)
        return self.registry_host(account, region)

    def readers(self) -> dict[type, Reader]:
        """The resolver's readers for AWS sources and ECR token parts."""
        return {
            SecretsManagerSource: self.secret_string,
            SsmSource: self.parameter,
            EcrTokenPart: self.token_part,
        }


def _decode_token(answer: Any, what: str) -> EcrToken:
    """``GetAuthorizationToken``'s first entry: base64 ``AWS:<password>`` and its endpoint."""
    entries = answer.get("authorizationData") or []
    if not entries:
        raise SourceError(f"{what}: AWS returned no authorization data")
    data = entries[0]
    try:
        decoded = base64.b64decode(data["authorizationToken"], validate=True).decode("utf-8")
    except (KeyError, binascii.Error, UnicodeDecodeError):
        raise SourceError(f"{what}: the token is not base64 'user:password'") from None
    user, sep, password = decoded.partition(":")
    if not sep or not password or user != ECR_USER:
        raise SourceError(f"{what}: the token does not decode to 'AWS:<password>'")
    endpoint = str(data.get("proxyEndpoint") or "")
    server = endpoint.split("://", 1)[-1].rstrip("/")
    return EcrToken(server, SecretValue(password), _aware(data.get("expiresAt")))


def _aware(expires: object) -> datetime | None:
    """botocore parses ``expiresAt`` to an aware datetime; a naive one (a stub) is UTC."""
    if not isinstance(expires, datetime):
        return None
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=UTC)
