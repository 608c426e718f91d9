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
    from components.stackfile import stack_config
    from components.workflow_render import render
    from tests.conftest import FIXTURES

    page = (ROOT / "docs" / "workflow.md").read_text()
    start = page.index("```yaml\n# Managed by acr-pipeline")
    excerpt = page[start + len("```yaml\n") : page.index("```", start + 7)]
    rendered = render(parse(*stack_config("dev", FIXTURES), "dev")).splitlines()
    shown = [line for line in excerpt.splitlines() if "..." not in line]
    assert len(shown) > 40
    missing = [line for line in shown if line not in rendered]
    assert not missing, f"docs/workflow.md excerpt lines not in the dev workflow: {missing}"


def test_every_file_make_mutate_runs_first_is_one_it_selects() -> None:
    # A judge that is not in [tool.mutmut]'s selection never reaches a mutant: its module's
    # mutants would silently fall back to the slowest order.
    import tomllib

    from tools.mutate import JUDGES

    selection = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    selected = set(selection["pytest_add_cli_args_test_selection"])
    for prefix, files in JUDGES.items():
        assert set(files) <= selected, (prefix, set(files) - selected)
        assert re.fullmatch(r"components\.([a-z_]+\.)*", prefix), prefix


def test_every_tool_answers_help_with_its_usage_and_does_nothing_else() -> None:
    """`python -m tools.<name> --help` prints how to use it and exits 0: never an error about a
    stack called `--help`, never a file written (make schema's tool writes two otherwise)."""
    import subprocess
    import sys

    tools = sorted(
        p.stem for p in (ROOT / "tools").glob("*.py") if 'if __name__ == "__main__":' in p.read_text()
    )
    assert {"synth", "verify", "check_stacks", "schema", "stackfile"} <= set(tools)
    before = {
        p: p.stat().st_mtime_ns
        for p in (ROOT / "stacks" / "stack.schema.json", ROOT / "docs" / "configuration.md")
    }
    for tool in tools:
        done = subprocess.run(
            [sys.executable, "-m", f"tools.{tool}", "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (tool, done.stderr)
        assert "usage" in done.stdout.lower(), (tool, done.stdout)
    assert {p: p.stat().st_mtime_ns for p in before} == before, "--help wrote files"
