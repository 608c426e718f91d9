"""Several stacks, one repository: the example stacks never write the same thing, and the
cross-stack check catches it when two would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools import check_stacks, synth
from tools.mock_engine import ROOT_DIR

WORKFLOW = ".github/workflows/build-push.yml"
DEV = (synth.STACKS_DIR / "Pulumi.dev.yaml").read_text()


def write_stacks(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


def problems_for(stacks_dir: Path) -> list[str]:
    loaded, errors = check_stacks.load_stacks(stacks_dir)
    assert errors == []
    return check_stacks.clashes(loaded)


def test_example_stacks_include_dev_staging_and_prod() -> None:
    assert {"dev", "staging", "prod"} <= set(synth.stack_names())


def test_example_stacks_do_not_clash() -> None:
    loaded, errors = check_stacks.load_stacks()
    assert errors == []
    assert check_stacks.clashes(loaded) == []


def test_example_stacks_each_own_a_workflow_file_and_a_namespace() -> None:
    loaded, _ = check_stacks.load_stacks()
    paths = [s.workflow_path for _, s in loaded]
    namespaces = [s.registry.namespace for _, s in loaded]
    assert len(set(paths)) == len(paths) == len(loaded)
    assert len(set(namespaces)) == len(namespaces)


def test_two_repository_scoped_stacks_writing_aliyun_registry_clash(tmp_path: Path) -> None:
    other = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n  acr-pipeline:workflow:\n    path: .github/workflows/qa.yml"
    )
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    clash = "GitHub variable ALIYUN_REGISTRY at repository scope of acme-platform/shop"
    assert f"stacks dev and qa both write the {clash}" in found
    assert not any("workflow file" in p for p in found)


def test_two_stacks_writing_one_workflow_path_clash(tmp_path: Path) -> None:
    other = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main",
        "branch: main\n    environment: qa\n  acr-pipeline:workflow:\n    path: " + WORKFLOW,
    )
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    assert found == [
        "stacks dev and qa both write the workflow file "
        ".github/workflows/build-push.yml on acme-platform/shop@main"
    ]


def test_two_stacks_creating_one_namespace_clash(tmp_path: Path) -> None:
    other = DEV.replace("branch: main", "branch: main\n    environment: qa")
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    assert any("ACR namespace acme-dev" in p and "dev and qa" in p for p in found)


def test_environment_scopes_keep_the_same_names_apart(tmp_path: Path) -> None:
    qa = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n    environment: qa"
    )
    assert problems_for(write_stacks(tmp_path, dev=DEV, qa=qa)) == []


def test_check_stacks_command_exits_nonzero_naming_the_clash(tmp_path: Path) -> None:
    write_stacks(tmp_path, dev=DEV, copy=DEV)
    result = subprocess.run(
        [sys.executable, "-m", "tools.check_stacks", str(tmp_path)],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "stacks copy and dev both write" in result.stderr
    assert "Traceback" not in result.stderr
