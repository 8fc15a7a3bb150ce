from __future__ import annotations

import pytest

from provisioner import naming


@pytest.mark.parametrize(
    ("registry_id", "names"),
    [
        (
            "ACR",
            (
                "ACR_CONTAINER_REGISTRY_SERVER",
                "ACR_CONTAINER_REGISTRY_USER",
                "ACR_CONTAINER_REGISTRY_PASSWORD",
            ),
        ),
        (
            "ecr_keys",
            (
                "ECR_KEYS_CONTAINER_REGISTRY_SERVER",
                "ECR_KEYS_CONTAINER_REGISTRY_USER",
                "ECR_KEYS_CONTAINER_REGISTRY_PASSWORD",
            ),
        ),
    ],
)
def test_secret_names(registry_id: str, names: tuple[str, str, str]) -> None:
    assert naming.secret_names(registry_id) == names


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ACR_X", None),
        ("_LEADING", None),
        ("a1", None),
        ("", "empty"),
        ("1ABC", "must not start with a digit"),
        ("A-B", "only letters, digits"),
        ("A B", "only letters, digits"),
        ("GITHUB_X", "GITHUB_"),
        ("github_x", "GITHUB_"),
        ("ÄCR", "only letters, digits"),
    ],
)
def test_name_rules(name: str, problem: str | None) -> None:
    found = naming.name_problem(name)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("registry_id", "problem"),
    [
        ("ACR", None),
        ("Docker_Hub2", None),
        ("2ACR", "must not start with a digit"),
        ("my-acr", "only letters, digits"),
        ("github", "GITHUB_"),
        ("GITHUB", "GITHUB_"),
        ("GITHUBX", None),
    ],
)
def test_id_rules(registry_id: str, problem: str | None) -> None:
    found = naming.id_problem(registry_id)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("ACR_CONTAINER_REGISTRY_USER", ("ACR", "USER")),
        ("acr_container_registry_password", ("ACR", "PASSWORD")),
        ("A_B_CONTAINER_REGISTRY_SERVER", ("A_B", "SERVER")),
        ("ACR_CONTAINER_REGISTRY_TOKEN", None),
        ("NPM_TOKEN", None),
        ("_CONTAINER_REGISTRY_USER", None),
    ],
)
def test_parse(name: str, parsed: tuple[str, str] | None) -> None:
    assert naming.parse_registry_secret(name) == parsed
