"""One exception tree, mapped to exit codes in one place (the CLI's error boundary)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130


class ProvisionError(Exception):
    """A failure the user can act on: printed as one line (or a few), never a traceback."""

    exit_code = EXIT_ERROR


class UsageError(ProvisionError):
    """Bad flags or arguments (exit 64, never 2: 2 means "changes pending")."""

    exit_code = EXIT_USAGE


class ConfigError(ProvisionError):
    """The configuration file is invalid; carries every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
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
