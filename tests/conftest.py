"""Shared fixtures: a valid stack config to vary, and the program run on the mock engine."""

from __future__ import annotations

import copy
import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from components.config import parse
from components.settings import Settings
from components.workflow_render.parts import script
from tools.lint_workflows import lint_workflows as lint_workflows
from tools.lint_workflows import tool as tool
from tools.mock_engine import Run, run_program

PROJECT = "acr-pipeline"
# A password no test would produce by accident: any appearance of it outside the secret
# itself is a leak.
KNOWN_PASSWORD = "Kn0wn-Pa55word-7f3e91"  # noqa: S105 - a test value

BASE: dict[str, Any] = {
    "alicloud:region": "cn-hangzhou",
    "github:owner": "acme",
    "acr-pipeline:registry": {
        "instanceId": "cri-abc123def456",
        "instanceName": "acme",
        "namespace": "acme-dev",
    },
    "acr-pipeline:github": {"repository": "shop"},
    "acr-pipeline:registryUsername": "pusher@1234567890",
    "acr-pipeline:registryPassword": KNOWN_PASSWORD,
}
SECRET_KEYS = {"acr-pipeline:registryPassword"}
OIDC: dict[str, Any] = {"auth": {"mode": "oidc"}, "registryUsername": None, "registryPassword": None}
"""Overrides that make a stack keyless (auth.mode: oidc): no registry login anywhere."""


def config(**overrides: Any) -> dict[str, Any]:
    """BASE with overrides: `registry={"edition": "personal"}` merges into the object;
    `images=[...]` replaces; a value of None removes the key. Keys without a namespace
    are project keys."""
    cfg = copy.deepcopy(BASE)
    for key, value in overrides.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            cfg.pop(full, None)
        elif isinstance(value, dict) and isinstance(cfg.get(full), dict):
            merged = {**cfg[full], **value}
            cfg[full] = {k: v for k, v in merged.items() if v is not None}
        else:
            cfg[full] = value
    return cfg


def region(name: str) -> dict[str, Any]:
    """Overrides that set `alicloud:region` (a key no keyword argument can spell)."""
    return {"alicloud:region": name}


def encode(cfg: dict[str, Any]) -> dict[str, str]:
    """As Pulumi hands config to a program: objects and lists as JSON, the rest as text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()}


def job_step(job: dict[str, Any], script_name: str) -> dict[str, Any]:
    """The step of `job` that runs scripts/<script_name>.sh."""
    (step,) = [s for s in job["steps"] if s.get("run") == script(script_name)]
    return step  # type: ignore[no-any-return]


def settings_for(secret_keys: set[str] | None = None, stack: str = "dev", **overrides: Any) -> Settings:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    return parse(encode(config(**overrides)), keys, stack)


def run_for(secret_keys: set[str] | None = None, stack: str = "dev", **overrides: Any) -> Run:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    return run_program(encode(config(**overrides)), keys, stack=stack)


FIXTURES = Path(__file__).resolve().parent / "stacks"
"""Our own stacks for tests of the program's rules and the golden files: replacing the
examples in stacks/ with a team's own never breaks the suite."""


def fixture_settings(stack: str) -> Settings:
    from components.stackfile import stack_config

    return parse(*stack_config(stack, FIXTURES), stack)


@pytest.fixture(scope="module")
def default_run() -> Run:
    """The program with the base config (one image, enterprise, repository scope)."""
    return run_for()


# --- the workflow checkers ---------------------------------------------------------------------

# actionlint (with shellcheck), zizmor and GitHub's workflow schema, as `make check` runs them:
# `lint_workflows(*targets, shellcheck=True)` gives their findings, `tool(name)` a command's path
# (tools/lint_workflows.py).

# --- golden files ----------------------------------------------------------------------------

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/python -m pytest"


def updating_golden() -> bool:
    return os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def assert_matches_golden(actual: str, name: str) -> None:
    """Compare with tests/golden/<name>; under UPDATE_GOLDEN=1, rewrite it instead."""
    path = GOLDEN_DIR / name
    root = GOLDEN_DIR.parent.parent
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    if updating_golden():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    if not path.is_file():
        pytest.fail(f"no golden file {shown}; create it (then review and commit it):\n    {REGENERATE}")
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True), str(shown), "now"
            )
        )
        pytest.fail(
            f"{shown} no longer matches what the code produces. If the change is intended, regenerate "
            f"the golden files and review the diff:\n    {REGENERATE}\n\n{diff}"
        )


# Property tests explore at random on a workstation; CI (CI=true) replays a fixed sequence
# so that a landing never depends on luck, nor on the machine's load (no 200 ms deadline).
hypothesis_settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=3000)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)


INLINE_RUNS = frozenset(
    {
        "Build every image",
        "Pause before pushing again",
        "Record the digest",
        "Say how to run it",
        "Summarize what was built",
        "Check every build",
    }
)
"""The steps whose `run:` is not one of components/workflow_render/scripts, by name: a line or
two each, each run by tests/test_scripts.py (TestInlineSteps)."""


EXAMPLE_REPOSITORY = ("acme-platform", "shop")
"""The repository our example stacks in stacks/ build (owner, name)."""


def stacks_are_the_examples() -> bool:
    """Whether stacks/ holds our examples, not a team's own stacks (which name their own
    repository): the tests of what the examples teach and show run only on them."""
    from components.stackfile import STACKS_DIR, load_stacks

    loaded, _ = load_stacks(STACKS_DIR)
    return bool(loaded) and all((s.owner, s.github.repository) == EXAMPLE_REPOSITORY for _, s in loaded)
