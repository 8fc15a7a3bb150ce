"""A second signal during apply, and SIGTERM/SIGHUP outside apply's writes: real processes,
real signals, a slow sandbox; and the CLI boundary's handlers, in-process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from provisioner import crypto, planner
from provisioner.apply import ABANDONED
from provisioner.cli import main
from provisioner.secret import SecretValue
from tests.faults.conftest import (
    EXPECTED,
    assert_converged,
    faults,
    held,
    no_temporary_state,
    ok_keys,
    recorded,
    spawn,
    spawn_apply,
    stop_after_first_write,
    values,
    wait_until,
)
from tests.support.e2e import Cli
from tests.test_cli import offline_plan


def _fingerprint_of(cli: Cli, key: tuple[str, str, str], value: str) -> bool:
    """Whether the state's fingerprint of ``key`` is that of ``value``."""
    [fingerprint] = [
        str(e["fingerprint"])
        for e in cli.state_entries()
        if (e["scope"], e["target"], e["secret"]) == key
    ]
    literal = fingerprint.startswith(crypto.LITERAL_PREFIX)
    return crypto.matches(SecretValue(value), fingerprint, literal=literal)


def _stop_twice(process: Any, first: int, second: int, apart: float = 0.05) -> float:
    """Two signals ``apart`` seconds apart; the monotonic time of the second."""
    process.send_signal(first)
    time.sleep(apart)
    process.send_signal(second)
    return time.monotonic()


def test_two_ctrl_c_50ms_apart_still_record_what_was_read_back_and_print_the_json(
    fcli: Cli,
) -> None:
    faults(fcli, latency=0.15)
    process = spawn_apply(fcli, "--json")
    out, err = stop_after_first_write(
        fcli, process, lambda p: _stop_twice(p, signal.SIGINT, signal.SIGINT)
    )
    assert process.returncode == 130, err
    assert "stopping at once" in err and "Traceback" not in err
    report = json.loads(out)  # one whole JSON document
    done = ok_keys(report)
    assert done
    # The write in flight at the second signal (if any) is abandoned: reported failed, as it
    # may or may not have reached GitHub; nothing after it was attempted.
    failed = [c for c in report["changes"] if c["result"] == "failed"]
    assert [c["error"] for c in failed] in ([], [ABANDONED])
    assert "not-attempted" in {c["result"] for c in report["changes"]}
    # The read-back of what was done lands within the grace: the state records exactly the
    # changes reported done, with GitHub's updated_at for each, and GitHub has their values.
    assert set(recorded(fcli)) == done
    assert all(recorded(fcli)[k] == held(fcli)[k] for k in done)
    assert all(values(fcli)[k] == EXPECTED[k] for k in done)
    assert no_temporary_state(fcli)
    faults(fcli, latency=0)
    code, _, err = fcli.apply()
    assert code == 0, err
    assert_converged(fcli)


def test_a_second_signal_exits_promptly_while_github_is_stalled(fcli: Cli) -> None:
    """GitHub turns slow (4 s an answer) after the first write: SIGTERM, then SIGHUP. The
    write in flight and the read-back are abandoned, the report printed, the process gone
    within the grace plus a little, the first signal's code; the next apply converges."""
    faults(fcli, latency=0.15)
    process = spawn_apply(fcli, "--json")
    try:
        wait_until(fcli.gh.secrets, "a first write")
        faults(fcli, latency=4)
        time.sleep(0.3)  # the next write is under way, and slow
        second = _stop_twice(process, signal.SIGTERM, signal.SIGHUP)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - second
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    assert took < 3.0, f"{took:.1f}s after the second signal"
    assert "Traceback" not in err
    report = json.loads(out)
    failed = [c for c in report["changes"] if c["result"] == "failed"]
    assert [c["error"] for c in failed] == [ABANDONED]
    # Every write the report calls done is recorded (the read-back was abandoned: it once
    # recorded none of them), with its new value's fingerprint and an updated_at older than
    # GitHub's, so the next plan sees drift: a harmless rewrite, never a hidden later change.
    done = ok_keys(report)
    assert done and set(recorded(fcli)) == done
    assert all(at < held(fcli)[k] for k, at in recorded(fcli).items())
    assert all(_fingerprint_of(fcli, k, EXPECTED[k]) for k in done)
    assert no_temporary_state(fcli)
    # The abandoned write was sent: it lands once the stalled sandbox answers, and only then
    # may the next apply run (else its own read-back would see the late write as drift).
    abandoned = (failed[0]["scope"], failed[0]["target"], failed[0]["secret"])
    wait_until(lambda: abandoned in fcli.gh.secrets(), "the abandoned write to land")
    faults(fcli, latency=0)
    code, out, err = fcli("plan", "--json")
    assert code == 0, err
    reasons = {
        (c["scope"], c["target"], c["secret"]): c["reasons"] for c in json.loads(out)["changes"]
    }
    assert all(reasons[k] == ["drift"] for k in done), reasons
    code, _, err = fcli.apply()
    assert code == 0, err
    assert_converged(fcli)


