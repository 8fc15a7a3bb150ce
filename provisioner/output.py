"""Messages to the user: errors, warnings and progress lines, always on stderr (and GitHub
Actions' masks). The product (a plan, a report, a status, a JSON document) is written on
stdout by the renderers and commands, on the stream they are given; tests capture both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

from provisioner.errors import Diagnostic
from provisioner.secret import SecretValue


def error(message: str, stream: TextIO | None = None) -> None:
    """One error line per problem, on stderr."""
    out = stream or sys.stderr
    for line in message.splitlines() or [message]:
        out.write(
            f"error: {line}\n" if not line.startswith(("error:", "warning:")) else line + "\n"
        )
    out.flush()


def warn(message: str | Diagnostic, stream: TextIO | None = None) -> None:
    """``warning: message``; a config diagnostic as ``file:line:column: warning: message``."""
    out = stream or sys.stderr
    if isinstance(message, Diagnostic):
        out.write(str(message))
    else:
        out.write(message if message.startswith("warning") else f"warning: {message}")
    out.write("\n")
    out.flush()


def info(message: str, stream: TextIO | None = None) -> None:
    """Progress and logs: stderr, so stdout stays the product."""
    out = stream or sys.stderr
    out.write(message + "\n")
    out.flush()


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def mask(value: SecretValue, stream: TextIO | None = None) -> None:
    """Ask GitHub Actions to mask ``value`` in the job log.

    Each line on its own: the runner registers a mask's data whole and matches it within one
    log line, so a multi-line value registered whole would never match. The data is escaped
    as the toolkit's ``escapeData`` does (``%`` first), since the runner unescapes it: a value
    holding the text ``%0A`` would otherwise be registered as another string."""
    out = stream or sys.stdout
    for line in value.reveal().splitlines():
        if line.strip():
            out.write(f"::add-mask::{escape_data(line)}\n")
    out.flush()


def escape_data(text: str) -> str:
    """A workflow command's data as the runner reads it back: ``%`` -> ``%25``, CR -> ``%0D``,
    LF -> ``%0A`` (GitHub's ``@actions/core`` ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
