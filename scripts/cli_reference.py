"""Write the README's command reference from ``provision --help`` (and each command's).

    python scripts/cli_reference.py          # rewrite the marked block in README.md
    python scripts/cli_reference.py --check  # exit 1 when README.md is out of date

The block sits between ``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->``.
COLUMNS is fixed so the text is the same on every machine; tests/test_cli_reference.py fails
when the README drifts from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
COLUMNS = "80"


def help_text(args: list[str]) -> str:
    from typer.testing import CliRunner

    from provisioner.cli import app

    result = CliRunner().invoke(
        app, [*args, "--help"], prog_name="provision", env={"COLUMNS": COLUMNS, "NO_COLOR": "1"}
    )
    if result.exit_code != 0:
        raise SystemExit(f"provision {' '.join(args)} --help failed: {result.output}")
    return result.output.rstrip() + "\n"


def commands() -> list[str]:
    from provisioner.cli import app

    return [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]


def reference() -> str:
    """The generated block, markers included."""
    parts = [START, "", "Generated from `--help` by `scripts/cli_reference.py`; do not edit.", ""]
    for args in [[], *([name] for name in commands())]:
        title = " ".join(["provision", *args])
        parts += [f"#### `{title}`", "", "```text", help_text(args).rstrip(), "```", ""]
    parts.append(END)
    return "\n".join(parts)


def updated(readme: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"{README}: no {START} ... {END} block")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return before + reference() + after


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    new = updated(current)
    if "--check" in argv:
        if new != current:
            sys.stderr.write(
                "README.md's command reference is out of date: "
                "run python scripts/cli_reference.py\n"
            )
            return 1
        return 0
    if new != current:
        README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
