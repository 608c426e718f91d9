"""The project files: Pulumi.yaml keeps the contract, and every dependency is pinned."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.config import FIELDS, SECRET_KEYS

ROOT = Path(__file__).resolve().parent.parent


def project() -> dict[str, Any]:
    return YAML(typ="safe").load((ROOT / "Pulumi.yaml").read_text())  # type: ignore[no-any-return]


def test_project_name_runtime_and_stack_dir() -> None:
    p = project()
    assert p["name"] == "acr-pipeline"
    assert p["runtime"]["name"] == "python"
    assert p["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    assert p["stackConfigDir"] == "stacks"


def test_the_project_declares_no_config_key_pulumi_would_require_of_every_stack() -> None:
    # Pulumi refuses a stack that lacks a key declared without a default (workspace
    # ValidateStackConfigAndApplyProjectConfig: "Stack '<stack>' missing configuration value"),
    # but an OIDC stack has no registryPassword: the settings model holds every rule instead.
    for key, declaration in (project().get("config") or {}).items():
        assert "default" in declaration, f"Pulumi.yaml declares {key} without a default"
        assert f"acr-pipeline:{key}" in FIELDS, key


def test_a_plaintext_password_is_refused_by_the_model_before_anything_is_created() -> None:
    from components.config import ConfigError, parse
    from tests.conftest import config, encode

    with pytest.raises(ConfigError, match="registryPassword: is stored in plaintext"):
        parse(encode(config()), set(), "dev")
    assert "acr-pipeline:registryPassword" in SECRET_KEYS


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


def test_docs_workflow_excerpt_is_what_the_dev_stack_renders() -> None:
    from components.config import parse
    from components.workflow_render import render
    from tests.conftest import FIXTURES
    from tools.stackfile import stack_config

    page = (ROOT / "docs" / "workflow.md").read_text()
    start = page.index("```yaml\n# Managed by acr-pipeline")
    excerpt = page[start + len("```yaml\n") : page.index("```", start + 7)]
    rendered = render(parse(*stack_config("dev", FIXTURES), "dev")).splitlines()
    shown = [line for line in excerpt.splitlines() if "..." not in line]
    assert len(shown) > 40
    missing = [line for line in shown if line not in rendered]
    assert not missing, f"docs/workflow.md excerpt lines not in the dev workflow: {missing}"
