"""`make synth`: every stack file runs offline, writes its plan and files, and leaks nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.settings import parse
from tools import synth
from tools.mock_engine import run_program

STACKS = synth.stack_names()


def test_there_are_dev_and_prod_stacks() -> None:
    assert {"dev", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_is_valid_and_its_password_is_a_secret(stack: str) -> None:
    values, secrets = synth.stack_config(stack)
    assert "acr-pipeline:registryPassword" in secrets
    settings = parse(values, secrets, stack)
    assert settings.workflow.path.startswith(".github/workflows/")


@pytest.mark.parametrize("stack", STACKS)
def test_synth_writes_plan_and_the_committed_workflow(stack: str, tmp_path: Path) -> None:
    text, target = synth.synth(stack, out_dir=tmp_path)
    plan = json.loads((target / "plan.json").read_text())
    (file,) = [r for r in plan["resources"] if r["type"] == synth.FILE_TYPE]
    committed = target / file["inputs"]["file"]
    assert committed.is_file()
    assert committed.read_text().startswith(f"# Managed by acr-pipeline (Pulumi stack '{stack}')")
    assert plan["outputs"]["workflowPath"] == file["inputs"]["file"]
    assert text.rstrip().endswith(f"{sum(r['custom'] for r in plan['resources'])} to create")


@pytest.mark.parametrize("stack", STACKS)
def test_synth_shows_secrets_as_placeholders_only(stack: str, tmp_path: Path) -> None:
    values, _ = synth.stack_config(stack)
    placeholder = values["acr-pipeline:registryPassword"]
    text, target = synth.synth(stack, out_dir=tmp_path)
    written = [p.read_text() for p in target.rglob("*") if p.is_file()]
    assert all(placeholder not in t for t in [text, *written])
    plan = json.loads((target / "plan.json").read_text())
    (pwd,) = [r for r in plan["resources"] if r["inputs"].get("secretName") == "ALIYUN_REGISTRY_PWD"]
    assert pwd["inputs"]["value"] == "[secret]"


def test_plan_is_the_same_on_every_run(tmp_path: Path) -> None:
    synth.synth("dev", out_dir=tmp_path / "a")
    synth.synth("dev", out_dir=tmp_path / "b")
    a = (tmp_path / "a" / "dev" / "plan.json").read_text()
    assert a == (tmp_path / "b" / "dev" / "plan.json").read_text()


def test_plan_lists_resources_in_dependency_readable_order(tmp_path: Path) -> None:
    values, secrets = synth.stack_config("dev")
    names = [r["name"] for r in synth.plan(run_program(values, secrets))["resources"]]
    assert names.index("registry") < names.index("registry-namespace") < names.index("registry-repo-api")


def _synth_cli(stacks_dir: Path, stack: str, out_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "tools/synth.py",
        stack,
        "--stacks-dir",
        str(stacks_dir),
        "--out-dir",
        str(out_dir),
    ]
    return subprocess.run(cmd, cwd=synth.ROOT_DIR, capture_output=True, text=True, check=False)


def test_bad_stack_exits_nonzero_with_the_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = (
        (synth.STACKS_DIR / "Pulumi.dev.yaml")
        .read_text()
        .replace("namespace: acme-dev", "namespace: Acme_Dev")
    )
    (tmp_path / "Pulumi.broken.yaml").write_text(bad)
    result = _synth_cli(tmp_path, "broken", tmp_path / "out")
    assert result.returncode == 2
    assert 'acr-pipeline:registry.namespace = "Acme_Dev"' in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_stack_names_the_known_ones(tmp_path: Path) -> None:
    result = _synth_cli(synth.STACKS_DIR, "nosuch", tmp_path)
    assert result.returncode == 2
    assert "dev" in result.stderr
    assert "Traceback" not in result.stderr
