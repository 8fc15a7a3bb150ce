"""Value sources: env, file, command; lazily, once per source; AWS pluggable; never shown."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from provisioner.config import (
    CommandSource,
    EnvSource,
    FileSource,
    Literal,
    SecretsManagerSource,
    SsmSource,
)
from provisioner.errors import SourceError
from provisioner.secret import SecretValue
from provisioner.sources import EcrTokenPart, Read, Resolver


def resolver(tmp_path: Path, **env: str) -> Resolver:
    return Resolver(tmp_path, env)


def test_literal_and_env(tmp_path: Path) -> None:
    r = resolver(tmp_path, TOKEN="t0ken")
    assert r.resolve(Literal(value="plain")).reveal() == "plain"
    assert r.resolve(EnvSource(env="TOKEN")).reveal() == "t0ken"
    for env in ({}, {"TOKEN": ""}):
        with pytest.raises(
            SourceError, match="env TOKEN: the environment variable is unset or empty"
        ):
            Resolver(tmp_path, env).resolve(EnvSource(env="TOKEN"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"abc\n", "abc"),
        (b"abc", "abc"),
        (b"abc\n\n", "abc\n"),
        (b"abc\r\n", "abc"),
        (b" a b ", " a b "),
    ],
)
def test_file_strips_one_trailing_newline(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "token").write_bytes(content)
    assert resolver(tmp_path).resolve(FileSource(file="token")).reveal() == expected


def test_file_paths_relative_to_config_and_home(tmp_path: Path, isolated_home: Path) -> None:
    (isolated_home / "tok").write_text("from-home\n")
    assert resolver(tmp_path).resolve(FileSource(file="~/tok")).reveal() == "from-home"
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "t").write_text("rel")
    assert Resolver(sub, {}).resolve(FileSource(file="t")).reveal() == "rel"


def test_file_errors(tmp_path: Path) -> None:
    r = resolver(tmp_path)
    with pytest.raises(SourceError, match="cannot read"):
        r.resolve(FileSource(file="missing"))
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SourceError, match="not UTF-8"):
        r.resolve(FileSource(file="bin"))
    with pytest.raises(SourceError, match="not a regular file"):
        r.resolve(FileSource(file="."))
    os.mkfifo(tmp_path / "fifo")  # no writer: reading it would block forever
    with pytest.raises(SourceError, match="not a regular file"):
        r.resolve(FileSource(file="fifo"))


def test_command(tmp_path: Path) -> None:
    r = resolver(tmp_path)
    ok = CommandSource(command=(sys.executable, "-c", "print('  tok  ')"))
    assert r.resolve(ok).reveal() == "tok"
    failing = CommandSource(
        command=(sys.executable, "-c", "import sys; sys.stderr.write('denied here'); sys.exit(3)")
    )
    with pytest.raises(SourceError, match="exited with status 3: denied here"):
        r.resolve(failing)
    with pytest.raises(SourceError, match="program not found"):
        r.resolve(CommandSource(command=("/nonexistent/program",)))
    slow = CommandSource(command=(sys.executable, "-c", "import time; time.sleep(5)"), timeout=0.3)
    with pytest.raises(SourceError, match=r"timed out after 0.3s"):
        r.resolve(slow)


def test_a_commands_stderr_is_shown_with_its_control_characters_escaped(tmp_path: Path) -> None:
    """An escape sequence in a failing program's stderr must not reach the terminal raw (it
    could retitle the window, or hide the rest of the line)."""
    script = "import sys; sys.stderr.write('\\x1b]0;pwned\\x07bad\\rok\\u202e\\n2nd'); sys.exit(3)"
    failing = CommandSource(command=(sys.executable, "-c", script))
    with pytest.raises(SourceError) as raised:
        resolver(tmp_path).resolve(failing)
    assert str(raised.value).endswith("status 3: \\x1b]0;pwned\\x07bad\\rok\\u202e\n2nd")


def test_command_runs_without_a_shell(tmp_path: Path) -> None:
    r = resolver(tmp_path)
    value = r.resolve(CommandSource(command=("echo", "$HOME", "; rm -rf /")))
    assert value.reveal() == "$HOME ; rm -rf /"


def test_json_key(tmp_path: Path) -> None:
    r = resolver(tmp_path, J='{"user": "u", "n": 1}', BAD="nope")
    assert r.resolve(EnvSource(env="J", key="user")).reveal() == "u"
    with pytest.raises(SourceError, match="no key 'x'"):
        r.resolve(EnvSource(env="J", key="x"))
    with pytest.raises(SourceError, match="not a string"):
        r.resolve(EnvSource(env="J", key="n"))
    with pytest.raises(SourceError, match="not JSON"):
        r.resolve(EnvSource(env="BAD", key="x"))


def test_each_source_is_read_once_and_only_when_asked(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = (
        f"p={str(counter)!r}; import os; n=int(open(p).read()) if os.path.exists(p) else 0; "
        "open(p,'w').write(str(n+1)); print('v')"
    )
    source = CommandSource(command=(sys.executable, "-c", script))
    r = resolver(tmp_path)
    assert r.reads == 0 and not counter.exists()
    for _ in range(3):
        assert r.resolve(source).reveal() == "v"
    assert counter.read_text() == "1" and r.reads == 1
    # A failure is remembered too: a broken command is not run again for every target.
    broken = CommandSource(command=(sys.executable, "-c", script + "; raise SystemExit(1)"))
    for _ in range(2):
        with pytest.raises(SourceError):
            r.resolve(broken)
    assert counter.read_text() == "2"


@pytest.mark.parametrize(
    "source",
    [
        SecretsManagerSource(aws_secretsmanager="prod/x", key="k"),
        SsmSource(aws_ssm="/prod/x"),
        EcrTokenPart("us-east-1", None, "PASSWORD"),
    ],
)
def test_aws_sources_without_boto3_say_what_to_install(
    tmp_path: Path, source: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.sources.aws import Aws

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if boto3 were not installed
    with pytest.raises(SourceError, match=r"needs boto3: pip install 'provisioner\[aws\]'"):
        Resolver(tmp_path, {}, readers=Aws().readers()).resolve(source)
    # A resolver built without the AWS readers says so instead of calling AWS.
    with pytest.raises(SourceError, match="no AWS reader registered"):
        resolver(tmp_path).resolve(source)


def test_readers_plug_in_without_touching_callers(tmp_path: Path) -> None:
    r = Resolver(tmp_path, {}, readers={SsmSource: lambda s: f"ssm:{s.aws_ssm}"})
    assert r.resolve(SsmSource(aws_ssm="/a")).reveal() == "ssm:/a"


def test_values_are_masked_in_github_actions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Resolver(tmp_path, {"GITHUB_ACTIONS": "true", "T": "line1\nline2"})
    value = r.resolve(EnvSource(env="T"))
    assert isinstance(value, SecretValue)
    out = capsys.readouterr().out
    assert out == "::add-mask::line1\n::add-mask::line2\n"
    Resolver(tmp_path, {"T": "x"}).resolve(EnvSource(env="T"))
    assert capsys.readouterr().out == ""


def runner_unescape(data: str) -> str:
    """What the Actions runner registers for a command's data (ActionCommand's unescaping:
    ``%0D``, ``%0A``, then ``%25``)."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@pytest.mark.parametrize(
    ("value", "registered"),
    [
        ("pa%0Ass", ["pa%0Ass"]),  # the text %0A, not a newline
        ("100%25off", ["100%25off"]),
        ("50%", ["50%"]),
        ("one%0D\rtwo%", ["one%0D", "two%"]),  # a CR ends a line, as LF does
        ("a\r\nb%0A\nc", ["a", "b%0A", "c"]),
    ],
)
def test_masks_are_escaped_so_the_runner_registers_the_value_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, registered: list[str]
) -> None:
    Resolver(tmp_path, {"GITHUB_ACTIONS": "true", "T": value}).resolve(EnvSource(env="T"))
    out = capsys.readouterr().out
    commands = out.split("\n")[:-1]  # the runner reads one command per line
    assert all(c.startswith("::add-mask::") and "\r" not in c for c in commands)
    assert [runner_unescape(c.removeprefix("::add-mask::")) for c in commands] == registered


