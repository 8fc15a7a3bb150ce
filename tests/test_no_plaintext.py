"""No plaintext anywhere: a marker value in every source kind, every command, every output.

Each run's stdout and stderr, every log record down to DEBUG (PyGithub, urllib3, this
package), every file the runs created (config dir, state dir, HOME, temporary files) and the
vcrpy cassettes are searched for the markers and for every ciphertext the sandbox received.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import github  # noqa: F401  (PyGithub sets its logger to INFO on import: before caplog sets DEBUG)
import pytest

from provisioner.cli import app, main
from tests.support.e2e import CONFIG, Cli

ENV_MARK = "env-MARKER-5a1"
FILE_MARK = "file-MARKER-6b2"
CMD_MARK = "cmd-MARKER-7c3"
MARKS = (ENV_MARK, FILE_MARK, CMD_MARK)
# The command computes its value: the config file itself never holds the marker.
COMMAND = f"[{sys.executable}, -c, \"print('cmd-MAR' + 'KER-7c3')\"]"
MARKED = CONFIG.replace("    username: acr-pull\n", f"    username: {{command: {COMMAND}}}\n")
CASSETTES = Path(__file__).parent / "cassettes"


@pytest.fixture
def marked(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    assert "MARKER" not in MARKED.replace(CONFIG, "")
    cli.write_config(MARKED)
    (cli.tmp / "hub-token").write_text(FILE_MARK + "\n")
    cli.env |= {"ACR_PASSWORD": ENV_MARK, "PROVISION_RETRY_FLOOR": "0.001"}
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    yield cli


def command_names() -> set[str]:
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}


def run_plain(cli: Cli, *argv: str, api: bool = True) -> tuple[int, str, str]:
    """``provision COMMAND CONFIG [--api-url URL] ...`` (for commands without --state)."""
    cli.capsys.readouterr()
    saved = dict(os.environ)
    os.environ.update(cli.env)
    extra = ["--api-url", cli.gh.sandbox.url] if api else []
    try:
        code = main([argv[0], str(cli.config), *extra, *argv[1:]])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = cli.capsys.readouterr()
    return code, out, err


def test_no_marker_or_ciphertext_in_any_output_log_or_file(
    marked: Cli, caplog: pytest.LogCaptureFixture, isolated_home: Path
) -> None:
    cli = marked
    for name in ("", "github", "urllib3", "provisioner"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    outputs: list[tuple[int, str, str]] = []
    run = outputs.append
    run(run_plain(cli, "validate", api=False))
    cli.capsys.readouterr()
    run((main(["schema"]), *cli.capsys.readouterr()))
    run(cli("plan"))
    run(cli("plan", "--json", "-v"))
    # Retried requests too: 502s and secondary rate limits during the writes.
    cli.gh.admin("POST", "faults", {"fail_every": 4, "secondary_limit_writes": 2, "retry_after": 0})
    run(cli.apply("-v"))
    cli.gh.admin("POST", "faults", {"fail_every": 0})
    run(cli("plan", "-v", "--detailed-exitcode"))
    cli.env["ACR_PASSWORD"] = ENV_MARK + "-next"  # value-changed: sources read at plan time
    run(cli("plan", "-v", "--json"))
    run(cli.apply("-v", "--json"))
    run(cli.apply("--force-rotate"))
    if "status" in command_names():
        run(cli("status"))
        run(cli("status", "--json", "-v"))
    if "doctor" in command_names():
        run(run_plain(cli, "doctor", "-v"))
        run(run_plain(cli, "doctor", "--json"))
    assert [code for code, _, _ in outputs[:4]] == [0, 0, 0, 0]

    ciphertexts = [
        r["body"]["encrypted_value"]
        for r in cli.requests()
        if r["method"] == "PUT" and isinstance(r["body"], dict) and "encrypted_value" in r["body"]
    ]
    assert len(ciphertexts) >= 10
    forbidden = [*MARKS, *ciphertexts]

    texts = {f"output {i}": out + err for i, (_, out, err) in enumerate(outputs)}
    texts |= {f"log {r.name} {i}": r.getMessage() for i, r in enumerate(caplog.records)}
    inputs = {cli.tmp / "hub-token"}
    for root in (cli.tmp, isolated_home):
        for path in root.rglob("*"):
            if path.is_file() and path not in inputs:
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(p.startswith(str(cli.state)) and p.endswith(".json") for p in texts)  # the shards
    for where, text in texts.items():
        for secret in forbidden:
            assert secret not in text, f"{secret[:12]}... found in {where}"
        assert "encrypted_value" not in text, where
    assert any(r.name == "github.Requester" for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)


def test_retried_request_logs_at_debug_hold_no_body(
    marked: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")
    marked.gh.admin("POST", "faults", {"secondary_limit_writes": 3, "retry_after": 0})
    assert marked.apply()[0] == 0
    requester = [r for r in caplog.records if r.name == "github.Requester"]
    assert any("PUT" in r.getMessage() for r in requester)
    assert any("Retry" in r.getMessage() or "retry" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        message = record.getMessage()
        assert "encrypted_value" not in message and "MARKER" not in message


def test_github_actions_masks_each_value_before_it_can_show(marked: Cli) -> None:
    marked.env["GITHUB_ACTIONS"] = "true"
    code, out, err = marked.apply()
    assert code == 0, err
    lines = out.splitlines()
    masks = [i for i, line in enumerate(lines) if line.startswith("::add-mask::")]
    assert set(MARKS) <= {lines[i].removeprefix("::add-mask::") for i in masks}
    report = next(i for i, line in enumerate(lines) if line.startswith("Apply:"))
    first_done = next(i for i, line in enumerate(lines) if line.strip().startswith("done"))
    assert max(masks) < min(report, first_done)
    for i, line in enumerate(lines):
        if i not in masks:
            assert not any(m in line for m in MARKS)
    assert not any(m in err for m in MARKS)


def test_cassettes_hold_no_value_and_no_ciphertext() -> None:
    from tests.support.e2e import ACR_PASSWORD, HUB_TOKEN

    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes
    for cassette in cassettes:
        text = cassette.read_text()
        assert ACR_PASSWORD not in text and HUB_TOKEN not in text
        assert "encrypted_value" not in text and "ghp_sandbox_admin" not in text
