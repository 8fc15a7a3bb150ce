"""Container registry fixtures: the real distribution registry, and a token-auth server."""