# -- an empty value is an error from every source -------------------------------------------


@pytest.mark.parametrize(
    ("env", "source", "error"),
    [
        ({"T": " \t\n"}, EnvSource(env="T"), "env T: the value is whitespace only"),
        (
            {"J": '{"user": ""}'},
            EnvSource(env="J", key="user"),
            "env J key 'user': the value is empty",
        ),
        (
            {"J": '{"user": "  "}'},
            EnvSource(env="J", key="user"),
            "env J key 'user': the value is whitespace only",
        ),
    ],
)
def test_an_empty_env_value_is_an_error(
    tmp_path: Path, env: dict[str, str], source: EnvSource, error: str
) -> None:
    with pytest.raises(SourceError) as e:
        Resolver(tmp_path, env).resolve(source)
    assert str(e.value) == error


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "file token: the value is empty"),
        (b"\n", "file token: the value is empty"),  # one trailing newline is not content
        (b"  \t\n\n", "file token: the value is whitespace only"),
    ],
)
def test_an_empty_file_is_an_error(tmp_path: Path, content: bytes, error: str) -> None:
    (tmp_path / "token").write_bytes(content)
    with pytest.raises(SourceError) as e:
        resolver(tmp_path).resolve(FileSource(file="token"))
    assert str(e.value) == error


