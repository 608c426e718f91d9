"""The shell the committed workflow carries, run as GitHub runs it: each script of
components/workflow_render/scripts with bash, the environment the rendered step gives it, fakes
of `docker` and `gh` on PATH, a real git history, a real local HTTP endpoint; every branch of
each script: success, retry, failure, fail-open, every source namespace, immutable re-runs, the
exact JSON each webhook kind receives."""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ruamel.yaml import YAML

from components.rules import github_glob, github_glob_ere
from components.workflow_render import render, render_pull_requests
from components.workflow_render.parts import SCRIPTS
from tests.conftest import OIDC, job_step, settings_for
from tests.fakes import BASH, Fakes, History, run_inline, run_script
from tests.jobgraph import evaluate

REGISTRY = "acme-registry.cn-hangzhou.cr.aliyuncs.com"
API = f"{REGISTRY}/acme-dev/api"
TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}


def rendered(pull_requests: bool = False, **overrides: Any) -> dict[str, Any]:
    return _rendered(pull_requests, json.dumps(overrides, sort_keys=True))


@functools.cache
def _rendered(pull_requests: bool, overrides: str) -> dict[str, Any]:
    s = settings_for(**json.loads(overrides))
    doc: dict[str, Any] = YAML(typ="safe").load(render_pull_requests(s) if pull_requests else render(s))
    return doc


def step_env(doc: dict[str, Any], job: str, script_name: str, **given: str) -> dict[str, str]:
    """The env of the step of `job` that runs `script_name`, as GitHub would hand it over: each
    `${{ }}` value must be given by the test (what GitHub would substitute), and the step's
    `run:` must be exactly the script."""
    step = job_step(doc["jobs"][job], script_name)
    env: dict[str, str] = {}
    for key, value in (step.get("env") or {}).items():
        if "${{" in str(value):
            assert key in given, f"the test must say what GitHub gives {key} (`{value}`)"
        env[key] = given.get(key, str(value))
    return {**env, **{k: v for k, v in given.items() if k not in env}}


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path / "fakes")


# Histories made once and copied for each test (a copy is cheaper than the commits again).


@pytest.fixture(scope="module")
def first_commit(tmp_path_factory: pytest.TempPathFactory) -> History:
    history = History(tmp_path_factory.mktemp("first") / "repo")
    history.commit("first", "api/main.py", "frontend/index.html", "README.md")
    return history


@pytest.fixture(scope="module")
def release_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """before (main) -> api-change (feature); docs (main); the merge of feature; tagged (main)."""
    history = History(tmp_path_factory.mktemp("release") / "repo")
    history.commit("before", "api/main.py")
    history.run("checkout", "-q", "-b", "feature")
    history.commit("api-change", "api/main.py")
    history.run("checkout", "-q", "main")
    history.commit("docs", "README.md")
    history.run("merge", "-q", "--no-ff", "-m", "merge", "feature")
    history.commits["merge"] = history.run("rev-parse", "HEAD")
    history.commit("tagged", "README.md", content="tagged")
    return history


# --- change detection ----------------------------------------------------------------------------


