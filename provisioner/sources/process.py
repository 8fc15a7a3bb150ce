"""Run a value source's command with bounded time and bounded memory.

``subprocess.run(capture_output=True)`` reads everything a program prints before anything
can be checked: a command that prints gigabytes would fill the memory first. Here both pipes
are read in chunks as they come; past ``max_bytes`` on stdout, or past the timeout, the
program (and its process group: no orphan keeps the pipes open) is killed at once.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CHUNK: Final = 64 * 1024
STDERR_KEEP: Final = 64 * 1024


class CommandTimeout(Exception):
    """The command ran longer than its timeout (it was killed)."""


class CommandOutputTooLarge(Exception):
    """The command printed more than the limit on stdout (it was killed)."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


def run(
    argv: Sequence[str], cwd: Path, timeout: float, max_bytes: int, *, env: Mapping[str, str]
) -> Finished:
    """Run ``argv`` (no shell, stdin from /dev/null) with exactly the environment ``env``
    (never the tool's own implicitly); raise OSError as ``subprocess`` does."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout
                for key, _ in selector.select(timeout=min(left, 0.5)):
                    chunk = os.read(key.fd, CHUNK)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    buffer: bytearray = key.data
                    buffer += chunk
                    if buffer is out and len(out) > max_bytes:
                        raise CommandOutputTooLarge
                    if buffer is err and len(err) > STDERR_KEEP:
                        del err[: len(err) - STDERR_KEEP]
            returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            _kill(process)
            raise CommandTimeout from None
        except BaseException:
            _kill(process)
            raise
        finally:
            process.stdout.close()
            process.stderr.close()
    return Finished(returncode, bytes(out), bytes(err))


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