@pytest.mark.parametrize(
    ("command", "signum", "exit_code", "word", "json_output"),
    [
        pytest.param("plan", signal.SIGTERM, 143, "terminated", False, id="plan-SIGTERM"),
        pytest.param("plan", signal.SIGHUP, 129, "hung up", False, id="plan-SIGHUP"),
        pytest.param("plan", signal.SIGINT, 130, "interrupted", False, id="plan-SIGINT"),
        pytest.param("plan", signal.SIGINT, 130, "interrupted", True, id="plan-SIGINT-json"),
        pytest.param("plan", signal.SIGTERM, 143, "terminated", True, id="plan-SIGTERM-json"),
        pytest.param("apply", signal.SIGTERM, 143, "terminated", False, id="apply-reading"),
        pytest.param("apply", signal.SIGINT, 130, "interrupted", False, id="apply-SIGINT"),
        pytest.param("apply", signal.SIGINT, 130, "interrupted", True, id="apply-SIGINT-json"),
        pytest.param("status", signal.SIGTERM, 143, "terminated", False, id="status"),
        pytest.param("status", signal.SIGINT, 130, "interrupted", False, id="status-SIGINT"),
        pytest.param("status", signal.SIGINT, 130, "interrupted", True, id="status-SIGINT-json"),
    ],
)
def test_a_signal_while_reading_ends_the_run_with_one_line(
    fcli: Cli, command: str, signum: int, exit_code: int, word: str, json_output: bool
) -> None:
    """Ctrl-C too: it once exited 130 with nothing on either stream (Typer turned the
    KeyboardInterrupt into a silent exit)."""
    faults(fcli, latency=4.0)  # very slow: the run is still reading when the signal comes
    args = ("--yes", "--write-interval", "0") if command == "apply" else ()
    process = spawn(fcli, command, *args, *(("--json",) if json_output else ()))
    try:
        # A read the sandbox holds for 4 s: the signal comes while the run waits on it (the
        # request log records answers, and one round of reads may be all a run needs).
        wait_until(lambda: fcli.gh.admin("GET", "in-flight")["in_flight"], "a read in flight")
        process.send_signal(signum)
        signalled = time.monotonic()
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_code, err
    # At once, not when the held reads are answered (status once waited for its read pool).
    assert took < 2.5, f"{took:.1f}s after the signal"
    assert err.splitlines() == [f"error: {word}"]
    if json_output:
        assert json.loads(out) == {"format_version": 1, "errors": [{"message": word}]}
    else:
        assert out == ""
    assert not fcli.gh.secrets() and not fcli.state_entries() and no_temporary_state(fcli)
    faults(fcli, latency=0)
    code, _, err = fcli.apply()  # the state's lock was released
    assert code == 0, err


def test_a_hangup_the_process_was_told_to_ignore_stays_ignored(fcli: Cli) -> None:
    """``nohup provision apply``: SIGHUP neither stops the run nor loses anything."""
    faults(fcli, latency=0.1)
    process = spawn_apply(
        fcli, "--json", preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
    )
    out, err = stop_after_first_write(fcli, process, lambda p: p.send_signal(signal.SIGHUP))
    assert process.returncode == 0, err
    assert {c["result"] for c in json.loads(out)["changes"]} == {"ok"}
    assert_converged(fcli)


# -- the CLI boundary, in-process ----------------------------------------------------------


class Sentinel(Exception):
    """Raised by the test's own handler: main did not install one of its own."""


def _sentinel(signum: int, frame: object) -> None:
    raise Sentinel(signum)


@pytest.fixture
def own_handlers() -> Any:
    """This test's handlers for SIGINT, SIGTERM and SIGHUP (pytest's restored afterwards)."""
    saved = {s: signal.signal(s, _sentinel) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.parametrize(
    ("signum", "exit_code", "line"),
    [
        (signal.SIGINT, 130, "error: interrupted"),
        (signal.SIGTERM, 143, "error: terminated"),
        (signal.SIGHUP, 129, "error: hung up"),
    ],
)
def test_main_ends_the_run_on_a_signal_and_restores_the_previous_handlers(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    own_handlers: None,
    signum: int,
    exit_code: int,
    line: str,
) -> None:
    def planning(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler runs in this thread, at once
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(planner, "make_plan", planning)
    monkeypatch.setenv("GH_TOKEN", "t")
    monkeypatch.setenv("ACR_PASSWORD", "x")
    code = main(offline_plan(tmp_path))
    _, err = capsys.readouterr()
    assert (code, err.splitlines()) == (exit_code, [line])
    assert all(
        signal.getsignal(s) is _sentinel for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    )


def test_main_in_another_thread_installs_nothing(
    capsys: pytest.CaptureFixture[str], own_handlers: None
) -> None:
    codes: list[int] = []
    config = str(Path(__file__).resolve().parents[2] / "configs" / "example.yaml")
    thread = threading.Thread(target=lambda: codes.append(main(["validate", config])))
    thread.start()
    thread.join(timeout=30)
    assert codes == [0], capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is _sentinel
