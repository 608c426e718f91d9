"""Fakes for the workflow's scripts (components/workflow_render/scripts): a `docker` that answers
from a registry it keeps in a JSON file, a `cosign` that signs and verifies in that registry, a
`gh` that answers GitHub's REST API from a real local git history (all in tests/fake_tools), a
`sleep` that only says how long it would have slept,
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.workflow_render.parts import SCRIPTS
from tests.fake_tools.docker import index_digest

JQ, GIT, BASH = (shutil.which(tool) for tool in ("jq", "git", "bash"))

FAKE_TOOLS = Path(__file__).resolve().parent / "fake_tools"


@dataclass
class Fakes:
    """A bin directory with fakes of `docker`, `cosign` and `gh`, their shared state and their log."""

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
        for name in ("docker", "gh", "cosign"):
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

    def manifest(
        self,
        repository: str,
        seed: str,
        *tags: str,
        platform: str = "linux/amd64",
        revision: str | None = None,
    ) -> str:
        """A single-platform image pushed to `repository` (by digest, and under `tags`): its digest.
        Its config has the labels docker/metadata-action gives a build, the commit it was built
        from (`revision`) among them; none when `revision` is None (an image pushed by hand).
        Pushed to the registry as the scripts left it: `state` is read again first (a change to
        it not saved is lost)."""
        self.refresh()
        config = image_config(platform, revision, seed)
        found = digest(json.dumps([seed, config]))  # content-addressed: the config is in it
        self.state.setdefault("configs", {})[found] = config
        self.state.setdefault("manifests", {})[f"{repository}@{found}"] = []
        for tag in tags:
            self.state.setdefault("images", {})[f"{repository}:{tag}"] = found
        self.save()
        return found

    def index(
        self,
        repository: str,
        seeds: list[str],
        *tags: str,
        revision: str | None = None,
        revisions: Sequence[str | None] | None = None,
    ) -> str:
        """A multi-platform image (an index of a manifest per seed, platforms in PLATFORMS' order)
        in `repository`: its digest. Every platform built from `revision`, or each from its own."""
        commits = revisions if revisions is not None else [revision] * len(seeds)
        platforms = PLATFORMS[: len(seeds)]
        children = [
            self.manifest(repository, seed, platform=platform, revision=commit)
            for seed, platform, commit in zip(seeds, platforms, commits, strict=True)
        ]
        found = index_digest(children)
        self.state["manifests"][f"{repository}@{found}"] = children
        for tag in tags:
            self.state.setdefault("images", {})[f"{repository}:{tag}"] = found
        self.save()
        return found

    def sign(self, reference: str, workflow_ref: str, sha: str) -> None:
        """A keyless signature of `reference` (`<repository>@<digest>`) as cosign stores it (the
        fake cosign's `signatures`), made by the workflow `workflow_ref` of a run of `sha` (or
        whose certificate names the subject `workflow_ref`, when it is a URL)."""
        self.refresh()
        subject = workflow_ref if "://" in workflow_ref else f"https://github.com/{workflow_ref}"
        signature = {"subject": subject, "issuer": "https://token.actions.githubusercontent.com", "sha": sha}
        self.state.setdefault("signatures", {}).setdefault(reference, []).append(signature)
        self.save()

    def tags(self) -> dict[str, str]:
        """The registry's tags now: reference -> digest."""
        images: dict[str, str] = self.load().get("images", {})
        return images

    def revisions(self, reference: str) -> dict[str, str | None]:
        """What a reference names (a tag, or `<repository>@<digest>`), platform by platform: the
        commit its config's revision label says (None: no such label)."""
        state = self.load()
        if "@" in reference:
            repository, found = reference.split("@")
        else:
            repository, found = reference.rsplit(":", 1)[0], state["images"][reference]
        children = state["manifests"][f"{repository}@{found}"] or [found]
        found_revisions: dict[str, str | None] = {}
        for child in children:
            config = state["configs"][child]
            platform = "/".join(filter(None, (config["os"], config["architecture"], config.get("variant"))))
            found_revisions[platform] = config["config"].get("Labels", {}).get(REVISION_LABEL)
        return found_revisions


PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"]
REVISION_LABEL = "org.opencontainers.image.revision"


def image_config(platform: str, revision: str | None, seed: str) -> dict[str, Any]:
    """An OCI image config (image-spec's `Image`, fields in its JSON order) for `platform`, with
    the labels docker/metadata-action gives a build when `revision` is a commit."""
    os_name, architecture, *variant = platform.split("/")
    labels = {}
    if revision is not None:
        labels = {
            "org.opencontainers.image.created": "2026-01-01T00:00:00.000Z",
            REVISION_LABEL: revision,
            "org.opencontainers.image.source": "https://github.com/acme/shop",
            "org.opencontainers.image.version": "main",
        }
    inner: dict[str, Any] = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["serve"]}
    if labels:
        inner["Labels"] = dict(sorted(labels.items()))
    return {
        "created": "2026-01-01T00:00:00Z",
        "architecture": architecture,
        "os": os_name,
        **({"variant": variant[0]} if variant else {}),
        "config": inner,
        "rootfs": {"type": "layers", "diff_ids": [digest(f"layer {seed}")]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "COPY . /app"}],
    }


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
