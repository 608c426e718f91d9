"""Fakes for the workflow's scripts (components/workflow_render/scripts): a `docker` that answers
from a registry it keeps in a JSON file, a `gh` that answers GitHub's REST API from a real local
git history (both in tests/fake_tools), a `sleep` that only says how long it would have slept,
and the way GitHub runs a `run:` step (bash, its output files).

Each fake is put first on PATH; each call is appended to a log as JSON (argv), so a test sees
exactly what a script ran. `jq` and `git` are the real ones: the suite requires them (a test
fails, it does not skip, when one is missing).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.workflow_render.parts import SCRIPTS
from tests.fake_tools.docker import index_digest

JQ, GIT, BASH = (shutil.which(tool) for tool in ("jq", "git", "bash"))

FAKE_TOOLS = Path(__file__).resolve().parent / "fake_tools"


@dataclass
class Fakes:
    """A bin directory with fakes of `docker` and `gh`, their shared state and their log."""

    root: Path
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert JQ, "jq is required by the test suite (it runs the workflow's scripts)"
        assert GIT, "git is required by the test suite"
        assert BASH, "bash is required by the test suite"
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "calls.log"
        self.log.touch()
        for name in ("docker", "gh"):
            fake = self.bin / name
            fake.write_text(
                f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE_TOOLS / f"{name}.py"}" '
                f'"{self.root / "state.json"}" "{self.log}" "$@"\n'
            )
            fake.chmod(0o755)
        # The pause before a retry: logged, not slept (its argument is a number of seconds).
        sleep = self.bin / "sleep"
        sleep.write_text(f'#!/bin/sh\nprintf \'["sleep", "%s"]\\n\' "$*" >> "{self.log}"\n')
        sleep.chmod(0o755)
        self.save()

    def save(self) -> None:
        (self.root / "state.json").write_text(json.dumps(self.state))

    def load(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.root / "state.json").read_text())
        return state

    def refresh(self) -> None:
        """`state` as the fakes left it (after a script ran), to change it further."""
        self.state = self.load()

    def calls(self, program: str | None = None) -> list[list[str]]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [call for call in lines if program is None or call[0] == program]

    # The registry of the fake docker (tests/fake_tools/docker.py).

    def manifest(self, repository: str, seed: str, *tags: str) -> str:
        """A single-platform image pushed to `repository` (by digest, and under `tags`): its digest."""
        found = digest(seed)
        self.state.setdefault("manifests", {})[f"{repository}@{found}"] = []
        for tag in tags:
            self.state.setdefault("images", {})[f"{repository}:{tag}"] = found
        self.save()
        return found

    def index(self, repository: str, seeds: list[str], *tags: str) -> str:
        """A multi-platform image (an index of a manifest per seed) in `repository`: its digest."""
        children = [self.manifest(repository, seed) for seed in seeds]
        found = index_digest(children)
        self.state["manifests"][f"{repository}@{found}"] = children
        for tag in tags:
            self.state.setdefault("images", {})[f"{repository}:{tag}"] = found
        self.save()
        return found

    def tags(self) -> dict[str, str]:
        """The registry's tags now: reference -> digest."""
        images: dict[str, str] = self.load().get("images", {})
        return images


def digest(seed: str) -> str:
    """A well-formed digest (`sha256:` and 64 hex digits), the same for the same seed."""
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    """What the step wrote to $GITHUB_OUTPUT (name=value lines)."""
    env: dict[str, str]
    """What it wrote to $GITHUB_ENV."""
    summary: str
    """What it wrote to $GITHUB_STEP_SUMMARY."""


def run_script(
    name: str, env: dict[str, str], tmp: Path, fakes: Fakes | None = None, cwd: Path | None = None
) -> StepResult:
    """Run scripts/<name>.sh as GitHub runs a `run:` step with bash: its files for outputs, the
    environment, nothing else on PATH first but the fakes."""
    return run_step([str(SCRIPTS / f"{name}.sh")], env, tmp, fakes, cwd)


def run_inline(body: str, env: dict[str, str], tmp: Path, fakes: Fakes | None = None) -> StepResult:
    """Run the text of a `run:` step that is not one of the scripts (a line or two), the same way."""
    return run_step(["-c", body], env, tmp, fakes)


def run_step(
    what: list[str], env: dict[str, str], tmp: Path, fakes: Fakes | None = None, cwd: Path | None = None
) -> StepResult:
    files = {kind: tmp / f"{kind}.txt" for kind in ("output", "env", "summary")}
    for path in files.values():
        path.write_text("")
    search = f"{fakes.bin}:{os.environ['PATH']}" if fakes else os.environ["PATH"]
    full = {
        "PATH": search,
        "HOME": str(tmp),
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_ENV": str(files["env"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_REPOSITORY": "acme/shop",
        "RUNNER_TEMP": str(tmp),
        **env,
    }
    assert BASH
    done = subprocess.run(
        [BASH, "--noprofile", "--norc", "-e", "-o", "pipefail", *what],
        env=full,
        cwd=cwd or tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    def pairs(text: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    return StepResult(
        done.returncode,
        done.stdout,
        done.stderr,
        pairs(files["output"].read_text()),
        pairs(files["env"].read_text()),
        files["summary"].read_text(),
    )


class History:
    """A real git repository to commit to, for the scripts that compare commits."""

    def __init__(self, path: Path, init: bool = True) -> None:
        assert GIT
        self.path = path
        self.git = [GIT, "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        if init:
            subprocess.run([GIT, "init", "-q", "-b", "main", str(path)], check=True)
        self.commits: dict[str, str] = {}

    def copy(self, path: Path) -> History:
        """The same history at `path`, to change without touching this one (cheaper than again)."""
        shutil.copytree(self.path, path)
        copied = History(path, init=False)
        copied.commits = dict(self.commits)
        return copied

    def commit(self, name: str, *files: str, content: str | None = None) -> str:
        """Write each of `files` (new content: the commit's name) and commit; the full sha."""
        for file in files:
            target = self.path / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content if content is not None else name)
        self.run("add", "-A")
        self.run("commit", "-q", "--allow-empty", "-m", name)
        self.commits[name] = self.run("rev-parse", "HEAD")
        return self.commits[name]

    def run(self, *args: str) -> str:
        return subprocess.run([*self.git, *args], check=True, capture_output=True, text=True).stdout.strip()
