"""``plan --lock-timeout`` (DESIGN §2 lists it for plan): accepted, and a plan never waits.

A plan never locks the state, so the flag (or ``PROVISION_LOCK_TIMEOUT``) only keeps
scripts that pass one set of flags to plan and apply working: a lock held on every shard
changes nothing for a plan, however long the timeout.
"""

from __future__ import annotations

import time

from provisioner import state
from provisioner.domain import TargetRef
from provisioner.state.local import LocalBackend
from tests.support.e2e import Cli

TARGETS = [
    TargetRef("org", "octo-org"),
    TargetRef("repository", "octo-org/legacy"),
    TargetRef("user", "octocat"),
]


def test_plan_accepts_lock_timeout_and_never_waits_for_a_held_lock(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    store = state.Store(LocalBackend(cli.state), "team")
    with store.locked(TARGETS):
        start = time.monotonic()
        code, out, err = cli("plan", "--detailed-exitcode", "--lock-timeout", "30")
        assert (code, out.strip()) == (0, "No changes."), err
        cli.env["PROVISION_LOCK_TIMEOUT"] = "30"
        code, out, err = cli("plan", "--detailed-exitcode")
        assert (code, out.strip()) == (0, "No changes."), err
        assert time.monotonic() - start < 20  # neither plan waited its 30 s
        assert "waiting" not in err and "locked" not in err
        # apply, by contrast, does wait (and here gives up after its timeout).
        code, out, err = cli.apply("--lock-timeout", "0.2")
        assert code == 1 and "still locked by" in err


def test_plan_lock_timeout_must_be_a_non_negative_number(cli: Cli) -> None:
    for bad in ("-1", "soon"):
        code, out, err = cli("plan", "--lock-timeout", bad)
        assert code == 64 and "--lock-timeout" in err and "Traceback" not in err, err
