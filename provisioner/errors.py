"""One exception tree, mapped to exit codes in one place (the CLI's error boundary)."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 64
EXIT_HANGUP = 129
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_BY_NAME: Final = {
    "SIGINT": (EXIT_INTERRUPTED, "interrupted"),
    "SIGTERM": (EXIT_TERMINATED, "terminated"),
    "SIGHUP": (EXIT_HANGUP, "hung up"),
}
# By name: SIGHUP does not exist on Windows.
_BY_SIGNAL: Final = {
    int(getattr(signal, name)): meaning
    for name, meaning in _BY_NAME.items()
    if hasattr(signal, name)
}
STOP_SIGNALS: Final = tuple(_BY_SIGNAL)
"""What Ctrl-C, Kubernetes, systemd and CI runners send to stop a run (README: exit codes)."""
STOP_EXIT_CODES: Final = frozenset(code for code, _ in _BY_SIGNAL.values())


def stop_exit(signum: int | None) -> tuple[int, str]:
    """The exit code and the one-line word of a run stopped by ``signum`` (None: Ctrl-C)."""
    return _BY_SIGNAL.get(signum if signum is not None else signal.SIGINT, _BY_NAME["SIGINT"])


class ProvisionError(Exception):
    """A failure the user can act on: printed as one line (or a few), never a traceback."""

    exit_code = EXIT_ERROR


class UsageError(ProvisionError):
    """Bad flags or arguments (exit 64, never 2: 2 means "changes pending")."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Diagnostic:
    """One problem (or warning) in a file, where it is known: ``file:line:column: message``."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        text = f"warning: {self.message}" if self.warning else self.message
        return f"{where}: {text}" if where else text

    def data(self) -> dict[str, str | int]:
        """The JSON form: ``message`` and whichever of ``file``, ``line``, ``column`` are known."""
        found = {"message": self.message, "file": self.file, "line": self.line}
        found["column"] = self.column
        return {k: v for k, v in found.items() if v is not None}


class ConfigError(ProvisionError):
    """The configuration file is invalid; carries every problem found, one per line."""

    def __init__(self, diagnostics: list[Diagnostic], warnings: Sequence[Diagnostic] = ()) -> None:
        self.diagnostics = list(diagnostics)
        self.warnings = tuple(warnings)
        """The config's warnings, found with the errors (``validate`` shows both)."""
        self.problems = [str(d) for d in self.diagnostics]
        super().__init__("\n".join(self.problems))


class SourceError(ProvisionError):
    """A value source (env, file, command, AWS) could not produce its value."""


class GitHubError(ProvisionError):
    """GitHub answered with an error (``status``), or could not be reached (no status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StateError(ProvisionError):
    """The state file is unreadable, or locked by another run."""


class Stopped(BaseException):
    """SIGTERM or SIGHUP outside apply's writes (raised by the CLI's handler, as Python raises
    KeyboardInterrupt for Ctrl-C): the run unwinds, so locks are released and a state write in
    progress is discarded, and the error boundary exits 143 or 129 with one line.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code, self.message = stop_exit(signum)
