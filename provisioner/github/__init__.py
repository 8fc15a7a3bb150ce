"""GitHub access: the only package that imports PyGithub."""
