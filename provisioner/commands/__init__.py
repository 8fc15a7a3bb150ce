"""One module per command family; each is a plain function returning an exit code."""
