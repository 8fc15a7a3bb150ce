"""Renderers: each draws one thing (a plan, a status, doctor's checks) on an injected stream,
as text, JSON or markdown; :mod:`.text` holds the layout they share. Never a value."""
