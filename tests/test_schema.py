"""The stack-file schema and the reference are generated from the settings model and current;
the schema catches in the editor what the program refuses at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import schema

BIN = Path(sys.executable).parent


def check_jsonschema(schema_file: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "check-jsonschema"), "--schemafile", str(schema_file), *map(str, files)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The schema as `make schema` would write it now."""
    path = tmp_path_factory.mktemp("schema") / "stack.schema.json"
    path.write_text(schema.schema_text())
    return path


def test_committed_schema_is_what_make_schema_writes() -> None:
    if not schema.SCHEMA_PATH.is_file():
        pytest.skip("stacks/stack.schema.json was removed; `make schema` writes it again")
    assert schema.SCHEMA_PATH.read_text() == schema.schema_text(), "stale: run `make schema` and commit"


def test_configuration_reference_in_docs_is_current() -> None:
    text = schema.REFERENCE_PATH.read_text()
    assert schema.with_reference(text) == text, "docs/configuration.md is stale: run `make schema` and commit"


def test_reference_lists_every_key_of_the_model_once() -> None:
    rows = [line.split("|")[1].strip() for line in schema.reference().splitlines() if line.startswith("| `")]
    assert len(rows) == len(set(rows))
    for key in ("registry.edition", "images[].buildArgs", "github.reviewers.teams", "workflow.notify.kind"):
        assert f"`{key}`" in rows, key


GOOD = """\
config:
  alicloud:region: cn-hangzhou
  github:owner: acme
  aws:region: us-east-1          # another namespace: the user's business
  acr-pipeline:registry: {instanceId: cri-abc, instanceName: acme, namespace: acme-dev}
  acr-pipeline:github: {repository: shop}
  acr-pipeline:registryUsername: pusher
  acr-pipeline:registryPassword: {secure: v1:abc}
encryptionsalt: v1:salt
"""


@pytest.mark.parametrize(
    ("case", "change", "expected"),
    [
        (
            "unknown key inside registry",
            ("namespace: acme-dev}", "namespace: acme-dev, namepsace: x}"),
            "namepsace",
        ),
        ("edition outside the enum", ("{instanceId", "{edition: enterprize, instanceId"), "enterprize"),
        (
            "images as a string",
            ("  acr-pipeline:github", "  acr-pipeline:images: api\n  acr-pipeline:github"),
            "array",
        ),
        (
            "unknown project key",
            ("  acr-pipeline:github", "  acr-pipeline:imagez: []\n  acr-pipeline:github"),
            "imagez",
        ),
        ("password in plaintext", ("{secure: v1:abc}", "hunter2"), "registryPassword"),
        (
            "a whole number below its range",
            ("  acr-pipeline:github", "  acr-pipeline:auth: {sessionSeconds: 899}\n  acr-pipeline:github"),
            "899 is less than the minimum of 900",
        ),
        (
            "a whole number above its range",
            ("  acr-pipeline:github", "  acr-pipeline:auth: {sessionSeconds: 43201}\n  acr-pipeline:github"),
            "43201 is greater than the maximum of 43200",
        ),
        ("unknown top-level key", ("encryptionsalt", "encryptionsalz"), "encryptionsalz"),
    ],
)
def test_schema_refuses_what_the_program_refuses(
    schema_file: Path, tmp_path: Path, case: str, change: tuple[str, str], expected: str
) -> None:
    good = tmp_path / "Pulumi.good.yaml"
    good.write_text(GOOD)
    assert check_jsonschema(schema_file, good).returncode == 0, "the valid stack file must pass"
    bad = tmp_path / "Pulumi.bad.yaml"
    assert change[0] in GOOD
    bad.write_text(GOOD.replace(*change))
    result = check_jsonschema(schema_file, bad)
    assert result.returncode == 1, case
    assert expected in result.stdout, f"{case}:\n{result.stdout}"
