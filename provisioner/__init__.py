"""provisioner: GitHub Codespaces secrets for private container registries.

The folder names the layer, the file names the thing: ``commands/X.py`` orchestrates the
verb X, ``render/X.py`` draws X, a top-level ``X.py`` is the domain logic of X. The pipeline
reads from ``ls``:

    config/  ->  desired.py  ->  observe.py  ->  plan.py (planner.py reads for it)
             ->  apply.py  ->  state/  ->  render/

``domain.py`` holds the nouns every layer shares (targets, the selection, what GitHub holds,
what the state recorded); ``sources/`` reads the values (env, file, command, AWS);
``github/`` is the one owner of PyGithub and the transport; ``doctor/`` the pre-flight checks;
``sandbox/`` the local GitHub emulator; ``printable.py`` escapes the control characters of
text from outside (a program's stderr, GitHub's messages) before it is shown;
``private_file.py`` writes 0600 files whole (state shards, saved plans); ``cli.py`` only
parses flags and maps exit codes.
"""

__version__ = "0.1.0"
