"""``apply --json``: one JSON document on stdout whatever stops the apply."""

from __future__ import annotations

import json

from tests.support.e2e import Cli
from tests.test_data_safety import _many


def test_a_mass_delete_refused_under_json_is_one_document_with_its_error(cli: Cli) -> None:
    """It once printed the plan without ``errors`` or per-change results: a script saw a
    plan, not a refusal, and the reason was only on stderr."""
    cli.write_config(_many(4))  # 12 managed secrets
    assert cli.apply()[0] == 0
    cli.write_config(_many(2))  # would delete 6 of 12 (50%)
    code, out, err = cli.apply("--json")
    assert code == 1, err
    document = json.loads(out)
    assert document["errors"] == [
        {
            "scope": "repository",
            "target": "octo-org/legacy",
            "error": "repository:octo-org/legacy: the plan deletes 6 of its 12 managed "
            "secrets (more than 30%); apply refuses this without --allow-mass-delete",
        }
    ]
    assert {c["result"] for c in document["changes"]} == {"not-attempted"}
    assert document["summary"]["delete"] == 6
    assert "apply refused" in err  # the lines on stderr too
    assert len(cli.gh.secrets()) == 12
