"""Public keys cached in the state: a run that knows a target's key writes without asking
GitHub for it, refetches it once on the 422 a rotated key gives, and records the new one."""

from __future__ import annotations

import base64
import json
from collections import Counter

import pytest
from nacl.public import PrivateKey

from provisioner.domain import TargetRef
from provisioner.github.answers import PublicKey
from provisioner.state import document
from tests.support.e2e import Cli, kinds

ORG_PASSWORD = ("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")


def _cached_keys(cli: Cli) -> dict[str, object]:
    """Each shard's cached key by shard name."""
    return {
        p.name: json.loads(p.read_text()).get("public_key")
        for p in sorted(cli.state.glob("*/*.json"))
    }


def test_each_shard_caches_its_targets_public_key(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cached = _cached_keys(cli)
    assert len(cached) == 3
    assert all(isinstance(k, dict) and set(k) == {"key_id", "key", "seal"} for k in cached.values())
    org = json.loads(next(cli.state.glob("org/*.json")).read_text())["public_key"]
    assert (org["key_id"], org["key"]) == cli.gh.sandbox.store.public_key("org", "octo-org")


def test_a_second_apply_of_one_changed_value_asks_for_no_public_key(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.env["ACR_PASSWORD"] = "acr-MARKER-rotated-4"
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 0, err
    assert "Apply: 1 done, 0 failed, 0 not attempted." in out
    counts = kinds(cli.requests())
    assert counts["GET public-key"] == 0, counts
    assert counts["PUT secret"] == 1
    assert cli.gh.secrets()[ORG_PASSWORD]["value"] == "acr-MARKER-rotated-4"


def test_a_key_planted_in_the_state_is_never_used(cli: Cli) -> None:
    """Anyone who can write the state could plant a key whose writes GitHub accepts (the real
    key_id) and no codespace decrypts: a cached key is trusted only with the seal this token
    made, so the run fetches the real key and the value written decrypts."""
    assert cli.apply()[0] == 0
    planted = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    for path in cli.state.glob("*/*.json"):
        document = json.loads(path.read_text())
        document["public_key"]["key"] = planted  # the seal no longer matches
        path.write_text(json.dumps(document))
    cli.env["ACR_PASSWORD"] = "acr-MARKER-after-planting"
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 0, err
    log = cli.requests()
    assert kinds(log)["GET public-key"] == 1  # the org's real key, fetched
    # Never sealed with the planted key: GitHub is not known to refuse a box it cannot open
    # (the sandbox does, with a 422), so the planted key must never be used at all.
    assert [r["status"] for r in log if r["method"] == "PUT"] in ([201], [204])
    assert cli.gh.secrets()[ORG_PASSWORD]["value"] == "acr-MARKER-after-planting"
    # A different token (another user of the state) does not trust this token's seals either.
    cli.env["GH_TOKEN"] = "github_pat_fine"
    cli.env["ACR_PASSWORD"] = "acr-MARKER-other-token"
    cli.reset_log()
    assert cli.apply()[0] == 0
    assert kinds(cli.requests())["GET public-key"] == 1
    assert cli.gh.secrets()[ORG_PASSWORD]["value"] == "acr-MARKER-other-token"


def test_a_rotated_cached_key_is_refetched_exactly_once(cli: Cli) -> None:
    cli.env["PROVISION_RETRY_FLOOR"] = "0.01"
    assert cli.apply()[0] == 0
    before = _cached_keys(cli)
    cli.gh.admin("POST", "faults", {"rotate_keys": True})
    cli.env["ACR_PASSWORD"] = "acr-MARKER-rotated-5"
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 0, err
    log = cli.requests()
    assert kinds(log)["GET public-key"] == 1
    puts = Counter(r["status"] for r in log if r["method"] == "PUT")
    assert puts == Counter({422: 1, 201: 1}) or puts == Counter({422: 1, 204: 1}), puts
    assert cli.gh.secrets()[ORG_PASSWORD]["value"] == "acr-MARKER-rotated-5"
    # The new key is recorded: the next write uses it without asking again.
    after = _cached_keys(cli)
    org = next(name for name in after if name.startswith("octo-org"))
    assert after[org] != before[org]
    assert isinstance(after[org], dict)
    assert (after[org]["key_id"], after[org]["key"]) == cli.gh.sandbox.store.public_key(
        "org", "octo-org"
    )
    cli.env["ACR_PASSWORD"] = "acr-MARKER-rotated-6"
    cli.reset_log()
    assert cli.apply()[0] == 0
    assert kinds(cli.requests())["GET public-key"] == 0


KEY = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()


def test_the_cached_key_round_trips_through_a_document() -> None:
    text = document.render({}, "team", {}, PublicKey("42", KEY))
    assert document.parse(text, "shard").public_key == PublicKey("42", KEY)
    assert document.parse(document.render({}, "team", {}), "shard").public_key is None


@pytest.mark.parametrize(
    "cached",
    [
        "not a mapping",
        {"key_id": True, "key": KEY},
        {"key_id": "1", "key": 7},
        {"key_id": "1", "key": "not base64!"},
        {"key_id": "1", "key": base64.b64encode(b"short").decode()},
        {"key": KEY},
    ],
)
def test_a_malformed_cached_key_is_ignored_not_used(cached: object) -> None:
    raw = json.loads(document.render({}, "team", {}))
    raw["public_key"] = cached
    assert document.parse(json.dumps(raw), "shard").public_key is None
    assert TargetRef("org", "x")  # the document stays readable: only the cache is dropped