class TestChangeDetection:
    IMAGES: ClassVar[list[dict[str, str]]] = [{"name": "api"}, {"name": "web", "context": "frontend"}]

    def detect(self, fakes: Fakes, tmp: Path, head: str, **overrides: Any) -> Any:
        doc = rendered(**{"images": self.IMAGES, **overrides})
        env = step_env(
            doc,
            "changes",
            "changes",
            GH_TOKEN="t",  # noqa: S106 - a test value
            BRANCH="main",
            HEAD=head,
        )
        return run_script("changes", env, tmp, fakes)

    @pytest.fixture(autouse=True)
    def _first(self, first_commit: History) -> None:
        self.template = first_commit

    def history(self, fakes: Fakes, tmp: Path) -> History:
        """A history of one commit, `first`, that the test may add to."""
        history = self.template.copy(tmp / "repo")
        fakes.state["repo"] = str(history.path)
        fakes.save()
        return history

    def succeeded(self, fakes: Fakes, *shas: str, branch: str = "main", event: str = "push") -> None:
        """The workflow's runs: successful ones at shas, oldest first, and no other."""
        fakes.state["runs"] = [
            {"head_sha": sha, "head_branch": branch, "event": event, "conclusion": "success"}
            for sha in reversed(shas)
        ]
        fakes.save()

    def test_a_verify_run_that_built_nothing_is_not_the_last_successful_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        web = history.commit("web change", "frontend/app.js")  # its build failed: no run counts
        self.succeeded(fakes, history.commits["first"])
        verify = {**fakes.state["runs"][0], "head_sha": web, "event": "workflow_dispatch"}
        fakes.state["runs"].insert(0, verify)  # `make verify` on that commit, newer
        fakes.save()
        head = history.commit("api change", "api/main.py")
        result = self.detect(fakes, tmp_path, head)
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"api": "true", "web": "true"}, "web's failed build is built again"

    def test_a_push_builds_only_the_images_whose_files_changed_since_the_last_successful_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("web change", "frontend/app.js")
        result = self.detect(fakes, tmp_path, head)
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"api": "false", "web": "true"}
        assert (
            f"Since {history.commits['first'][:7]} (the last successful run), 1 files changed: web"
            in result.summary
        )

    def test_changes_of_a_failed_run_are_not_lost(self, fakes: Fakes, tmp_path: Path) -> None:
        """Not since the previous push: that run failed (or was cancelled) before pushing."""
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        history.commit("api change, whose run failed", "api/main.py")
        head = history.commit("web change", "frontend/app.js")
        assert self.detect(fakes, tmp_path, head).outputs == {"api": "true", "web": "true"}

    def test_it_asks_the_rest_api_for_the_last_successful_run_of_this_workflow_on_this_branch(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        self.detect(fakes, tmp_path, history.commit("x", "README.md"))
        lookup, compare = fakes.calls("gh")
        assert lookup[:4] == ["gh", "api", "--method", "GET"]
        assert lookup[4] == "repos/acme/shop/actions/workflows/build-push.yml/runs"
        assert {"branch=main", "status=success", "per_page=1"} <= set(lookup)
        assert compare[2] == f"repos/acme/shop/compare/{history.commits['first']}...{history.commits['x']}"

    @pytest.mark.parametrize(
        ("situation", "reason"),
        [
            ("no earlier run", "no earlier successful run on main"),
            ("lookup fails", "the last successful run could not be looked up"),
            ("comparison fails", "the comparison with"),
            ("history rewritten", "is not an ancestor of this commit (the comparison is diverged"),
            ("older commit run again", "is not an ancestor of this commit (the comparison is behind"),
            ("too many files", "more than GitHub's comparison lists"),
        ],
    )
    def test_it_fails_open_building_every_image(
        self, fakes: Fakes, tmp_path: Path, situation: str, reason: str
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("docs", "README.md", content="changed")
        if situation == "no earlier run":
            self.succeeded(fakes)
        elif situation == "lookup fails":
            fakes.state["runs_fail"] = True
        elif situation == "comparison fails":
            fakes.state["compare_fails"] = True
        elif situation == "history rewritten":
            # The last successful run built `docs`; a force push replaced it.
            self.succeeded(fakes, head)
            history.run("reset", "-q", "--hard", history.commits["first"])
            head = history.commit("rewritten docs", "README.md", content="other")
        elif situation == "too many files":
            head = history.commit("many", *[f"docs/{n}.md" for n in range(301)])
        elif situation == "older commit run again":
            # A re-run of an older commit: the last successful run is ahead of it.
            self.succeeded(fakes, history.commit("api", "api/main.py"))
        fakes.save()
        result = self.detect(fakes, tmp_path, head)
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"api": "true", "web": "true"}
        assert reason in result.summary
        assert "building every image" in result.stdout

    def test_nothing_changed_builds_nothing(self, fakes: Fakes, tmp_path: Path) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        result = self.detect(fakes, tmp_path, history.commits["first"])
        assert result.outputs == {"api": "false", "web": "false"}
        assert "no image to build" in result.summary

    def test_file_names_with_spaces_and_other_scripts_are_matched_as_they_are(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("names", "api/handlers/größe mit leer.py")
        assert self.detect(fakes, tmp_path, head).outputs == {"api": "true", "web": "false"}

    def test_the_workflow_file_itself_rebuilds_every_image(self, fakes: Fakes, tmp_path: Path) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("ci", ".github/workflows/build-push.yml")
        assert self.detect(fakes, tmp_path, head).outputs == {"api": "true", "web": "true"}

    def test_a_file_renamed_out_of_an_image_is_a_change_of_that_image(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        history.run("mv", "api/main.py", "docs-main.py")
        head = history.commit("moved")
        assert self.detect(fakes, tmp_path, head).outputs == {"api": "true", "web": "false"}

    @pytest.mark.parametrize(
        ("changed", "built"),
        [
            ("api/docs/readme.md", "false"),  # excluded by the later `!` pattern
            ("api/docs/keep/this.md", "true"),  # ... and included again by the one after it
            ("api/main.py", "true"),
            ("libs/shared/x.py", "false"),  # `*` does not cross `/`
            ("libs/x.py", "true"),
            ("deep/down/Dockerfile.api", "true"),  # `**/` is any number of directories
            ("Dockerfile.api", "true"),  # ... none included
        ],
    )
    def test_patterns_follow_githubs_glob_in_order_with_exclusions(
        self, fakes: Fakes, tmp_path: Path, changed: str, built: str
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("change", changed)
        paths = ["api/**", "!api/docs/**", "api/docs/keep/**", "libs/*.py", "**/Dockerfile.api"]
        images = [{"name": "api", "paths": paths}, {"name": "web", "context": "frontend"}]
        assert self.detect(fakes, tmp_path, head, images=images).outputs == {"api": built, "web": "false"}

    def test_a_pull_request_compares_with_its_base_even_when_the_base_moved_on(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        history.run("checkout", "-q", "-b", "feature")
        head = history.commit("feature", "frontend/app.js")
        history.run("checkout", "-q", "main")
        base = history.commit("main moved on", "api/main.py")
        doc = rendered(pull_requests=True, images=self.IMAGES, workflow={"pullRequests": True})
        env = step_env(
            doc,
            "changes",
            "changes",
            GH_TOKEN="t",  # noqa: S106 - a test value
            BASE=base,
            HEAD=head,
        )
        result = run_script("changes", env, tmp_path, fakes)
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"api": "false", "web": "true"}, "the pull request's own changes"
        assert [call[2] for call in fakes.calls("gh")] == [f"repos/acme/shop/compare/{base}...{head}"]


def test_the_shell_patterns_are_githubs_glob(tmp_path: Path) -> None:
    """Every pattern the change detection reads (a POSIX ERE in bash's `=~`) matches exactly
    what the Python rule matches, on a table of patterns and paths."""
    patterns = [
        "api/**",
        "**/main",
        "v[!0-9]*",
        "a.b?c",
        "docs/*.md",
        "x+y(z)",
        "**",
        "*.py",
        "[ab]/c",
        "x/**/y",
    ]
    paths = ["api/x", "api", "main", "a/b/main", "vx1", "v1", "a.bxc", "a.b/c", "docs/a.md", "docs/a/b.md"]
    paths += ["x+y(z)", "xy(z)", "top.py", "dir/top.py", "a/c", "c/c", "x/y", "x/a/b/y", "xy"]
    table = [(glob, path) for glob in patterns for path in paths]
    lines = "".join(f"{github_glob_ere(g)}\t{p}\n" for g, p in table)
    check = "while IFS=$'\\t' read -r re path; do if [[ $path =~ $re ]]; then echo 1; else echo 0; fi; done"
    assert BASH
    import subprocess

    answers = subprocess.run([BASH, "-c", check], input=lines, capture_output=True, text=True, check=True)
    shell = [a == "1" for a in answers.stdout.split()]
    python = [bool(github_glob(g).match(p)) for g, p in table]
    wrong = [table[i] for i, (a, b) in enumerate(zip(shell, python, strict=True)) if a != b]
    assert wrong == []
    assert sum(python) > 15, "the table meets the rule both ways"


# --- pushing -------------------------------------------------------------------------------------


class TestAlreadyPushed:
    def env(self, tags: list[str]) -> dict[str, str]:
        doc = rendered(images=[{"name": "api", "immutableTags": True}])
        return step_env(doc, "api-build-and-push", "already-pushed", TAGS="\n".join(tags) + "\n")

    def test_a_run_whose_every_tag_exists_pushes_nothing(self, fakes: Fakes, tmp_path: Path) -> None:
        fakes.state["images"] = {f"{API}:sha-abc1234": "sha256:1", f"{API}:1.2.0": "sha256:1"}
        fakes.save()
        result = run_script(
            "already-pushed", self.env([f"{API}:sha-abc1234", f"{API}:1.2.0"]), tmp_path, fakes
        )
        assert result.outputs == {"all": "true"}
        assert "every tag of this run is pushed already" in result.stdout

    def test_one_missing_tag_pushes(self, fakes: Fakes, tmp_path: Path) -> None:
        fakes.state["images"] = {f"{API}:sha-abc1234": "sha256:1"}
        fakes.save()
        result = run_script(
            "already-pushed", self.env([f"{API}:sha-abc1234", f"{API}:1.2.0"]), tmp_path, fakes
        )
        assert result.outputs == {"all": "false"}


class TestMultiArchImage:
    """scripts/merge.sh in each platform's job: the last one to push creates the image."""

    def run(self, fakes: Fakes, tmp: Path, digests: dict[str, str], immutable: bool = False) -> Any:
        folder = tmp / "digests"
        folder.mkdir(exist_ok=True)
        for arch, digest in digests.items():
            (folder / arch).write_text(digest + "\n")
        doc = rendered(images=[{**TWO, "immutableTags": immutable}])
        tags = f"{API}:main\n{API}:sha-abc1234\n" if not immutable else f"{API}:sha-abc1234\n"
        env = step_env(
            doc, "api-build-arm64", "merge", TAGS=tags, DIGESTS=str(folder), IMAGE=API, RETRY_PAUSE="0"
        )
        return run_script("merge", env, tmp, fakes)

    def test_the_job_that_finds_every_digest_creates_the_image_from_them_under_every_tag(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        result = self.run(fakes, tmp_path, {"amd64": "sha256:aaa", "arm64": "sha256:bbb"})
        assert result.returncode == 0, result.stderr
        creates = [c for c in fakes.calls("docker") if c[3] == "create"]
        assert creates == [
            [
                "docker", "buildx", "imagetools", "create",
                "-t", f"{API}:main", "-t", f"{API}:sha-abc1234",
                f"{API}@sha256:aaa", f"{API}@sha256:bbb",
            ]
        ]  # fmt: skip
        assert result.outputs["merged"] == "true"
        assert result.outputs["digest"] == fakes.load()["images"][f"{API}:main"]

    def test_a_job_that_finds_only_some_digests_leaves_it_to_the_last(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        result = self.run(fakes, tmp_path, {"amd64": "sha256:aaa"})
        assert result.returncode == 0
        assert result.outputs == {"merged": "false"}
        assert "1 of 2 platforms pushed so far" in result.stdout
        assert not [c for c in fakes.calls("docker") if "create" in c]

    def test_a_failed_create_is_retried_once(self, fakes: Fakes, tmp_path: Path) -> None:
        fakes.state["fail_create"] = 1
        fakes.save()
        result = self.run(fakes, tmp_path, {"amd64": "sha256:aaa", "arm64": "sha256:bbb"})
        assert result.returncode == 0, result.stderr
        assert len([c for c in fakes.calls("docker") if c[3] == "create"]) == 2

    @pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
    def test_a_create_that_fails_twice_fails_the_job_saying_what(
        self, fakes: Fakes, tmp_path: Path, immutable: bool
    ) -> None:
        """Also in an immutable repository whose tags nobody created: no notice that another job
        did, and no digest looked up or recorded after the failure."""
        fakes.state["fail_create"] = 2
        fakes.save()
        result = self.run(
            fakes, tmp_path, {"amd64": "sha256:aaa", "arm64": "sha256:bbb"}, immutable=immutable
        )
        assert result.returncode == 1
        assert f"::error::could not create the multi-arch image of {API}" in result.stdout
        assert "another platform's job created the image first" not in result.stdout
        assert result.outputs == {}
        assert not [c for c in fakes.calls("docker") if "--format" in c], "no digest looked up"

    def test_two_jobs_finishing_together_make_one_image_even_in_an_immutable_repository(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        digests = {"amd64": "sha256:aaa", "arm64": "sha256:bbb"}
        first = self.run(fakes, tmp_path, digests, immutable=True)
        fakes.state = {**fakes.load(), "immutable": True}
        fakes.save()
        second = self.run(fakes, tmp_path, digests, immutable=True)
        assert first.returncode == second.returncode == 0, second.stderr
        assert "::notice::another platform's job created the image first" in second.stdout
        assert second.outputs["merged"] == "true"
        assert second.outputs["digest"] == first.outputs["digest"]


class TestPromotion:
    """scripts/promote.sh on a real history with a merge."""

    @pytest.fixture
    def history(self, release_history: History, tmp_path: Path) -> History:
        return release_history.copy(tmp_path / "repo")

    def promote(
        self, fakes: Fakes, tmp: Path, history: History, build: bool = False, **overrides: Any
    ) -> Any:
        workflow = {"tags": ["v*"], "promote": {"build": build, "fromNamespaces": ["acme-staging"]}}
        doc = rendered(workflow=workflow, **overrides)
        env = step_env(
            doc,
            "api-promote",
            "promote",
            TAGS=f"{API}:1.2.0\n",
            SOURCES=f"{API}\n{REGISTRY}/acme-staging/api\n",
            RETRY_PAUSE="0",
        )
        return run_script("promote", env, tmp, fakes, cwd=history.path)

    def registry(self, fakes: Fakes, **images: str) -> None:
        fakes.state["images"] = {ref: f"sha256:{n}" for n, ref in enumerate(images.values())}
        fakes.save()

    @pytest.mark.parametrize(
        ("built", "found"),
        [
            ("api-change", "api-change"),  # the feature commit whose run built the merged change
            ("merge", "merge"),
            ("tagged", "tagged"),  # a later run, whose sha is nearer the tag
            ("docs", None),  # main's commit beside the feature: built without the merged change
            ("before", None),  # an image of older inputs is not this release's
        ],
    )
    def test_it_takes_only_an_image_built_from_the_tagged_commits_files(
        self, fakes: Fakes, tmp_path: Path, history: History, built: str, found: str | None
    ) -> None:
        self.registry(fakes, image=f"{API}:sha-{history.commits[built][:7]}")
        result = self.promote(fakes, tmp_path, history)
        creates = [c for c in fakes.calls("docker") if c[3] == "create"]
        if found is None:
            assert result.returncode == 1
            assert "::error::no image of this commit" in result.stdout
            assert result.outputs == {"promoted": "false"}
            assert creates == []
        else:
            assert result.returncode == 0, result.stderr
            source = f"{API}:sha-{history.commits[found][:7]}"
            assert creates == [["docker", "buildx", "imagetools", "create", "-t", f"{API}:1.2.0", source]]
            assert result.outputs == {"promoted": "true", "released": source, "digest": "sha256:0"}

    def test_another_stacks_namespace_is_asked_after_this_stacks_own(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        staging = f"{REGISTRY}/acme-staging/api:sha-{history.commits['tagged'][:7]}"
        self.registry(fakes, staging=staging)
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stderr
        assert result.outputs["released"] == staging
        own = f"{API}:sha-{history.commits['merge'][:7]}"
        self.registry(fakes, staging=staging, own=own)
        assert self.promote(fakes, tmp_path, history).outputs["released"] == own

    def test_with_building_allowed_no_image_means_build_it(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        self.registry(fakes)
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode == 0
        assert result.outputs == {"promoted": "false"}
        assert "no image of this commit yet: building it" in result.stdout

    def test_every_path_of_the_image_is_compared(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """An image whose Dockerfile is outside its context: a change there is a change of it."""
        self.registry(fakes, image=f"{API}:sha-{history.commits['merge'][:7]}")
        history.commit("dockerfile", "docker/api.Dockerfile")
        images = [{"name": "api", "dockerfile": "docker/api.Dockerfile"}]
        assert self.promote(fakes, tmp_path, history, images=images).returncode == 1
        assert self.promote(fakes, tmp_path, history).returncode == 0, "README-only paths: the same image"

    def test_a_failed_retag_is_retried_once_then_fails(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        self.registry(fakes, image=f"{API}:sha-{history.commits['tagged'][:7]}")
        fakes.state["fail_create"] = 1
        fakes.save()
        assert self.promote(fakes, tmp_path, history).returncode == 0
        fakes.state = {**fakes.load(), "fail_create": 2}
        fakes.save()
        failed = self.promote(fakes, tmp_path, history)
        assert failed.returncode == 1
        assert "::error::could not retag" in failed.stdout


# --- what a run says -----------------------------------------------------------------------------


class TestSummaries:
    def test_a_push_says_where_the_image_is_its_tags_digest_platforms_and_how_to_pull_it(
        self, tmp_path: Path
    ) -> None:
        doc = rendered(images=[TWO])
        env = step_env(
            doc,
            "api-build-amd64",
            "summary",
            IMAGE=API,
            TAGS=f"{API}:main\n{API}:sha-abc1234\n",
            DIGEST="sha256:9f",
        )
        result = run_script("summary", env, tmp_path)
        assert result.returncode == 0
        assert f"### `{API}`" in result.summary
        assert "| tags | `main` `sha-abc1234` |" in result.summary
        assert "| digest | `sha256:9f` |" in result.summary
        assert "| platforms | linux/amd64, linux/arm64 |" in result.summary
        assert f"docker pull {API}@sha256:9f" in result.summary

    def test_a_promotion_says_which_image_it_released(self, tmp_path: Path) -> None:
        doc = rendered(workflow={"tags": ["v*"], "promote": {}})
        source = f"{REGISTRY}/acme-staging/api:sha-abc1234"
        env = step_env(
            doc,
            "api-promote",
            "summary",
            IMAGE=API,
            TAGS=f"{API}:1.2.0\n",
            DIGEST="sha256:1",
            RELEASED=source,
        )
        assert f"Released `{source}` as it is, no rebuild." in run_script("summary", env, tmp_path).summary

    def test_a_pull_requests_build_says_nothing_was_pushed(self, tmp_path: Path) -> None:
        doc = rendered(pull_requests=True, workflow={"pullRequests": True})
        result = run_script("summary", step_env(doc, "api-build", "summary"), tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.summary == "### `api`\n\nBuilt for linux/amd64; not pushed (a pull request's build).\n"


def test_the_temporary_credentials_are_blanked_for_the_steps_that_follow(tmp_path: Path) -> None:
    doc = rendered(**OIDC)
    env = step_env(doc, "api-build-and-push", "forget-credentials")
    result = run_script("forget-credentials", env, tmp_path)
    assert result.returncode == 0
    assert result.env == {name: "" for name in env["CREDENTIALS"].split()}
    assert {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"} <= set(result.env)


# --- a local HTTP endpoint (webhooks, GitHub's OIDC token) -----------------------------------------


class Endpoint:
    """An HTTP server on 127.0.0.1 that records each request and answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, bytes] = (200, b'{"ok": true}')
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                endpoint.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                status, body = endpoint.reply
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 - the http.server names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: shutdown() waits for the loop to look, 0.5 s by default.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.server.shutdown()


class TestFailureNotice:
    TEXT = 'build-push failed: acme/shop main "quoted" \\ back\nline'

    @pytest.mark.parametrize(
        ("kind", "payload"),
        [
            ("dingtalk", {"msgtype": "text", "text": {"content": TEXT}}),
            ("feishu", {"msg_type": "text", "content": {"text": TEXT}}),
            ("slack", {"text": TEXT}),
        ],
    )
    def test_each_webhook_kind_receives_exactly_its_json(
        self, tmp_path: Path, endpoint: Endpoint, kind: str, payload: dict[str, Any]
    ) -> None:
        doc = rendered(workflow={"notify": {"kind": kind}})
        env = step_env(doc, "notify-failure", "notify", WEBHOOK_URL=f"{endpoint.url}/hook", TEXT=self.TEXT)
        result = run_script("notify", env, tmp_path)
        assert result.returncode == 0, result.stderr
        (request,) = endpoint.requests
        assert (request["method"], request["path"]) == ("POST", "/hook")
        assert request["headers"]["Content-Type"] == "application/json"
        assert json.loads(request["body"]) == payload

    def test_the_text_names_the_repository_and_ref_and_links_the_failed_run(self) -> None:
        doc = rendered(workflow={"notify": {"kind": "slack"}})
        (step,) = [s for s in doc["jobs"]["notify-failure"]["steps"] if "TEXT" in s.get("env", {})]
        github = {
            "repository": "acme/shop",
            "ref_name": "main",
            "server_url": "https://github.com",
            "run_id": "42",
        }
        text = re.sub(r"\$\{\{ github\.(\w+) \}\}", lambda m: github[m[1]], step["env"]["TEXT"])
        assert text == "build-push failed: acme/shop main https://github.com/acme/shop/actions/runs/42"

    def test_a_webhook_that_refuses_fails_the_job(self, tmp_path: Path, endpoint: Endpoint) -> None:
        endpoint.reply = (403, b"no")  # (curl retries a 5xx once, a second later)
        doc = rendered(workflow={"notify": {"kind": "slack"}})
        env = step_env(doc, "notify-failure", "notify", WEBHOOK_URL=endpoint.url, TEXT="x")
        result = run_script("notify", env, tmp_path)
        assert result.returncode != 0
        assert len(endpoint.requests) == 1, "posted once: a 4xx is not retried"
        assert "403" in result.stderr


# --- verify runs ---------------------------------------------------------------------------------


class TestVerify:
    def verify(self, fakes: Fakes, tmp: Path, login: str = "success", **overrides: Any) -> Any:
        doc = rendered(images=[{"name": "api"}, {"name": "web"}], **overrides)
        images = f"api\t{API}\nweb\t{REGISTRY}/acme-dev/web\n"
        env = step_env(doc, "verify", "verify", REGISTRY=REGISTRY, LOGIN=login, IMAGES=images)
        return run_script("verify", env, tmp, fakes)

    def test_repositories_that_answer_no_such_tag_are_reachable_and_nothing_is_pushed(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        fakes.state["errors"] = {
            "/api:": "ERROR: manifest unknown: manifest tagged by acr-pipeline-verify is not found"
        }
        fakes.save()
        result = self.verify(fakes, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "| registry | image | login | reachable |" in result.summary
        assert f"| `{REGISTRY}` | `acme-dev/api` | success | yes |" in result.summary
        assert f"| `{REGISTRY}` | `acme-dev/web` | success | yes |" in result.summary
        assert all(call[3] == "inspect" for call in fakes.calls("docker"))
        assert {call[4] for call in fakes.calls("docker")} == {
            f"{API}:acr-pipeline-verify",
            f"{REGISTRY}/acme-dev/web:acr-pipeline-verify",
        }

    @pytest.mark.parametrize(
        ("answer", "says"),
        [
            ("ERROR: unauthorized: authentication required", "no: the login may not read it"),
            ("ERROR: denied: requested access to the resource is denied", "no: the login may not read it"),
            ("ERROR: NAME_UNKNOWN: repository name not known to registry", "no: no such repository"),
            (
                "ERROR: dial tcp: lookup acme-registry: no such host",
                "no: ERROR: dial tcp: lookup acme-registry: no such host",
            ),
        ],
    )
    def test_a_repository_the_login_cannot_read_fails_the_run_saying_why(
        self, fakes: Fakes, tmp_path: Path, answer: str, says: str
    ) -> None:
        fakes.state["errors"] = {"/web:": answer}
        fakes.save()
        result = self.verify(fakes, tmp_path)
        assert result.returncode == 1
        assert f"| `acme-dev/web` | success | {says} |" in result.summary
        assert "::error::verification failed" in result.stdout

    def test_a_failed_login_asks_nothing_and_fails(self, fakes: Fakes, tmp_path: Path) -> None:
        result = self.verify(fakes, tmp_path, login="failure")
        assert result.returncode == 1
        assert "| failure | not asked: the login failed |" in result.summary
        assert fakes.calls("docker") == []

    @pytest.mark.parametrize("mode", ["password", "oidc"])
    def test_the_login_the_report_shows_is_the_login_steps_outcome_and_a_failed_token_trade_fails_it(
        self, mode: str
    ) -> None:
        """What GitHub hands the script as LOGIN, by its own evaluator: with OIDC a failed trade of
        the token for credentials is a failed login, whatever the login step then did."""
        doc = rendered(**(OIDC if mode == "oidc" else {}))
        step = job_step(doc["jobs"]["verify"], "verify")
        login = step["env"]["LOGIN"].removeprefix("${{").removesuffix("}}").strip()
        cases = {
            ("success", "success"): "success",
            ("success", "failure"): "failure",
            ("failure", "failure"): "failure",
            ("failure", "success"): "failure" if mode == "oidc" else "success",
        }
        steps = [{"aliyun": {"outcome": trade}, "login": {"outcome": outcome}} for trade, outcome in cases]
        assert evaluate([(login, {"steps": s}) for s in steps]) == list(cases.values())


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


class TestOidcDiagnosis:
    CLAIMS: ClassVar[dict[str, str]] = {
        "sub": "repo:acme/shop:ref:refs/heads/main",
        "aud": "sts.aliyuncs.com",
        "iss": "https://token.actions.githubusercontent.com",
        "ref": "refs/heads/main",
    }

    def diagnose(self, tmp: Path, endpoint: Endpoint, claims: dict[str, Any], **overrides: Any) -> Any:
        token = jwt(claims)
        endpoint.reply = (200, json.dumps({"value": token}).encode())
        doc = rendered(**OIDC, **overrides)
        env = step_env(
            doc,
            "verify",
            "oidc-claims",
            ACTIONS_ID_TOKEN_REQUEST_URL=f"{endpoint.url}/token?api-version=2.0",
            ACTIONS_ID_TOKEN_REQUEST_TOKEN="request-token-1234",  # noqa: S106 - a test value
        )
        result = run_script("oidc-claims", env, tmp)
        for text in (result.stdout, result.stderr, result.summary):
            assert token not in text, "the token is never printed"
            assert token.split(".")[1] not in text
        return result

    def test_it_asks_githubs_endpoint_for_a_token_for_sts_with_the_request_token(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        self.diagnose(tmp_path, endpoint, self.CLAIMS)
        (request,) = endpoint.requests
        assert request["path"] == "/token?api-version=2.0&audience=sts.aliyuncs.com"
        assert request["headers"]["Authorization"] == "bearer request-token-1234"

    def test_a_subject_the_role_does_not_admit_is_named_beside_those_it_does(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {**self.CLAIMS, "sub": "repo:acme/shop:ref:refs/heads/feature", "ref": "refs/heads/feature"}
        result = self.diagnose(tmp_path, endpoint, claims, workflow={"tags": ["v*"]})
        assert result.returncode == 1
        assert (
            "::error::sub: the token's subject repo:acme/shop:ref:refs/heads/feature is none of those"
            in result.stdout
        )
        assert (
            "| sub | `repo:acme/shop:ref:refs/heads/feature` | `repo:acme/shop:ref:refs/heads/main` "
            "`repo:acme/shop:ref:refs/tags/v*` |"
        ) in result.summary
        assert "| ref | `refs/heads/feature` | |" in result.summary
        assert "| environment | `(none)` | |" in result.summary

    def test_a_tag_the_role_admits_by_pattern_passes_and_another_audience_is_named(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {
            **self.CLAIMS,
            "sub": "repo:acme/shop:ref:refs/tags/v1.2.0",
            "aud": "api://AzureADTokenExchange",
        }
        result = self.diagnose(tmp_path, endpoint, claims, workflow={"tags": ["v*"]})
        errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
        assert errors == [
            "::error::aud: the token's audience is api://AzureADTokenExchange, "
            "the trust policy admits sts.aliyuncs.com"
        ]

    def test_an_environment_stack_admits_only_its_environments_subject(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {**self.CLAIMS, "sub": "repo:acme/shop:environment:staging", "environment": "staging"}
        result = self.diagnose(tmp_path, endpoint, claims, github={"environment": "production"})
        assert "sub: the token's subject repo:acme/shop:environment:staging" in result.stdout
        assert "`repo:acme/shop:environment:production`" in result.summary

    def test_when_every_claim_matches_it_says_where_else_to_look(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        result = self.diagnose(tmp_path, endpoint, self.CLAIMS)
        assert result.returncode == 1
        assert "The token matches the trust policy" in result.summary


def test_every_script_is_valid_bash_and_run_by_a_test_here() -> None:
    """`bash -n` on each script file, and each is run above (shellcheck reads them in the
    workflow checkers' test)."""
    import subprocess

    assert BASH
    source = Path(__file__).read_text()
    names = sorted(p.stem for p in SCRIPTS.glob("*.sh"))
    assert names
    for name in names:
        subprocess.run([BASH, "-n", str(SCRIPTS / f"{name}.sh")], check=True)
        assert re.search(rf'run_script\(\s*"{name}"', source), f"no test here runs {name}.sh"


# --- the few lines of shell that are not scripts ---------------------------------------------------


def inline_step(doc: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    (step,) = [s for s in doc["jobs"][job]["steps"] if s["name"] == name]
    return step  # type: ignore[no-any-return]


class TestInlineSteps:
    def test_the_gate_succeeds_when_one_platform_job_created_the_image_and_fails_saying_why_otherwise(
        self, tmp_path: Path
    ) -> None:
        step = inline_step(
            rendered(images=[TWO]), "api-build-and-push", "Check that the multi-arch image was created"
        )
        assert run_inline(step["run"], {"MERGED": "false true"}, tmp_path).returncode == 0
        failed = run_inline(step["run"], {"MERGED": "false false"}, tmp_path)
        assert failed.returncode == 1
        assert "::error::no platform job found every digest, so none created the image" in failed.stdout
        assert run_inline(step["run"], {"MERGED": " "}, tmp_path).returncode == 1, "skipped merges"

    def test_a_platform_job_records_its_digest_under_its_platform(self, tmp_path: Path) -> None:
        step = inline_step(rendered(images=[TWO]), "api-build-arm64", "Record the digest")
        env = {k: v for k, v in step["env"].items() if "${{" not in v} | {"DIGEST": "sha256:abc"}
        assert run_inline(step["run"], env, tmp_path).returncode == 0
        assert (tmp_path / "digest" / "arm64").read_text() == "sha256:abc\n"

    def test_a_tags_only_stacks_branch_run_fails_saying_how_to_run_it(self, tmp_path: Path) -> None:
        doc = rendered(workflow={"tags": ["v[0-9]+.[0-9]+.[0-9]+", "release-*"], "branchBuilds": False})
        step = inline_step(doc, "release-tags-only", "Say how to run it")
        result = run_inline(step["run"], step["env"], tmp_path)
        assert result.returncode == 1
        assert result.stdout == (
            "::error::this stack builds from release tags only (v[0-9]+.[0-9]+.[0-9]+, release-*): a run "
            "from a branch builds nothing. Run it from a tag: gh workflow run build-push.yml --ref v1.2.3 "
            "(add -f verify=true to verify)\n"
        )

    def test_the_pause_before_a_retry_sleeps_the_retry_pause(self, tmp_path: Path) -> None:
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "sleep").write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/slept"\n')
        (fake / "sleep").chmod(0o755)
        step = inline_step(rendered(), "api-build-and-push", "Pause before the retry")
        result = run_inline(step["run"], {"PATH": f"{fake}:/usr/bin:/bin"}, tmp_path)
        assert result.returncode == 0
        assert (tmp_path / "slept").read_text() == "30\n"
