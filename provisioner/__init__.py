"""provisioner: GitHub Codespaces secrets for private container registries."""

__version__ = "0.1.0"
