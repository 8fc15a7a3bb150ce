"""A local GitHub REST API emulator for the Codespaces secrets endpoints (loopback only).

``provision sandbox`` serves it; tests start a :class:`Sandbox` on port 0 and talk real
HTTP to it. It decrypts the sealed boxes it receives, so tests can compare plaintext.
"""

from provisioner.sandbox.server import Sandbox, serve
from provisioner.sandbox.store import Faults, Store
from provisioner.sandbox.world import World, load_world

__all__ = ["Faults", "Sandbox", "Store", "World", "load_world", "serve"]
