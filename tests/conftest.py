"""Shared fixtures: a valid stack config to vary, and the program run on the mock engine."""

from __future__ import annotations

import copy
import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from components.config import parse
from components.settings import Settings
from components.workflow_render.parts import script
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

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is not installed (make install)"
    return path


def lint_workflows(*targets: Path, shellcheck: bool = True) -> list[str]:
    """actionlint (with shellcheck on every `run:` script, unless `shellcheck` is false), zizmor
    and GitHub's workflow schema, each run once over every file of the targets (files, or
    directories: every file in the tree): the findings, [] when all is clean.

    A finding about one file starts with that file's path as given (for a file found in a given
    directory, `directory/its/path`) and a colon: `path:LINE:COL: actionlint: ...`, `...: zizmor:
    ...`, `path: check-jsonschema: $.jobs...: ...`; so a caller linting many files at once can tell
    which file each finding is about. One that starts with a checker's name instead
    (`zizmor: exit status 1: ...`) is about no one file: the checker failed."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    assert targets, "lint_workflows needs a file or a directory"
    files = sorted({str(p) for t in targets for p in ([t] if t.is_file() else t.rglob("*")) if p.is_file()})
    cwd = Path(os.path.commonpath([t if t.is_dir() else t.parent for t in targets]))
    by_path = {Path(f).resolve(): f for f in files}

    def given(reported: str) -> str:
        """A file as the caller named it (actionlint shows it relative to the working directory)."""
        return by_path.get((cwd / reported).resolve(), reported)

    def actionlint(result: subprocess.CompletedProcess[str]) -> list[str]:
        return [
            f"{given(e['filepath'])}:{e['line']}:{e['column']}: actionlint: {e['message']} [{e['kind']}]\n"
            + e.get("snippet", "")
            for e in json.loads(result.stdout)
        ]

    def zizmor(result: subprocess.CompletedProcess[str]) -> list[str]:
        out = []
        for finding in json.loads(result.stdout or "[]"):
            if finding.get("ignored"):
                continue
            said = f"{finding['determinations']['severity'].lower()}[{finding['ident']}]: {finding['desc']}"
            places = finding["locations"]
            primary = [w for w in places if w["symbolic"].get("kind") == "Primary"] or places[:1]
            out += [f"zizmor: {said}\n    {finding['url']}"] if not primary else []
            for where in primary:
                symbolic, concrete = where["symbolic"], where["concrete"]
                path = given(next(iter(symbolic["key"].get("Local", {}).values()), "?"))
                start = concrete["location"]["start_point"]
                at = f"{path}:{start['row'] + 1}:{start['column'] + 1}"
                detail = f"{symbolic['annotation']}\n    {concrete['feature']}\n    {finding['url']}"
                out.append(f"{at}: zizmor: {said}: {detail}")
        # A file it cannot read as a workflow zizmor skips with a warning naming it (and fails only
        # when it skipped every file): say which, as linting that file alone would have failed.
        lines = result.stderr.splitlines()
        skipped = {given(name): name for name in re.findall(r"file://(\S+)", result.stderr)}
        return out + [
            f"{path}: zizmor: not audited:\n"
            + "\n".join(line.strip() for line in lines if f"file://{name}" in line)
            for path, name in skipped.items()
        ]

    def schema(result: subprocess.CompletedProcess[str]) -> list[str]:
        report = json.loads(result.stdout)
        out = []
        for e in report["errors"]:
            best = [
                f"\n    {key}: {match['path']}: {match['message']}"
                for key in ("best_match", "best_deep_match")
                if (match := e.get(key))
            ]
            out.append(
                f"{given(e['filename'])}: check-jsonschema: {e['path']}: {e['message']}{''.join(best)}"
            )
        return out + [
            f"{given(e.get('filename', '?'))}: check-jsonschema: {e.get('message', e)}"
            for e in report["parse_errors"]
        ]

    # Each checker: its command (a JSON report), the exit statuses of a run that checked, its reader.
    checkers = {
        # With shellcheck named: without it on PATH, actionlint skips every `run:` script silently.
        "actionlint": (
            [
                tool("actionlint"),
                f"-shellcheck={tool('shellcheck') if shellcheck else ''}",
                "-no-color",
                "-format",
                "{{json .}}",
                *files,
            ],
            (0, 1),
            actionlint,
        ),
        # Directories as such: zizmor collects their workflows as it does a repository's.
        "zizmor": (
            [tool("zizmor"), "--offline", "--no-progress", "--format", "json", *map(str, targets)],
            (0, 3, *range(10, 15)),  # 3: it could read no file as a workflow; 10-14: findings
            zizmor,
        ),
        "check-jsonschema": (
            [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "-o", "json", *files],
            (0, 1),
            schema,
        ),
    }

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)

    with ThreadPoolExecutor(len(checkers)) as pool:  # side by side: check-jsonschema takes longest
        results = list(pool.map(run, (cmd for cmd, _, _ in checkers.values())))
    found: list[str] = []
    for (name, (_, checked, read)), result in zip(checkers.items(), results, strict=True):
        try:
            said = read(result) if result.returncode in checked else []
        except (ValueError, LookupError, TypeError, AttributeError):  # a report we cannot read
            said = []
        found += said
        if result.returncode != 0 and not said:
            # Failed without a finding it could say: a crash, a bad argument, output we cannot read.
            found.append(f"{name}: exit status {result.returncode}:\n{result.stdout}{result.stderr}")
    return found


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
