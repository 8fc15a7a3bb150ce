"""The CLI's contract: exit codes, help on every command, no traceback, no value, ever."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from provisioner import __version__, planner
from provisioner.cli import app, main
from provisioner.secret import SecretValue

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["validate", "schema", "plan", "apply", "status", "doctor", "sandbox"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"provision {__version__}\n", "")
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    summary = result.output.split("Usage:", 1)[1].split("\n\n", 2)[1].strip()
    assert len(summary) > 20, f"{command} has no help text"


def test_every_command_is_registered_and_listed() -> None:
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert sorted(names) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command: str) -> None:
    import typer.main

    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        if param.param_type_name == "option":
            assert len(param.help or "") > 10, f"{command} {param.opts}: no help text"
        else:
            assert len(getattr(param, "help", "") or "") > 10, f"{command} {param.name}: no help"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["validate"],
        ["nope"],
        ["plan", "x.yaml", "--bogus"],
        ["apply", "x.yaml", "--write-interval", "-1"],
        ["apply", "x.yaml", "--write-interval", "soon"],
        # Click's min=0 lets these through; they once crashed as "internal error: OverflowError".
        ["apply", "x.yaml", "--write-interval", "inf"],
        ["apply", "x.yaml", "--write-interval", "1e400"],
        ["apply", "x.yaml", "--write-interval", "1e300"],
        ["apply", "x.yaml", "--lock-timeout", "inf"],
        ["plan", "x.yaml", "--max-wait", "inf"],
        ["state", "list", "x.yaml", "--lock-timeout", "inf"],
        ["sandbox", "--latency", "inf"],
        ["plan", "x.yaml", "--target", "team:x"],
    ],
)
def test_usage_errors_exit_64_never_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    (ROOT / "x.yaml").exists() and pytest.fail("stray file")
    code, out, err = run(capsys, *argv)
    assert code == 64
    assert out == "" and "Traceback" not in err


def test_validate_ok_and_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", str(ROOT / "configs" / "example.yaml"))
    assert code == 0 and "valid (2 registries, 3 targets, 9 secrets)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nregistries:\n  ACR:\n    server: x.io\n    username: u\n"
        "    password: literal\ntargets: []\n"
    )
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1 and out == ""
    assert f"{bad}:6:15:" in err and "password" in err
    code, out, err = run(capsys, "validate", str(bad), "--json")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False and document["errors"]
    code, out, err = run(capsys, "validate", str(tmp_path / "missing.yaml"))
    assert code == 1 and "missing.yaml" in err and "Traceback" not in err


def test_validate_reads_no_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    witness = tmp_path / "ran"
    config = tmp_path / "c.yaml"
    config.write_text(
        "version: 1\nregistries:\n  R:\n    server: r.io\n    username: u\n"
        f"    password: {{command: [{sys.executable}, -c, \"open('{witness}','w')\"]}}\n"
        "targets:\n  - repository: o/r\n    registries: [R]\n"
    )
    code, out, err = run(capsys, "validate", str(config))
    assert code == 0, err
    assert not witness.exists()


def test_schema_command_validates_the_shipped_configs(capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def offline_plan(tmp_path: Path) -> list[str]:
    """``plan`` of the example config against an address nothing listens on (core replaced)."""
    config = str(ROOT / "configs" / "example.yaml")
    state = str(tmp_path / "s.json")
    return ["plan", config, "--state", state, "--api-url", "http://127.0.0.1:9"]


def test_interrupt_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(planner, "make_plan", interrupted)
    monkeypatch.setenv("GH_TOKEN", "t")
    monkeypatch.setenv("ACR_PASSWORD", "x")
    code, _, err = run(capsys, *offline_plan(tmp_path))
    assert code == 130


def test_a_crash_shows_one_line_and_no_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    marker = "crash-MARKER-value"

    def crash(*args: object, **kwargs: object) -> None:
        value = SecretValue(marker)  # a local holding a value, as a real bug would have
        raise RuntimeError(f"boom with {value} and {value!r}")

    monkeypatch.setattr(planner, "make_plan", crash)
    monkeypatch.setenv("GH_TOKEN", "t")
    argv = offline_plan(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.strip() == "error: internal error: RuntimeError (set PROVISION_DEBUG=1 for details)"
    monkeypatch.setenv("PROVISION_DEBUG", "1")
    with pytest.raises(RuntimeError) as info:
        main(argv)
    assert marker not in str(info.value) and marker not in repr(info.value)
    result = CliRunner().invoke(app, argv)  # Typer's own handler: no locals, no value
    assert marker not in result.output
    assert marker not in "".join(
        str(a) for a in (result.exception.args if result.exception else ())
    )


def test_validate_reports_every_problem_in_one_pass_structured_under_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nregistries:\n  ACR:\n    server: ghcr.io\n    username: u\n"
        "    password: literal\n    visiblity: all\ntargets:\n  - org: octo-org\n"
        "    registries: [ACR, NOPE]\n    visibilty: all\n"
    )
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1 and out == ""
    lines = err.splitlines()
    # The warnings too: fixing the errors must not reveal more problems.
    assert any(line.startswith(f"{bad}:4:13: warning: ghcr.io") for line in lines)
    # The literal password and the unknown registry are found beside the misspelled keys.
    assert any(f"{bad}:6:15:" in line and "password" in line for line in lines)
    assert any(f"{bad}:7:5: unknown key 'visiblity'" in line for line in lines)
    assert any(f"{bad}:10:23: unknown registry 'NOPE'" in line for line in lines)
    assert any(f"{bad}:11:5: unknown key 'visibilty'" in line for line in lines)
    code, out, err = run(capsys, "validate", str(bad), "--json")
    document = json.loads(out)
    assert document["format_version"] == 1 and document["valid"] is False
    assert {"message": "unknown registry 'NOPE'", "file": str(bad), "line": 10, "column": 23} in (
        document["errors"]
    )
    assert [(w["line"], w["column"]) for w in document["warnings"]] == [(4, 13)]


def test_a_placeholder_literal_gets_a_hint_with_one_warning_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "version: 1\nregistries:\n  ACR:\n    server: x.io\n    username: ${ACR_USER}\n"
        "    password: {env: P}\ntargets:\n  - org: octo-org\n    registries: [ACR]\n"
        "    visibility: all\n"
    )
    code, out, err = run(capsys, "validate", str(config))
    assert code == 0
    assert out.strip() == f"{config}: valid (1 registry, 1 target, 3 secrets)"
    assert err.strip() == (
        f"{config}:5:15: warning: '${{ACR_USER}}' is taken literally (no variable expansion); "
        "to read the environment variable write {env: ACR_USER}"
    )


@pytest.mark.parametrize("command", ["plan", "apply", "status", "doctor"])
def test_under_json_every_failure_is_one_json_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nregistries:\n  ACR: {server: x.io, username: u, password: p}\n")
    yes = ["--yes"] if command == "apply" else []
    code, out, err = run(capsys, command, str(bad), "--json", *yes)
    assert code == 1
    document = json.loads(out)
    assert document["format_version"] == 1
    assert {"message", "file", "line", "column"} <= set(document["errors"][0])
    assert f"{bad}:" in err  # the lines on stderr too
    code, out, err = run(capsys, command, str(tmp_path / "missing.yaml"), "--json", *yes)
    assert code == 1
    assert json.loads(out)["errors"][0]["file"] == str(tmp_path / "missing.yaml")
    if command in ("plan", "apply"):
        code, out, err = run(capsys, command, str(bad), "--json", "--max-wait", "-1")
        assert code == 64
        assert "--max-wait" in json.loads(out)["errors"][0]["message"]
