"""AWS test fixtures: fake credentials, moto in-process or on loopback, and call counting.

No test here can reach real AWS: credentials are fake, the instance-metadata lookup is off,
the suite-wide guard refuses non-loopback sockets, and nothing AWS is ever recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from provisioner.sources.aws import Aws

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials and region; no profile, config file, endpoint or metadata lookup."""
    nowhere = tmp_path_factory.mktemp("aws") / "none"
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto() -> Iterator[None]:
    """AWS emulated in-process (moto's ``mock_aws``), fresh for each test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """One moto server on loopback for the whole session (reset by ``moto_server``)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(moto_server_url: str) -> str:
    """The session's moto server, emptied for this test."""
    session = requests.Session()
    session.trust_env = False
    session.post(f"{moto_server_url}/moto-api/reset", timeout=10).raise_for_status()
    return moto_server_url


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every AWS call the code under test makes, as ``service.Operation`` -> count.

    Wraps the one client seam, :meth:`Aws.make_client`; also counts clients created.
    """
    calls: Counter[str] = Counter()
    original = Aws.make_client

    def counting(self: Aws, service: str, region: str, **credentials: Any) -> Any:
        client = original(self, service, region, **credentials)
        calls[f"client {service} {region}"] += 1

        def count(model: Any, **_: Any) -> None:
            calls[f"{service}.{model.name}"] += 1

        client.meta.events.register("before-call", count)
        return client

    monkeypatch.setattr(Aws, "make_client", counting)
    return calls


class EcrExpiry:
    """What every ECR client of the test answers as a token's ``expiresAt``.

    moto always answers 2015-01-01 (an expired token, which the tool refuses), so a test of
    fresh tokens sets a fresh expiry here; ``at = None`` leaves moto's answer alone.
    """

    def __init__(self) -> None:
        self.at: datetime | None = datetime.now(UTC) + timedelta(hours=12)

    def rewrite(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.at is not None:
            for entry in parsed.get("authorizationData") or []:
                entry["expiresAt"] = self.at


@pytest.fixture
def ecr_expiry(monkeypatch: pytest.MonkeyPatch) -> EcrExpiry:
    """Tokens from GetAuthorizationToken expire 12 h from now unless the test says otherwise.

    A botocore ``after-call`` hook on every ECR client made through :meth:`Aws.make_client`
    rewrites the parsed answer, so the code under test sees it exactly as from AWS.
    """
    expiry = EcrExpiry()
    original = Aws.make_client

    def hooked(self: Aws, service: str, region: str, **credentials: Any) -> Any:
        client = original(self, service, region, **credentials)
        if service == "ecr":
            client.meta.events.register("after-call.ecr.GetAuthorizationToken", expiry.rewrite)
        return client

    monkeypatch.setattr(Aws, "make_client", hooked)
    return expiry


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
