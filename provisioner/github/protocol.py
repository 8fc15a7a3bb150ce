"""The GitHub seam: what the core (plan, observe, preflight, apply) needs from GitHub.

The planner, observation, preflight, the repository index and the applier take a
:class:`GitHub`, never the concrete :class:`~provisioner.github.client.GitHubClient`: the
commands pass the real client (built once by the factory; mypy checks that it satisfies this
Protocol wherever it is passed), and unit tests pass an in-memory fake
(``tests/support/fake_github.py``) to test the core's decisions in milliseconds, with the
sandbox on loopback kept as the end-to-end layer. Everything here speaks the project's types;
failures are :class:`~provisioner.errors.GitHubError` with a one-line message naming the target.

Members are exactly what those modules call today: a method the core starts to use is added
here (and to the fake) in the same change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from provisioner.domain import ObservedSecret, TargetRef
from provisioner.github.answers import PublicKey, Repo
from provisioner.secret import SecretValue


class GitHub(Protocol):
    """The Codespaces secrets of the three levels, the repositories, and the token's user."""

    workers: int
    """How many reads may run at once (observation, preflight, read-backs)."""

    # -- the token ---------------------------------------------------------------------

    def permission_problem(self, target: TargetRef) -> str | None:
        """Why the token certainly cannot manage this target's secrets (None: not known)."""
        ...

    def authenticated_login(self) -> str:
        """The token's user (``user:`` targets can only be that user)."""
        ...

    def cancel_waits(self) -> None:
        """End any retry wait now (a first Ctrl-C during apply): the waiting request fails."""
        ...

    # -- reads -------------------------------------------------------------------------

    def list_secrets(self, target: TargetRef) -> dict[str, ObservedSecret]:
        """A target's Codespaces secrets by upper-case name (a fresh dict: callers fill in
        the repositories they read)."""
        ...

    def selected_repositories(self, target: TargetRef, name: str) -> list[Repo]:
        """The repositories an org or user secret is visible to."""
        ...

    def public_key(self, target: TargetRef) -> PublicKey:
        """The target's sealed-box key."""
        ...

    def seed_keys(self, keys: Mapping[TargetRef, PublicKey]) -> None:
        """Public keys the state cached: used without asking GitHub (refetched when stale)."""
        ...

    def known_keys(self) -> dict[TargetRef, PublicKey]:
        """The public keys the run holds (seeded or fetched), to record in the state."""
        ...

    def get_repository(self, full_name: str) -> Repo | None:
        """One repository by ``owner/name``; None when GitHub does not know it."""
        ...

    def list_repositories(self, owner: TargetRef) -> Iterator[Repo]:
        """An org's repositories, or every repository the user can see; lazy, so a caller
        that has found what it needs stops reading pages."""
        ...

    # -- writes ------------------------------------------------------------------------

    def put_secret(
        self,
        target: TargetRef,
        name: str,
        value: SecretValue,
        visibility: str | None = None,
        repository_ids: list[int] | None = None,
    ) -> None:
        """Create or update a secret (encrypted with the target's key on the way)."""
        ...

    def set_repositories(self, target: TargetRef, name: str, repository_ids: list[int]) -> None:
        """Replace the repositories an org or user secret is visible to; the value stays."""
        ...

    def delete_secret(self, target: TargetRef, name: str) -> None:
        """Delete a secret; one already gone counts as deleted."""
        ...
