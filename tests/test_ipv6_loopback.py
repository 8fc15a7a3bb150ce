"""The API on IPv6 loopback (``http://[::1]:PORT``): PyGithub keeps the host bare (``::1``), so
the transport brackets it again; every request of an apply and its no-op plan goes through."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from provisioner.sandbox import Sandbox, World
from tests.support.e2e import Cli


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def sandbox(world: World) -> Iterator[Sandbox]:
    if not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    with Sandbox(world, host="::1") as served:
        yield served


def test_an_apply_and_a_no_op_plan_against_ipv6_loopback(cli: Cli) -> None:
    assert cli.gh.sandbox.url.startswith("http://[::1]:")
    code, out, err = cli.apply()
    assert code == 0 and "Apply: 9 done, 0 failed, 0 not attempted." in out, err
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
