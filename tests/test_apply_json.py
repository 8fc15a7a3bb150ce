"""``apply --json``: one JSON document on stdout whatever stops the apply, and never a prompt
(as ``terraform apply -json`` needs ``-auto-approve``)."""

from __future__ import annotations

import json
import os
import pty

from tests.faults.conftest import spawn
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
    message = (
        "repository:octo-org/legacy: the plan deletes 6 secrets, more than 30% of the 12 it "
        "manages there; apply refuses this without --allow-mass-delete"
    )
    assert document["errors"] == [
        {"message": message, "scope": "repository", "target": "octo-org/legacy", "error": message}
    ]
    assert {c["result"] for c in document["changes"]} == {"not-attempted"}
    assert document["summary"]["delete"] == 6
    assert "apply refused" in err  # the lines on stderr too
    assert len(cli.gh.secrets()) == 12


def test_apply_json_without_yes_on_a_terminal_is_a_usage_error_before_any_read(cli: Cli) -> None:
    """On a terminal it once prompted with no plan shown (stdout is the JSON), and a "no"
    left stdout empty."""
    controller, terminal = pty.openpty()
    try:
        process = spawn(cli, "apply", "--json", stdin=terminal)
        try:
            out, err = process.communicate(timeout=60)  # a prompt would wait: a timeout here
        finally:
            if process.poll() is None:
                process.kill()
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == 64, err
    assert json.loads(out) == {
        "format_version": 1,
        "errors": [
            {
                "message": "apply --json needs --yes: the plan cannot be shown for confirmation "
                "(stdout is the JSON document); run plan --json to review it first"
            }
        ],
    }
    assert "Apply these changes?" not in err and "Traceback" not in err
    assert cli.requests() == []  # nothing was read (nor written)
    assert not cli.gh.secrets() and not cli.state.exists()


def test_apply_json_with_yes_still_applies(cli: Cli) -> None:
    code, out, err = cli.apply("--json")
    assert code == 0, err
    assert {c["result"] for c in json.loads(out)["changes"]} == {"ok"}
