"""The layout's rules, enforced: who may read plaintext, what a docstring may point at, what
``tests/`` holds (the README's development section states them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provisioner"

REVEAL_ALLOWED = {
    "provisioner/secret.py": "the type itself (length, equality, hashing)",
    "provisioner/crypto.py": "sealed boxes and fingerprints",
    "provisioner/output.py": "GitHub Actions' ::add-mask::",
    "provisioner/sources/__init__.py": "a swap key ID is checked for ASIA",
    "provisioner/sources/aws.py": "a swap key pair goes to AWS; a token's password is read",
    "provisioner/doctor/login.py": "a registry login sends the credentials",
    "provisioner/doctor/checks.py": "the SERVER value is the registry to log in to",
}


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_listed_modules_read_plaintext() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for path in _sources()
        if re.search(r"\.reveal\(\)", path.read_text(encoding="utf-8"))
    }
    assert readers == set(REVEAL_ALLOWED), readers ^ set(REVEAL_ALLOWED)


def test_docstrings_stay_inside_the_repository() -> None:
    pointing = [
        str(path.relative_to(ROOT))
        for path in _sources()
        if re.search(r"DESIGN(\.md)?\b|reference/", path.read_text(encoding="utf-8"))
    ]
    assert pointing == []


def test_no_machine_paths_in_code_or_tests() -> None:
    found = [
        str(path.relative_to(ROOT))
        for folder in (PACKAGE, ROOT / "tests", ROOT / "bench", ROOT / "scripts")
        for path in folder.rglob("*.py")
        if path != Path(__file__) and re.search(r"[\"']/(work|home|root)/", path.read_text())
    ]
    assert found == []


def test_tests_folder_shows_only_tests() -> None:
    files = {p.name for p in (ROOT / "tests").glob("*.py")}
    helpers = sorted(n for n in files if not n.startswith("test_"))
    assert helpers == ["__init__.py", "conftest.py"]
