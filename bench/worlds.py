"""Generated sandbox worlds and configs of N targets, for the benchmark and the budget tests.

A quarter of the targets are organizations, the rest repositories inside them. Every target
gets three registries (9 secrets). Even-numbered orgs select their repositories by a glob
(``svc-*``: 20 repositories, an archived one skipped), odd-numbered orgs by 12 explicit names.
``GAR`` has ``rotate_after`` and an env-sourced password: the scheduled-rotation registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TOKEN = "ghp_bench_admin"
SVC_REPOS = 20
NAMED = 12
APPS_PER_ORG = 3
REGISTRIES = ("ACR", "HUB", "GAR")
PARTS = ("SERVER", "USER", "PASSWORD")
ROTATING = "GAR"
SECRETS_PER_TARGET = 3 * len(REGISTRIES)

ENV = {
    "GH_TOKEN": TOKEN,
    "BENCH_ACR_PASSWORD": "acr-password-1",
    "BENCH_HUB_USER": "hubber",
    "BENCH_GAR_TOKEN": "gar-token-1",
}

REGISTRIES_YAML = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: BENCH_ACR_PASSWORD}
  HUB:
    server: https://index.docker.io/v1/
    username: {env: BENCH_HUB_USER}
    password: {file: hub-token}
  GAR:
    server: us-docker.pkg.dev
    username: oauth2accesstoken
    password: {env: BENCH_GAR_TOKEN}
    rotate_after: 45m
targets:
"""


@dataclass(frozen=True)
class Shape:
    """The targets of a generated world of ``size`` targets."""

    size: int

    @property
    def orgs(self) -> list[str]:
        return [f"org-{i:04d}" for i in range(max(1, self.size // 4))]

    @property
    def repository_targets(self) -> list[str]:
        n = self.size - len(self.orgs)
        orgs = self.orgs
        # Spread the repository targets over the orgs, at most APPS_PER_ORG per org.
        return [f"{orgs[i % len(orgs)]}/app-{i // len(orgs)}" for i in range(n)]

    def glob_org(self, index: int) -> bool:
        return index % 2 == 0

    def selected(self, org_index: int) -> list[str]:
        """The repositories (owner/name) an org's secrets are visible to."""
        org = self.orgs[org_index]
        count = SVC_REPOS if self.glob_org(org_index) else NAMED
        return [f"{org}/svc-{k:02d}" for k in range(count)]

    def repos_of(self, org_index: int) -> list[tuple[str, bool]]:
        """(full_name, archived) of every repository of one org."""
        org = self.orgs[org_index]
        apps = -(-len(self.repository_targets) // len(self.orgs))
        names = [(f"{org}/svc-{k:02d}", False) for k in range(SVC_REPOS)]
        names.append((f"{org}/svc-legacy", True))
        names += [(f"{org}/app-{k}", False) for k in range(max(apps, APPS_PER_ORG))]
        return names

    @property
    def secrets(self) -> int:
        return self.size * SECRETS_PER_TARGET


def repositories(shape: Shape) -> list[tuple[str, int, bool]]:
    """(full_name, id, archived) of every repository of the world."""
    found: list[tuple[str, int, bool]] = []
    for i in range(len(shape.orgs)):
        for full_name, archived in shape.repos_of(i):
            found.append((full_name, 10_001 + len(found), archived))
    return found


def world_yaml(shape: Shape) -> str:
    """The sandbox world: one user, the orgs, their repositories, one admin token."""
    lines = ["user: {login: bench-user, id: 1}", "orgs:"]
    lines += [f"  - {{login: {org}, id: {100 + i}}}" for i, org in enumerate(shape.orgs)]
    lines.append("repositories:")
    for full_name, repo_id, archived in repositories(shape):
        lines.append(
            f"  - {{full_name: {full_name}, id: {repo_id}, archived: {json.dumps(archived)}}}"
        )
    lines.append("tokens:")
    lines.append(f"  - {{token: {TOKEN}, kind: classic, scopes: [repo, admin:org, codespace]}}")
    return "\n".join(lines) + "\n"


def config_yaml(shape: Shape) -> str:
    """The provision config: every target with the three registries."""
    registries = f"[{', '.join(REGISTRIES)}]"
    lines = [REGISTRIES_YAML.rstrip("\n")]
    for i, org in enumerate(shape.orgs):
        if shape.glob_org(i):
            repos = '["svc-*"]'
        else:
            repos = "[" + ", ".join(r.split("/")[1] for r in shape.selected(i)) + "]"
        lines += [f"  - org: {org}", f"    registries: {registries}", f"    repositories: {repos}"]
    for full_name in shape.repository_targets:
        lines += [f"  - repository: {full_name}", f"    registries: {registries}"]
    return "\n".join(lines) + "\n"


def write(shape: Shape, folder: Path) -> tuple[Path, Path]:
    """Write ``world.yaml``, ``bench.yaml`` and the file source; (world, config) paths."""
    folder.mkdir(parents=True, exist_ok=True)
    world, config = folder / "world.yaml", folder / "bench.yaml"
    world.write_text(world_yaml(shape))
    config.write_text(config_yaml(shape))
    (folder / "hub-token").write_text("hub-token-1\n")
    return world, config
