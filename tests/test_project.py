"""The project files: Pulumi.yaml keeps the contract, and every dependency is pinned."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from components.settings import PROJECT_KEYS

ROOT = Path(__file__).resolve().parent.parent
# The types Pulumi's project schema allows for a config declaration.
PULUMI_CONFIG_TYPES = {"string", "integer", "boolean", "array"}


def project() -> dict[str, Any]:
    return YAML(typ="safe").load((ROOT / "Pulumi.yaml").read_text())  # type: ignore[no-any-return]


def test_project_name_runtime_and_stack_dir() -> None:
    p = project()
    assert p["name"] == "acr-pipeline"
    assert p["runtime"]["name"] == "python"
    assert p["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    assert p["stackConfigDir"] == "stacks"


def test_password_is_declared_secret_so_the_cli_refuses_plaintext() -> None:
    assert project()["config"]["registryPassword"]["secret"] is True


def test_config_declarations_use_only_types_pulumi_accepts() -> None:
    for key, decl in project()["config"].items():
        assert key in PROJECT_KEYS, key
        assert decl["type"] in PULUMI_CONFIG_TYPES, key
        assert decl.get("description"), f"{key} has no description"


def test_every_requirement_is_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or line == "-r requirements.txt":
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9.+!]+", line), (
                f"{name}: {line} is not pinned"
            )


def test_runtime_requirements_hold_the_providers() -> None:
    text = (ROOT / "requirements.txt").read_text()
    for package in ("pulumi==", "pulumi-alicloud==", "pulumi-github==", "ruamel.yaml=="):
        assert package in text, package
