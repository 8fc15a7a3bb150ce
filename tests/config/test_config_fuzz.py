"""Property tests: whatever the bytes, load_config returns a Config or raises ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.config import Config, load_config
from provisioner.errors import ConfigError

# Words the loader knows, so generated documents reach deep into the validation.
VOCABULARY = [
    "version",
    "github",
    "api_url",
    "registries",
    "targets",
    "ACR",
    "acr",
    "GITHUB",
    "1x",
    "server",
    "username",
    "password",
    "ecr",
    "mode",
    "token",
    "swap",
    "region",
    "registry_id",
    "rotate_after",
    "env",
    "file",
    "command",
    "aws_secretsmanager",
    "aws_ssm",
    "key",
    "timeout",
    "org",
    "repository",
    "user",
    "registries",
    "visibility",
    "repositories",
    "all",
    "selected",
    "octo-org/api",
    "6h",
    "12h",
    "0s",
    "ghcr.io",
    "ASIA",
    "123456789012",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "http://localhost",
    "https://x",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.sampled_from(VOCABULARY)
    | st.text(max_size=12)
)
DATA = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=40,
)
YAMLISH = st.sampled_from(
    [
        "\n",
        ": ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!!",
        "'",
        '"',
        "#",
        "---",
        "  ",
        "<<",
        "? ",
        "|",
        ">",
        "\t",
        "version: 1\n",
        "registries:\n",
        "  ACR:\n",
    ]
)


def check(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.yaml"
        path.write_bytes(raw)
        try:
            result = load_config(path)
        except ConfigError as exc:
            assert exc.problems
            assert all(problem.startswith(str(path)) for problem in exc.problems)
        else:
            assert isinstance(result, Config)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(YAMLISH | st.sampled_from(VOCABULARY) | st.text(max_size=4), max_size=40))
def test_arbitrary_yaml_text(parts: list[str]) -> None:
    check("".join(parts).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(DATA)
def test_arbitrary_data_dumped_as_yaml(data: Any) -> None:
    check(yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(VOCABULARY), DATA, max_size=4),
    st.lists(st.dictionaries(st.sampled_from(VOCABULARY), DATA, max_size=4), max_size=3),
)
def test_near_valid_documents(registry: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    document = {"version": 1, "registries": {"ACR": registry}, "targets": targets}
    check(yaml.safe_dump(document).encode("utf-8", "surrogatepass"))
