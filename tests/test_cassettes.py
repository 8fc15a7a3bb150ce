"""vcrpy cassettes pin the exact requests of a cold apply and of a no-op plan.

The first run records them against the sandbox; every later run replays them with
``record_mode="none"``: a request that is not in the cassette fails the run, and one that
is never made fails the ``all_played`` check, so any change in the request sequence shows up
in review as a cassette diff. Authorization is filtered and request bodies (sealed boxes) are
dropped before recording; matching never looks at bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vcr

from tests.support.e2e import Cli

CASSETTES = Path(__file__).parent / "cassettes"


def _drop_body(request: Any) -> Any:
    request.body = None
    return request


def _recorder(name: str) -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="none" if (CASSETTES / name).exists() else "once",
        match_on=["method", "path", "query"],
        filter_headers=["authorization"],
        before_record_request=_drop_body,
    )


@pytest.mark.parametrize("name", ["cold-apply-then-no-op-plan.yaml"])
def test_request_sequence_is_pinned(cli: Cli, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # vcrpy records from one thread at a time reliably; parallel reads are tested elsewhere.
    cli.env["PROVISION_READ_CONCURRENCY"] = "1"
    recorder = _recorder(name)
    with recorder.use_cassette(name) as cassette:
        code, out, err = cli.apply()
        assert code == 0, err
        code, out, err = cli("plan", "--detailed-exitcode")
        assert (code, out.strip()) == (0, "No changes."), err
    if recorder.record_mode == "none":
        assert cassette.all_played
        assert cassette.play_count == len(cassette)
    text = (CASSETTES / name).read_text()
    assert "ghp_sandbox_admin" not in text
    assert "encrypted_value" not in text