def test_a_command_that_prints_nothing_is_an_error_showing_its_stderr(tmp_path: Path) -> None:
    r = resolver(tmp_path)
    # An expired token helper: exit 0, the reason on stderr only.
    expired = CommandSource(command=("sh", "-c", "echo 'token expired, run login' >&2"))
    with pytest.raises(SourceError) as e:
        r.resolve(expired)
    assert str(e.value) == "command 'sh': the value is empty; its stderr: token expired, run login"
    blank = CommandSource(command=(sys.executable, "-c", "print('   ')"))
    with pytest.raises(SourceError) as e:
        r.resolve(blank)
    assert str(e.value) == f"command {sys.executable!r}: the value is empty"
    # Only stderr's end is shown (where the reason is), as for a non-zero exit.
    noisy = CommandSource(
        command=(sys.executable, "-c", "import sys; sys.stderr.write('x' * 5000 + 'END')")
    )
    with pytest.raises(SourceError) as e:
        r.resolve(noisy)
    assert str(e.value).endswith("x" * 1997 + "END") and "x" * 2001 not in str(e.value)


def test_an_empty_value_from_any_reader_is_an_error(tmp_path: Path) -> None:
    """The check is the resolver's: a plugged-in reader (AWS) cannot bypass it."""
    r = Resolver(tmp_path, {}, readers={SsmSource: lambda s: "" if s.aws_ssm == "/e" else " \n"})
    with pytest.raises(SourceError, match=r"^aws_ssm /e: the value is empty$"):
        r.resolve(SsmSource(aws_ssm="/e"))
    with pytest.raises(SourceError, match=r"^aws_ssm /w: the value is whitespace only$"):
        r.resolve(SsmSource(aws_ssm="/w"))


# -- commands never see the tool's GitHub credentials ---------------------------------------

PRINT_ENV_NAMES = "import json, os; print(json.dumps(sorted(os.environ)))"


def test_a_command_runs_without_the_github_credentials(tmp_path: Path) -> None:
    kept = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "AKIA-kept",
        "AWS_PROFILE": "ci",
        "GH_HOST": "acme.ghe.com",
        "GITHUB_APP_ID": "12345",
        "GITHUB_REPOSITORY": "octo-org/api",
    }
    dropped = {
        "GH_TOKEN": "ghp_MARKER",
        "GITHUB_TOKEN": "ghs_MARKER",
        "GH_ENTERPRISE_TOKEN": "ghe_MARKER",
        "GITHUB_APP_PRIVATE_KEY": "-----BEGIN MARKER",
        "GITHUB_APP_PRIVATE_KEY_FILE": "/run/secrets/app.pem",
        "GITHUB_APP_PRIVATE_KEY_B64": "TUFSS0VS",
    }
    r = Resolver(tmp_path, {**kept, **dropped})
    seen = r.resolve(CommandSource(command=(sys.executable, "-c", PRINT_ENV_NAMES))).reveal()
    names = set(json.loads(seen))
    assert names & set(dropped) == set()
    assert set(kept) <= names
    # The resolver's own environment is unchanged: the tool still authenticates with them.
    assert r.resolve(EnvSource(env="GH_TOKEN")).reveal() == "ghp_MARKER"


def test_a_command_sees_the_resolvers_environment_not_the_process_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_PROCESS", "1")
    monkeypatch.setenv("GH_TOKEN", "ghp_MARKER")
    source = CommandSource(command=(sys.executable, "-c", PRINT_ENV_NAMES))
    names = set(json.loads(Resolver(tmp_path, {"GIVEN": "1"}).resolve(source).reveal()))
    assert "GIVEN" in names and "ONLY_IN_PROCESS" not in names
    # Built from the process environment (as every run is), it passes that on, filtered.
    names = set(json.loads(Resolver(tmp_path).resolve(source).reveal()))
    assert "ONLY_IN_PROCESS" in names and "GH_TOKEN" not in names


def test_a_read_never_shows_its_text() -> None:
    read = Read("tok-MARKER", stderr="note")
    assert "MARKER" not in repr(read) and "MARKER" not in str(read)
