"""The rendered workflow: structure, least privilege, pins, determinism, and the checkers.

However many images a stack has, build-push has the jobs `changes` (the table of builds, and the
ones to run), `build` (one matrix job over the planned rows) and `verify`, and the pull-request
workflow `changes`, `build` and `builds`: what differs between images is a row of the table
(components/workflow_render/table.py), carried as JSON lines in the `changes` job's env `BUILDS`.
The tests read the rows there, and evaluate the expressions a step reads them with by GitHub's own
evaluator (tests/jobgraph.py), rather than reading the expressions' text.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ruamel.yaml import YAML

from components.config import ConfigError
from components.pins import PINS, uses
from components.settings import Settings
from components.stackfile import stack_names
from components.workflow_render import render, render_pull_requests, table
from components.workflow_render.parts import SCRIPTS, script
from tests.conftest import (
    FIXTURES,
    INLINE_RUNS,
    OIDC,
    assert_matches_golden,
    fixture_settings,
    job_step,
    lint_workflows,
    settings_for,
    tool,
)
from tests.fakes import run_inline
from tests.jobgraph import Case, evaluate, expressions, simulate, substitute

SHA_REF = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")
AMD64, ARM64 = "linux/amd64", "linux/arm64"


def load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def wf(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = load(render(settings_for(**overrides)))
    return doc


def pr(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = load(render_pull_requests(settings_for(**overrides)))
    return doc


def build_job(doc: dict[str, Any]) -> dict[str, Any]:
    """The one job that builds every image (a leg per row of the table)."""
    job: dict[str, Any] = doc["jobs"]["build"]
    return job


def table_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The table as the workflow carries it: the `changes` job's env BUILDS, JSON lines."""
    return [json.loads(line) for line in doc["jobs"]["changes"]["env"]["BUILDS"].splitlines()]


def row_of(rows: list[dict[str, Any]], image: str, platforms: str = AMD64) -> dict[str, Any]:
    """The one row that builds `platforms` of `image`."""
    (found,) = [r for r in rows if r["image"] == image and r["platforms"] == platforms]
    return found


def uses_of(job: dict[str, Any]) -> list[str]:
    return [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]


def using(job: dict[str, Any], action: str) -> dict[str, Any]:
    """The one step of `job` that uses `action` (`docker/metadata-action`)."""
    (step,) = [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]
    return step  # type: ignore[no-any-return]


def step_id(job: dict[str, Any], id_: str) -> dict[str, Any]:
    """The step of `job` with the id `id_`: the `build` job's `build`, `push` and `retry` all use
    docker/build-push-action."""
    (step,) = [s for s in job["steps"] if s.get("id") == id_]
    return step  # type: ignore[no-any-return]


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s["name"] == name]
    return step  # type: ignore[no-any-return]


# --- GitHub's expressions, evaluated by GitHub's evaluator ----------------------------------------


# --- the representative renderings -----------------------------------------------------------

TWO = {"name": "api", "platforms": [AMD64, ARM64]}
THREE = {"name": "api", "platforms": [AMD64, ARM64, "linux/arm/v7"]}
PROD_SHAPE: dict[str, Any] = {
    "registry": {"edition": "enterprise"},
    "github": {"environment": "production", "reviewers": {"teams": [1]}, "deploymentTags": ["v*"]},
    "workflow": {"branchBuilds": False, "tags": ["v[0-9]+.[0-9]+.[0-9]+"], "cache": False},
}
"""The release stack of the size targets: each image multi-arch and immutable (`prod_images`)."""


def prod_images(count: int, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    names = names or [f"img{i}" for i in range(count)]
    return [{"name": name, "platforms": [AMD64, ARM64], "immutableTags": True} for name in names]


DEV_SHAPE: dict[str, Any] = {
    "images": [{"name": "api"}, {"name": "worker", "context": "services/worker"}],
    "workflow": {"pullRequests": True},
}
"""The everyday stack of the size targets: two single-arch images, pull requests built."""

RENDERINGS: dict[str, Any] = {
    "one-image": {},
    "native-two-platforms": {"images": [TWO]},
    "native-three-platforms-environment": {"images": [THREE], "github": {"environment": "production"}},
    "promote-immutable": {
        "images": [{**TWO, "immutableTags": True}, {"name": "web"}],
        "workflow": {"tags": ["v*"], "branchBuilds": False, "promote": {"fromNamespaces": ["acme-staging"]}},
    },
    "emulate": {"images": [THREE], "workflow": {"emulate": True}},
    "three-images-multi-arch": {
        "images": [
            {"name": "api", "platforms": [AMD64, ARM64]},
            {"name": "web", "context": "frontend"},
            {"name": "edge.proxy", "platforms": [AMD64, "linux/arm/v7"]},
        ]
    },
    "tags-environment-no-cache": {
        "github": {"environment": "production", "branch": "release"},
        "workflow": {"tags": ["v*", "release-*"], "cache": False, "attestations": True},
    },
    "tag-pins": {"workflow": {"pinActions": "tag"}},
    "release-only-notify-immutable": {
        "github": {"environment": "production"},
        "images": [
            {"name": "api", "immutableTags": True, "buildArgs": {"VERSION": "1.0"}, "target": "runtime"}
        ],
        "workflow": {"tags": ["v*"], "branchBuilds": False, "notify": {"kind": "feishu"}},
    },
    # Mutable and immutable images on branch builds (the moving tag rules switched per row), and
    # every optional input a row can carry.
    "mixed-immutable-labels": {
        "images": [
            {
                **TWO,
                "immutableTags": True,
                "labels": {"org.opencontainers.image.vendor": "ACME"},
                "buildArgs": {"VERSION": "1.2"},
                "target": "runtime",
            },
            {"name": "web", "context": "frontend", "platforms": ["linux/arm/v7"]},
        ],
        "workflow": {"tags": ["v*"], "notify": {"kind": "slack"}},
    },
    "prod-shape": {**PROD_SHAPE, "images": prod_images(2, ["api", "worker"])},
}
RENDERINGS["oidc-environment"] = {**OIDC, "github": {"environment": "production"}}
RENDERINGS["pull-requests-multi-arch"] = {
    "images": [TWO, {"name": "web", "context": "frontend"}],
    "workflow": {"pullRequests": True},
}
RENDERINGS["signed-promotion"] = {
    "images": [TWO, {"name": "web", "context": "frontend"}],
    "workflow": {
        "tags": ["v*"],
        "sign": True,
        "pullRequests": True,
        "promote": {"fromNamespaces": ["acme-staging"]},
    },
}
# Renderings also linted with tag pins (actionlint checks the inputs of actions pinned by tag
# only): between them, every action the renderer uses, with every input it sets.
BY_TAG = (
    "three-images-multi-arch",
    "promote-immutable",
    "tags-environment-no-cache",
    "release-only-notify-immutable",
    "mixed-immutable-labels",
    "pull-requests-multi-arch",
    "oidc-environment",
    "signed-promotion",
)
GOLDEN = (
    "one-image",
    "three-images-multi-arch",
    "tags-environment-no-cache",
    "tag-pins",
    "promote-immutable",
    "release-only-notify-immutable",
    "oidc-environment",
    "signed-promotion",
)


@dataclass(frozen=True)
class Rendering:
    settings: Settings
    text: str
    pull_requests: bool
    """The pull-request workflow (else build-push)."""


@functools.cache
def renderings() -> dict[str, Rendering]:
    """Every representative rendering (those of BY_TAG in both pin modes: `<name>-by-tag`), every
    fixture stack's, and the pull-request workflows of those that have one (`<name>-pull-requests`).
    Rendered once per session: read, never change."""
    out: dict[str, Rendering] = {}

    def add(name: str, settings: Settings) -> None:
        out[name] = Rendering(settings, render(settings), pull_requests=False)
        if settings.workflow.pull_requests:
            out[f"{name}-pull-requests"] = Rendering(settings, render_pull_requests(settings), True)

    for name, cfg in RENDERINGS.items():
        add(name, settings_for(**cfg))
        if name in BY_TAG:
            add(
                f"{name}-by-tag",
                settings_for(**{**cfg, "workflow": {**cfg.get("workflow", {}), "pinActions": "tag"}}),
            )
    for name in stack_names(FIXTURES):
        add(f"stack-{name}", fixture_settings(name))
    return out


def all_renderings() -> dict[str, str]:
    return {name: rendering.text for name, rendering in renderings().items()}


@functools.cache
def loaded_renderings() -> dict[str, Any]:
    return {name: load(text) for name, text in all_renderings().items()}


def jobs_that_log_in(doc: dict[str, Any]) -> set[str]:
    return {
        job_id
        for job_id, job in doc["jobs"].items()
        if {"docker/login-action", "aliyun/acr-login"} & set(uses_of(job))
    }


class TestTriggersAndPrivileges:
    def test_push_to_the_branch_and_manual_runs_trigger_it_with_a_verify_switch(self) -> None:
        doc = wf()
        assert doc["on"]["push"] == {"branches": ["main"]}
        verify = doc["on"]["workflow_dispatch"]["inputs"]["verify"]
        assert verify["type"] == "boolean"
        assert verify["default"] is False

    def test_tag_patterns_also_trigger(self) -> None:
        doc = wf(workflow={"tags": ["v*"]})
        assert doc["on"]["push"]["tags"] == ["v*"]

    def test_least_privilege_per_job(self) -> None:
        """In every rendering: the workflow reads contents and no more; a job that logs in reads
        contents, and with OIDC writes an ID token (it, and only it); `changes` reads the run
        history (`actions: read`) only where branch pushes build (it looks up the last successful
        run of the branch); a job that needs nothing gets nothing (notify, release-tags-only, the
        pull request's result)."""
        read = {"contents": "read"}
        for name, rendering in renderings().items():
            doc = loaded_renderings()[name]
            settings = rendering.settings
            assert doc["permissions"] == read, name
            if rendering.pull_requests:
                expected = {"changes": read, "build": read, "builds": {}}
            else:
                credentials = {**read, **({"id-token": "write"} if settings.auth.mode == "oidc" else {})}
                # The builds sign with the job's token (workflow.sign); verifying needs none.
                signs = {"id-token": "write"} if settings.workflow.sign else {}
                history = {"actions": "read"} if settings.workflow.branch_builds else {}
                expected = {
                    "release-tags-only": {},
                    "changes": {**read, **history},
                    "build": {**credentials, **signs},
                    "verify": credentials,
                    "notify-failure": {},
                }
            assert set(doc["jobs"]) <= set(expected), name
            for job_id, job in doc["jobs"].items():
                # A job without `permissions:` has the workflow's.
                assert job.get("permissions", doc["permissions"]) == expected[job_id], (name, job_id)

    def test_permissions_are_read_only_and_per_job(self) -> None:
        doc = wf(images=[{"name": "api"}, TWO | {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        assert doc["permissions"] == {"contents": "read"}
        # The changes job reads the run history to find the last successful build.
        assert doc["jobs"]["changes"]["permissions"] == {"contents": "read", "actions": "read"}
        for job_id in ("build", "verify"):
            assert doc["jobs"][job_id]["permissions"] == {"contents": "read"}, job_id
        assert doc["jobs"]["notify-failure"]["permissions"] == {}
        tags_only = wf(workflow={"tags": ["v*"], "branchBuilds": False})["jobs"]
        assert tags_only["changes"]["permissions"] == {"contents": "read"}, "no history to look up"
        assert tags_only["release-tags-only"]["permissions"] == {}

    def test_an_id_token_only_on_the_jobs_that_log_in_under_oidc_or_sign(self) -> None:
        seen = 0
        for name, doc in loaded_renderings().items():
            oidc = renderings()[name].settings.auth.mode == "oidc"
            for job_id, job in doc["jobs"].items():
                trades = "aliyun/configure-aliyun-credentials-action" in uses_of(job)
                signs = any(s.get("run") == script("sign") for s in job["steps"])
                assert trades == (oidc and job_id in jobs_that_log_in(doc)), (name, job_id)
                assert ("id-token" in job.get("permissions", {})) == (trades or signs), (name, job_id)
                seen += trades
        assert seen >= 4, "the renderings include keyless stacks"

    def test_superseded_runs_of_a_ref_are_cancelled_and_a_verify_run_or_a_rerun_cancels_no_build(
        self,
    ) -> None:
        """A new run of a ref cancels the one in progress; a verify run, and a re-run (an older
        commit's run attempted again), are in groups of their own: they cancel no newer build."""
        concurrency = wf()["concurrency"]
        assert concurrency["cancel-in-progress"] is True
        runs = [
            ("push", False, "1", "11"),
            ("a newer push", False, "1", "12"),
            ("verify", True, "1", "13"),
            ("re-run", False, "2", "11"),
            ("another re-run", False, "3", "11"),
        ]
        contexts = [
            {
                "github": {
                    "workflow": "build-push (dev)",
                    "ref": "refs/heads/main",
                    "run_attempt": a,
                    "run_id": i,
                },
                "inputs": {"verify": v},
            }
            for _, v, a, i in runs
        ]
        groups = substitute([(concurrency["group"], c) for c in contexts])
        push, newer, verify, rerun, again = groups
        assert push == newer == "build-push (dev)-refs/heads/main", "a newer push supersedes"
        assert len({newer, verify, rerun}) == 3, groups
        assert rerun == again, "the attempts of one run are one run"

    def test_secrets_are_referenced_only_by_the_login_and_the_failure_notice(self) -> None:
        """In every rendering: the registry login reads the two login secrets, the notify job's
        one step its webhook secret, and no other step, job or workflow-level `env` any secret; a
        keyless stack's login and the pull-request workflow read none."""
        seen = {"login": 0, "notify": 0}
        for name, doc in loaded_renderings().items():
            rendering = renderings()[name]
            assert "secrets." not in str({k: v for k, v in doc.items() if k != "jobs"}), name
            for job_id, job in doc["jobs"].items():
                assert "secrets." not in str({k: v for k, v in job.items() if k != "steps"}), (name, job_id)
                for step in job["steps"]:
                    read = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", str(step)))
                    where = (name, job_id, step.get("name"))
                    if step.get("uses", "").startswith("docker/login-action@") and read:
                        assert read == {"ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"}, where
                        assert not rendering.pull_requests, where
                        seen["login"] += 1
                    elif job_id == "notify-failure" and read:
                        assert len(read) == 1, where
                        assert set(step["env"].values()) >= {f"${{{{ secrets.{read.pop()} }}}}"}, where
                        seen["notify"] += 1
                    else:
                        assert read == set(), where
            if rendering.pull_requests or rendering.settings.auth.mode == "oidc":
                notice = rendering.settings.workflow.notify
                spared = {f"secrets.{notice.secret}"} if notice and not rendering.pull_requests else set()
                assert set(re.findall(r"secrets\.\w+", rendering.text)) == spared, name
        assert seen["login"] > 0, "the renderings include password logins"
        assert seen["notify"] > 0, "and failure notices"

    def test_login_uses_the_contract_variable_and_secrets(self) -> None:
        login = using(build_job(wf()), "docker/login-action")
        assert login["id"] == "login"
        assert login["with"] == {
            "registry": "${{ vars.ALIYUN_REGISTRY }}",
            "username": "${{ secrets.ALIYUN_REGISTRY_USER }}",
            "password": "${{ secrets.ALIYUN_REGISTRY_PWD }}",
        }

    def test_checkouts_keep_no_credentials(self) -> None:
        for name, doc in loaded_renderings().items():
            for job_id, job in doc["jobs"].items():
                for step in job["steps"]:
                    if step.get("uses", "").startswith("actions/checkout@"):
                        assert step["with"]["persist-credentials"] is False, (name, job_id)

    def test_jobs_that_log_in_declare_the_environment_and_no_other_does(self) -> None:
        seen = 0
        for name, doc in loaded_renderings().items():
            environment = renderings()[name].settings.github.environment
            logs_in = jobs_that_log_in(doc)
            if renderings()[name].pull_requests:
                assert logs_in == set(), name
            else:
                assert logs_in == {"build", "verify"}, name
            for job_id, job in doc["jobs"].items():
                declared = job.get("environment")
                assert declared == (environment if environment and job_id in logs_in else None), (
                    name,
                    job_id,
                )
                seen += declared is not None
        assert seen > 0, "the renderings include environments"


class TestChangeDetection:
    def test_the_changes_job_outputs_the_builds_its_plan_keeps(self) -> None:
        """No output per image any more: one list of rows, the build matrix."""
        changes = wf(images=[{"name": "api"}, {"name": "web", "context": "frontend"}])["jobs"]["changes"]
        assert changes["name"] == "Plan the builds"
        assert changes["if"] == "${{ !inputs.verify }}"
        assert changes["outputs"] == {
            "builds": "${{ steps.plan.outputs.builds }}",
            "current": "${{ steps.head.outputs.current }}",
        }
        head, listed, plan = changes["steps"]
        assert head == job_step(changes, "head")
        assert head["if"] == "${{ github.ref_type == 'branch' }}", "a tag moves no branch tag"
        assert listed == job_step(changes, "changes")
        assert plan == job_step(changes, "plan")
        assert listed["id"] == "changes"
        # Tag pushes and manual runs build every image: only a branch push lists its files.
        assert listed["if"] == "${{ github.event_name == 'push' && github.ref_type == 'branch' }}"
        assert plan["id"] == "plan"
        assert plan["if"] == "${{ !cancelled() }}", "after a failed detection too: every image"
        assert plan["env"]["FILES"] == "${{ steps.changes.outputs.files }}"
        assert plan["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api + ^\.github/workflows/build-push\.yml$",
            r"web + ^frontend/.*$",
            r"web + ^\.github/workflows/build-push\.yml$",
        ]

    def test_no_history_is_cloned(self) -> None:
        """The files come from GitHub's compare API; a promotion fetches only the commits it reads."""
        for name, text in all_renderings().items():
            assert "fetch-depth: 0" not in text, name
        for name, doc in loaded_renderings().items():
            assert "actions/checkout" not in uses_of(doc["jobs"]["changes"]), name

    def test_it_compares_with_the_last_successful_run_of_this_workflow_and_branch(self) -> None:
        step = job_step(wf(workflow={"path": ".github/workflows/images.yml"})["jobs"]["changes"], "changes")
        assert step["env"]["WORKFLOW"] == "images.yml"
        assert step["env"]["BRANCH"] == "${{ github.ref_name }}"
        assert step["env"]["HEAD"] == "${{ github.sha }}"
        assert step["env"]["GH_TOKEN"] == "${{ github.token }}"  # noqa: S105 - the job's own token

    def test_a_dockerfile_outside_the_context_is_watched_too(self) -> None:
        doc = wf(images=[{"name": "api", "dockerfile": "docker/api.Dockerfile"}])
        assert job_step(doc["jobs"]["changes"], "plan")["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api + ^docker/api\.Dockerfile$",
            r"api + ^\.github/workflows/build-push\.yml$",
        ]

    def test_an_excluding_pattern_is_marked_as_such(self) -> None:
        doc = wf(images=[{"name": "api", "paths": ["api/**", "!api/docs/**"]}])
        assert job_step(doc["jobs"]["changes"], "plan")["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api - ^api/docs/.*$",
        ]

    def test_a_tags_only_stack_plans_every_row_on_a_release_tag_without_asking_github(
        self, tmp_path: Path
    ) -> None:
        settings = settings_for(
            images=[TWO, {"name": "web"}], workflow={"tags": ["v*"], "branchBuilds": False}
        )
        changes = load(render(settings))["jobs"]["changes"]
        assert changes["if"] == "${{ !inputs.verify && github.ref_type == 'tag' }}"
        (plan,) = changes["steps"]
        assert plan["id"] == "plan"
        assert "GH_TOKEN" not in str(changes)
        done = run_inline(plan["run"], {"BUILDS": changes["env"]["BUILDS"]}, tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.outputs["builds"]) == table.rows(settings)


def plan_builds(changes: dict[str, Any], files: str, tmp_path: Path) -> list[dict[str, Any]]:
    """What the rendered plan step outputs, run as GitHub runs it with the job's env and FILES."""
    plan = job_step(changes, "plan")
    env = {**changes["env"], **plan["env"], "FILES": files}
    done = run_inline(plan["run"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    builds: list[dict[str, Any]] = json.loads(done.outputs["builds"])
    return builds


TRICKY_IMAGES: list[dict[str, Any]] = [
    {
        "name": "api",
        "context": "services/api: x #not-a-comment",
        "dockerfile": "docker/api.Dockerfile",
        "platforms": [AMD64, ARM64, "linux/arm/v7"],
        "buildArgs": {"VERSION": "1.2", "QUOTED": "a \"b\" 'c' \\d $(id) `x` {{ y }} ünï ✓", "NUMBER": 3},
        "labels": {"org.opencontainers.image.vendor": 'ACME, Inc.: "q" #x', "team": "$HOME ✓"},
        "target": "runtime",
        "immutableTags": True,
    },
    {"name": "agent/client", "context": "."},
    {"name": "web.app", "context": "frontend", "variable": "FRONTEND_REPOSITORY", "platforms": [ARM64]},
]


class TestTable:
    def test_the_tables_json_is_what_settings_say(self, tmp_path: Path) -> None:
        """The rows, read back from the rendered JSON lines (through YAML and JSON), are
        table.rows(settings), and say each image's settings; both workflows carry the same
        table, and the plan hands on every row as it is when no file list came (a tag, a manual
        run, a failed detection)."""
        stacks: list[dict[str, Any]] = [
            {"images": TRICKY_IMAGES, "workflow": {"pullRequests": True}},
            {"images": TRICKY_IMAGES, "workflow": {"tags": ["v*"], "promote": {}, "emulate": True}},
            {"images": [{"name": "api"}, {"name": "web"}], "workflow": {"cache": False}},
        ]
        for overrides in stacks:
            settings = settings_for(**overrides)
            doc = load(render(settings))
            rows = table.rows(settings)
            assert doc["jobs"]["changes"]["env"]["BUILDS"].splitlines() == [
                json.dumps(r, ensure_ascii=False) for r in rows
            ]
            assert table_of(doc) == rows
            if settings.workflow.pull_requests:
                assert table_of(load(render_pull_requests(settings))) == rows
            assert plan_builds(doc["jobs"]["changes"], "", tmp_path) == rows
            for image in settings.images:
                mine = [r for r in rows if r["image"] == image.name]
                builds = [tuple(r["platforms"].split(", ")) for r in mine]
                assert builds == (
                    [image.platforms] if settings.workflow.emulate else [(p,) for p in image.platforms]
                )
                for r in mine:
                    assert r["key"] == image.key
                    assert r["variable"] == image.variable
                    assert (r["context"], r["file"]) == (image.context, image.dockerfile)
                    assert r.get("target") == image.target
                    args = dict(line.split("=", 1) for line in r.get("buildArgs", "").splitlines())
                    assert args == image.build_args
                    labels = dict(line.split("=", 1) for line in r.get("labels", "").splitlines())
                    assert labels == image.labels
                    assert r.get("immutable", False) is image.immutable_tags
                    assert ("cache" in r) is settings.cache
                    promote = settings.workflow.promote is not None
                    assert r.get("pathspecs") == (
                        "\n".join(f":(glob){p}" for p in settings.paths(image)) if promote else None
                    )
                    if len(mine) > 1:
                        assert r["all"] == ", ".join(image.platforms)
                        assert (r["leg"], r["legs"]) == (mine.index(r) + 1, len(mine))
                    else:
                        assert "all" not in r

    def test_the_plan_keeps_every_row_of_each_image_whose_files_changed(self, tmp_path: Path) -> None:
        doc = wf(images=[TWO, {"name": "web", "context": "frontend"}, {"name": "docs", "paths": ["docs/**"]}])
        changes = doc["jobs"]["changes"]
        rows = table_of(doc)
        assert plan_builds(changes, '["frontend/a.ts"]', tmp_path) == [row_of(rows, "web")]
        assert plan_builds(changes, '["api/x.go", "docs/y.md"]', tmp_path) == [
            r for r in rows if r["image"] in ("api", "docs")
        ]
        assert plan_builds(changes, "[]", tmp_path) == []
        assert plan_builds(changes, '[".github/workflows/build-push.yml"]', tmp_path) == [
            r for r in rows if r["image"] != "docs"
        ]

    @pytest.mark.parametrize("workflow", ["build-push", "pull-requests"])
    def test_each_row_is_one_leg_of_the_build_job(self, workflow: str) -> None:
        """GitHub expands the matrix (tests/jobgraph: its rules of `include`) into a leg per row,
        whose `matrix` is the row, named after the image and the platforms it builds."""
        settings = settings_for(**RENDERINGS["three-images-multi-arch"], workflow={"pullRequests": True})
        rows = table.rows(settings)
        if workflow == "build-push":
            text, event, ref, base = render(settings), "push", "refs/heads/main", None
            name = "{key}-build-and-push ({platforms})"
        else:
            text, event, ref, base = (
                render_pull_requests(settings),
                "pull_request",
                "refs/pull/7/merge",
                "main",
            )
            name = "Build {image} ({platforms})"
        (result,) = simulate(
            [Case(text, event, ref, outputs={"changes": {"builds": json.dumps(rows)}}, base_ref=base)]
        )
        assert result.matrix["build"] == rows
        assert list(result.legs["build"]) == [name.format(**r) for r in rows]

    def test_every_matrix_key_a_step_reads_is_in_the_table(self) -> None:
        """A misspelt `matrix.` key reads as empty. Every key the build job reads is one some row
        has; all but those a row leaves out when false or empty are in every row (`leg`, `cache`,
        `pathspecs` in every row of a stack whose build reads them)."""
        # Keys a row leaves out when false or empty (GitHub reads a missing key as empty), and
        # keys of some stacks only, which every row has where a step reads them.
        optional = {"qemu", "immutable", "all", "target", "buildArgs", "labels"}
        known = {key for doc in loaded_renderings().values() for r in table_of(doc) for key in r}
        assert known >= optional
        checked = 0
        for name, doc in loaded_renderings().items():
            rows = table_of(doc)
            read = {key for e in _expressions(build_job(doc)) for key in re.findall(r"\bmatrix\.(\w+)", e)}
            assert read >= {"platforms", "runner", "context", "file"}, name
            for key in read:
                assert key in known, f"{name}: the build reads matrix.{key}, which no row of any stack has"
                if key not in optional:
                    assert all(key in r for r in rows), f"{name}: a row has no {key}"
                checked += 1
        assert checked > 100


class TestJobs:
    def test_the_same_jobs_whatever_the_number_of_images(self) -> None:
        for images in ([{"name": "api"}], [{"name": "api"}, {"name": "web"}], [TWO, THREE | {"name": "web"}]):
            assert list(wf(images=images)["jobs"]) == ["changes", "build", "verify"]
            assert list(pr(images=images, workflow={"pullRequests": True})["jobs"]) == [
                "changes",
                "build",
                "builds",
            ]
        every = wf(
            images=[TWO], workflow={"tags": ["v*"], "branchBuilds": False, "notify": {"kind": "slack"}}
        )
        assert list(every["jobs"]) == ["release-tags-only", "changes", "build", "verify", "notify-failure"]

    def test_the_build_job_is_one_matrix_over_the_planned_rows(self) -> None:
        job = build_job(wf(images=[TWO, {"name": "web"}]))
        assert job["name"] == "${{ matrix.key }}-build-and-push (${{ matrix.platforms }})"
        assert job["needs"] == "changes"
        # Not the implicit success(): a failed detection still plans every build (it fails open);
        # GitHub fails a job whose matrix is empty.
        assert job["if"] == (
            "${{ !cancelled() && needs.changes.outputs.builds != ''"
            " && needs.changes.outputs.builds != '[]' }}"
        )
        assert job["strategy"] == {
            "fail-fast": False,
            "matrix": {"include": "${{ fromJSON(needs.changes.outputs.builds) }}"},
        }
        assert job["runs-on"] == "${{ matrix.runner }}"

    def test_build_inputs_come_from_the_row(self) -> None:
        doc = wf(images=[{"name": "api", "context": "services/api", "dockerfile": "docker/api.Dockerfile"}])
        (row,) = table_of(doc)
        assert (row["context"], row["file"], row["platforms"]) == (
            "services/api",
            "docker/api.Dockerfile",
            "linux/amd64",
        )
        job = build_job(doc)
        for id_ in ("build", "push", "retry"):
            inputs = step_id(job, id_)["with"]
            assert inputs["context"] == "${{ matrix.context }}", id_
            assert inputs["file"] == "${{ matrix.file }}", id_
            assert inputs["platforms"] == "${{ matrix.platforms }}", id_
        assert step_id(job, "push")["with"]["push"] is True
        assert step_id(job, "push")["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
        assert "push" not in step_id(job, "build")["with"], "the build pushes nothing"

    @pytest.mark.parametrize("mixed", [False, True], ids=["one-kind", "mixed-immutable"])
    def test_a_run_whose_commit_is_no_longer_the_branch_head_moves_no_branch_tag_nor_latest(
        self, mixed: bool
    ) -> None:
        """A re-run of an older commit (or one a newer push overtook) pushes its `sha-` tag; the
        branch's tag and `latest` stay on the newer image. The `changes` job says which (head.sh);
        when it cannot tell, nothing moves."""
        images = [{"name": "api"}, *([{"name": "web", "immutableTags": True}] if mixed else [])]
        doc = wf(images=images)
        rules = using(build_job(doc), "docker/metadata-action")["with"]["tags"]
        row = table_of(doc)[0]
        head = enabled_rules(rules, row, "branch", current="true")
        assert {"type=ref,event=branch", "type=raw,value=latest", "type=sha"} <= head
        for current in ("false", ""):
            older = enabled_rules(rules, row, "branch", current=current)
            assert "type=sha" in older
            assert not {"type=ref,event=branch", "type=raw,value=latest"} & older, (current, older)

    def test_metadata_tags_branch_sha_semver_and_latest_on_default_branch(self) -> None:
        doc = wf()
        meta = using(build_job(doc), "docker/metadata-action")
        assert meta["id"] == "meta"
        (row,) = table_of(doc)
        (image,) = substitute(
            [
                (
                    meta["with"]["images"],
                    {"matrix": row, "vars": {"ALIYUN_REGISTRY": "r.example", "API_IMAGE_NAME": "ns/api"}},
                )
            ]
        )
        assert image == "r.example/ns/api"
        # Without it, metadata-action adds `latest` on every release tag as well.
        assert meta["with"]["flavor"] == "latest=false"
        assert meta["with"]["tags"].splitlines() == [
            "type=ref,event=branch,enable=${{ needs.changes.outputs.current == 'true' }}",
            "type=ref,event=tag",
            "type=sha,enable=${{ github.ref_type != 'tag' }}",
            "type=semver,pattern={{version}}",
            "type=semver,pattern={{major}}.{{minor}}",
            "type=raw,value=latest,enable=${{ needs.changes.outputs.current == 'true' "
            "&& '{{is_default_branch}}' || 'false' }}",
        ]

    def test_the_qemu_step_only_when_a_row_needs_it(self) -> None:
        """A row needs QEMU when it builds a platform other than its runner's: no native runner
        for it, or every platform in one build (`workflow.emulate`). The step is rendered only
        when some row needs it, and runs only in those rows' legs."""
        cases: list[dict[str, Any]] = [
            {"images": [{"name": "api"}, TWO | {"name": "web"}]},
            {"images": [{"name": "api", "platforms": [ARM64]}]},
            {"images": [THREE]},
            {"images": [TWO], "workflow": {"emulate": True}},
            {"images": [{"name": "api"}, TWO | {"name": "web"}], "workflow": {"emulate": True}},
            {"images": [TWO], "workflow": {"runners": {ARM64: None}}},
            {"images": [{"name": "api", "platforms": ["windows/amd64"]}]},
        ]
        needed = 0
        for overrides in cases:
            workflow = {**overrides.get("workflow", {}), "pullRequests": True}
            for doc in (wf(**overrides), pr(**{**overrides, "workflow": workflow})):
                rows = table_of(doc)
                for r in rows:
                    foreign = r["runner"] == "ubuntu-24.04" and r["platforms"] != AMD64
                    assert r.get("qemu", False) is foreign, r
                job = build_job(doc)
                qemu = [s for s in job["steps"] if s.get("uses", "").startswith("docker/setup-qemu-action@")]
                assert bool(qemu) == any("qemu" in r for r in rows), overrides
                if qemu:
                    (step,) = qemu
                    assert job["steps"].index(step) == 1, "before buildx"
                    (condition,) = expressions(step["if"])
                    qemu_runs = evaluate([(condition, {"matrix": r}) for r in rows])
                    assert [bool(v) for v in qemu_runs] == [bool(r.get("qemu")) for r in rows]
                    needed += 1
        assert needed == 10

    def test_cache_scope_per_stack_and_image_and_platform_for_multi_build_images(self) -> None:
        doc = wf(images=[TWO, {"name": "web"}])
        assert [r["cache"] for r in table_of(doc)] == [
            "dev+api+linux/amd64",
            "dev+api+linux/arm64",
            "dev+web",
        ]
        job = build_job(doc)
        assert step_id(job, "build")["with"]["cache-from"] == "type=gha,scope=${{ matrix.cache }}"
        assert step_id(job, "build")["with"]["cache-to"] == "type=gha,mode=max,scope=${{ matrix.cache }}"
        for id_ in ("push", "retry"):
            assert not {"cache-from", "cache-to"} & set(step_id(job, id_)["with"]), "the push writes none"
        emulated = table_of(wf(images=[TWO], workflow={"emulate": True}))
        assert [r["cache"] for r in emulated] == ["dev+api"], "one build: the image's scope"
        off = wf(workflow={"cache": False})
        assert "cache" not in table_of(off)[0]
        assert "cache" not in str(step_id(build_job(off), "build")["with"])

    def test_two_stacks_of_one_repository_never_share_a_cache_scope(self) -> None:
        def scopes(stack: str, images: Any = (TWO, {"name": "web"}), **overrides: Any) -> set[str]:
            doc = load(render(settings_for(stack=stack, images=list(images), **overrides)))
            return {r["cache"] for r in table_of(doc)}

        dev = scopes("dev")
        prod = scopes("prod", github={"environment": "production"}, workflow={"cache": True})
        assert len(dev) == 3
        assert len(prod) == 3
        assert dev.isdisjoint(prod)
        # Names that a `-` would run together: stack `prod` with image `eu-api`, stack `prod-eu`
        # with image `api`; an image `api-arm64` beside image `api`'s arm64 platform.
        assert scopes("prod", images=[{"name": "eu-api"}]).isdisjoint(
            scopes("prod-eu", images=[{"name": "api"}])
        )
        both = scopes("dev", images=[TWO, {"name": "api-arm64"}])
        assert len(both) == 3, both

    def test_a_reviewed_environment_builds_without_cache_unless_asked_and_then_warns(self) -> None:
        reviewed = {"environment": "production", "reviewers": {"teams": [1]}}

        def cached(doc: dict[str, Any]) -> bool:
            uses_cache = "cache-from" in step_id(build_job(doc), "build")["with"]
            assert uses_cache == all("cache" in r for r in table_of(doc))
            return uses_cache

        assert not cached(wf(github=reviewed))
        assert settings_for(github=reviewed).warnings == []
        asked = settings_for(github=reviewed, workflow={"cache": True})
        ((key, warning),) = asked.warnings
        assert key == "acr-pipeline:workflow.cache"
        assert "anyone who can push to a branch can write the build cache" in warning
        assert cached(load(render(asked)))
        assert cached(wf(github={"environment": "staging"}))

    def test_attestations_are_off_unless_enabled(self) -> None:
        job = build_job(wf())
        for id_ in ("build", "push", "retry"):
            step = step_id(job, id_)
            assert step["with"]["provenance"] is False, id_
            assert step["with"]["sbom"] is False, id_
            assert "env" not in step, id_

    def test_enabled_attestations_use_the_format_acr_accepts(self) -> None:
        for images in ([{"name": "api"}], [TWO]):
            job = build_job(wf(images=images, workflow={"attestations": True}))
            for id_ in ("build", "push", "retry"):
                step = step_id(job, id_)
                assert step["with"]["provenance"] == "mode=max", id_
                assert step["with"]["sbom"] is True, id_
                assert step["env"] == {"BUILDX_NO_DEFAULT_OCI_ARTIFACT": "true"}, id_
        pulls = build_job(pr(workflow={"attestations": True, "pullRequests": True}))
        built = using(pulls, "docker/build-push-action")
        assert (built["with"]["provenance"], built["with"]["sbom"]) == (False, False), "nothing pushed"

    def test_attestations_bring_a_buildx_that_honours_the_opt_out_downloaded_not_cached(self) -> None:
        setup = using(build_job(wf(workflow={"attestations": True})), "docker/setup-buildx-action")
        assert setup["with"] == {"version": "v0.36.1", "cache-binary": False}
        assert "with" not in using(build_job(wf()), "docker/setup-buildx-action")

    def test_a_stack_of_single_build_mutable_images_pushes_under_its_tags_directly(self) -> None:
        """No digest artifacts, no merge: each build is the image."""
        doc = wf(images=[{"name": "api"}, {"name": "web", "platforms": [ARM64]}])
        job = build_job(doc)
        assert not {"actions/upload-artifact", "actions/download-artifact"} & set(uses_of(job))
        assert [s for s in job["steps"] if s.get("run") == script("merge")] == []
        assert "Record the digest" not in [s["name"] for s in job["steps"]]
        for r in table_of(doc):
            assert not {"leg", "legs", "all"} & set(r), r
        for id_, title in (("push", "Push"), ("retry", "Push (again)")):
            push = step_id(job, id_)
            assert push["name"] == title
            assert push["with"]["push"] is True
            assert push["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
            assert "outputs" not in push["with"]
        summary = job_step(job, "summary")
        assert summary["if"] == "${{ steps.push.outcome == 'success' || steps.retry.outcome == 'success' }}"
        assert summary["env"]["DIGEST"] == "${{ steps.push.outputs.digest || steps.retry.outputs.digest }}"
        # Any multi-build or immutable image: every image by digest.
        for images in (
            [{"name": "api"}, TWO | {"name": "web"}],
            [{"name": "api"}, {"name": "web", "immutableTags": True}],
        ):
            by_digest = build_job(wf(images=images))
            assert step_id(by_digest, "push")["name"] == "Push by digest"
            assert "push" not in step_id(by_digest, "push")["with"]
            assert "actions/upload-artifact" in uses_of(by_digest)


def same_shape(values: str, branch_builds: bool = True) -> dict[str, Any]:
    """A stack with every kind of user value, of one shape whatever `values` are: `plain`, or
    `marked` (each value holds `zq`, with quotes, `$`, braces, `#`, `: ` and backticks around).
    Its first image builds natively and under QEMU, its second `linux/amd64` only."""
    if values == "plain":
        name, text = "api", "1.0"
    else:
        name, text = "zq-api.x", "zq $ {{ x }} }}${y}{{ $(id) `x` \"q\" 'r' \\ #c: d ✓"
    return {
        "stack": "plain" if values == "plain" else "zqstack",
        "registry": {"namespace": "acme-dev" if values == "plain" else "zq-ns"},
        "github": {
            "environment": "production" if values == "plain" else "zq-env",
            "branch": "main" if values == "plain" else "zq-release",
        },
        "images": [
            {
                "name": name,
                "variable": "API_IMAGE_NAME",
                "context": "api" if values == "plain" else "zq/svc: x #y",
                "dockerfile": "docker/Dockerfile" if values == "plain" else "zq/docker/Dockerfile",
                "paths": ["api/**", "lib/*.go"] if values == "plain" else ["zq/**", "zq$x[ab]?", 'zq "#: y'],
                "platforms": [AMD64, ARM64, "linux/arm/v7"],
                "immutableTags": True,
                "buildArgs": {"VERSION" if values == "plain" else "ZQ_ARG": text},
                "labels": {"team" if values == "plain" else "zq.label": text},
                "target": "runtime" if values == "plain" else "zqstage",
            },
            {"name": "web" if values == "plain" else "zq/web", "variable": "WEB_IMAGE_NAME"},
        ],
        "workflow": {
            "name": "build" if values == "plain" else "zq workflow $ {{ x }}",
            "path": ".github/workflows/build.yml" if values == "plain" else ".github/workflows/zq.yml",
            "tags": ["v*"] if values == "plain" else ["zq-v*", "zq$x"],
            "promote": {"fromNamespaces": ["acme-staging" if values == "plain" else "zq-staging"]},
            "notify": {"kind": "slack"},
            "branchBuilds": branch_builds,
            "pullRequests": True,
            "pullRequestPath": ".github/workflows/pr.yml"
            if values == "plain"
            else ".github/workflows/zq-pr.yml",
        },
    }


def both_workflows(overrides: dict[str, Any]) -> list[str]:
    settings = settings_for(**overrides)
    return [render(settings), render_pull_requests(settings)]


def runs(doc: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for job in doc["jobs"].values() for step in job["steps"]]


class TestPinsAndText:
    def test_every_action_is_pinned_from_the_one_table(self) -> None:
        """Every `uses:` of every rendering is components/pins.py's: by full SHA with the version
        as its comment, or by tag where the stack asks (`workflow.pinActions: tag`)."""
        used: set[str] = set()
        for name, rendering in renderings().items():
            mode = rendering.settings.workflow.pin_actions
            for line in rendering.text.splitlines():
                if "uses:" not in line:
                    continue
                ref, _, comment = line.split("uses:", 1)[1].strip().partition("  # ")
                action = ref.split("@")[0]
                assert (ref, comment) == uses(action, mode), (name, line)
                if mode == "sha":
                    match = SHA_REF.match(ref)
                    assert match, ref
                    assert (match["sha"], comment) == (PINS[action].sha, PINS[action].version), ref
                used.add(action)
        assert used == set(PINS) - {"pulumi/actions"}, "the renderings use every action but Pulumi's"

    def test_tag_mode_uses_major_version_tags(self) -> None:
        text = render(settings_for(workflow={"pinActions": "tag"}))
        refs = re.findall(r"uses: (\S+)", text)
        assert "actions/checkout@v7" in refs
        assert "docker/build-push-action@v7" in refs
        assert not [r for r in refs if SHA_REF.match(r)]

    def test_rendering_is_byte_identical_for_the_same_settings_in_any_process(self) -> None:
        """Two interpreters with different string hashes (set order) render the same bytes: a
        re-run of `pulumi up` never commits a reordered workflow."""
        code = (
            "from tests.conftest import settings_for; from tests.test_workflow_render import RENDERINGS; "
            "from components.workflow_render import render, render_pull_requests; import sys; "
            "s = settings_for(**RENDERINGS['three-images-multi-arch'], workflow={'pullRequests': True}); "
            "sys.stdout.write(render(s) + render_pull_requests(s))"
        )
        texts = {
            subprocess.run(
                [sys.executable, "-c", code],
                env={**os.environ, "PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout
            for seed in ("1", "2")
        }
        assert len(texts) == 1
        settings = settings_for(**RENDERINGS["three-images-multi-arch"], workflow={"pullRequests": True})
        assert texts == {render(settings) + render_pull_requests(settings)}

    def test_user_values_are_quoted_by_the_emitter(self) -> None:
        tricky = "app: x #not-a-comment"
        doc = wf(images=[{"name": "api", "context": tricky, "paths": ["*.go", "- x"]}])
        assert table_of(doc)[0]["context"] == tricky
        assert job_step(doc["jobs"]["changes"], "plan")["env"]["FILTERS"].splitlines() == [
            r"api + ^[^/]*\.go$",
            "api + ^- x$",
        ]

    @pytest.mark.parametrize("branch_builds", [True, False])
    def test_no_user_value_reaches_a_run_script_text(self, branch_builds: bool) -> None:
        """Values reach the shell only through `env:`: two stacks of one shape with different
        values run the very same scripts, and none of the marked values is in one (though each
        is in the workflows)."""
        plain = both_workflows(same_shape("plain", branch_builds))
        marked = both_workflows(same_shape("marked", branch_builds))
        for a, b in zip(plain, marked, strict=True):
            assert runs(load(a)) == runs(load(b))
            assert all("zq" not in text.lower() for text in runs(load(b)))
        for value in (
            "zq-api.x",
            "zq/svc: x #y",
            "zq/docker/Dockerfile",
            "zq-env",
            "zq-release",
            "zqstage",
            "zq-staging",
            "zq-v*",
            "ZQ_ARG=zq $ {{ x }}",
            "zq workflow",
            "zqstack",
        ):
            assert value in "".join(marked), value
        for name, doc in loaded_renderings().items():
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    assert "${{" not in step.get("run", ""), f"{name}: {step['name']}"

    @pytest.mark.parametrize("branch_builds", [True, False])
    def test_no_expression_comes_from_a_user_value(self, branch_builds: bool) -> None:
        """Every `${{ ... }}` is the renderer's: two stacks of one shape have the same expressions
        in the same order, though one's values are full of `$`, `{{` and `}}`; a value that holds
        `${{` is refused (GitHub would evaluate it)."""
        plain = both_workflows(same_shape("plain", branch_builds))
        marked = both_workflows(same_shape("marked", branch_builds))
        for a, b in zip(plain, marked, strict=True):
            assert _expressions(load(a)) == _expressions(load(b))
            assert a.count("${{") == b.count("${{")
        shape = same_shape("marked", branch_builds)
        image = shape["images"][0]
        for spoiled in (
            {"images": [{**image, "buildArgs": {"A": "${{ secrets.X }}"}}]},
            {"images": [{**image, "labels": {"a": "x${{ github.token }}"}}]},
            {"images": [{**image, "context": "${{ github.token }}"}]},
            {"images": [{**image, "paths": ["${{ github.token }}/**"]}]},
            {"workflow": {**shape["workflow"], "tags": ["${{ github.token }}"]}},
            {"workflow": {**shape["workflow"], "promote": {"fromNamespaces": ["${{ x }}"]}}},
        ):
            with pytest.raises(ConfigError, match=r"must not contain '\$\{\{'"):
                settings_for(**{**shape, **spoiled})

    def test_every_script_a_step_runs_is_one_of_the_files_placed_as_it_is(self) -> None:
        """Non-trivial shell lives in components/workflow_render/scripts (shellcheck, bash -n and
        tests/test_scripts.py read it as files); a `run:` of more than one line is one of them."""
        placed = {script(p.stem) for p in SCRIPTS.glob("*.sh")}
        # The only other shell, a line or two, each run by tests/test_scripts.py (TestInlineSteps).
        inline = INLINE_RUNS
        seen = set()
        for name, doc in loaded_renderings().items():
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    if "run" in step and step["run"] not in placed:
                        assert step["name"] in inline, f"{name}: {step['name']}"
                        assert len(step["run"].splitlines()) <= 2, f"{name}: {step['name']}"
                        seen.add(step["name"])
        assert seen == inline

    def test_header_says_the_file_is_managed_by_the_stack(self) -> None:
        assert render(settings_for(stack="prod")).startswith(
            "# Managed by acr-pipeline (Pulumi stack 'prod')"
        )


NEVER_MOVE = {"type=ref,event=tag", "type=sha", "type=semver,pattern={{version}}"}
"""The tag rules whose tags never move: the git tag, `sha-<commit>` and the full version."""


def enabled_rules(rules: str, row: dict[str, Any], ref_type: str, current: str = "true") -> set[str]:
    """The metadata-action rules (without their `enable=`) that are on for the row's build on a
    push of a branch or a tag (`current`: whether the run's commit is the branch's head, as the
    `changes` job says): each rule's expressions evaluated as GitHub hands them over; the action
    skips a rule whose `enable` is `false` (`{{is_default_branch}}` is its own: on)."""
    needs = {"changes": {"outputs": {"current": current if ref_type == "branch" else ""}}}
    lines = substitute(
        [
            (line, {"matrix": row, "github": {"ref_type": ref_type}, "needs": needs})
            for line in rules.splitlines()
        ]
    )
    out = set()
    for line in lines:
        rule, _, enable = line.partition(",enable=")
        assert enable in ("", "true", "false", "{{is_default_branch}}"), line
        if enable != "false":
            out.add(rule)
    return out


class TestBuildOptions:
    def test_build_args_target_and_labels_reach_the_build_through_the_row(self) -> None:
        image = {
            "name": "api",
            "buildArgs": {"VERSION": "1.2", "BASE": "alpine:3"},
            "target": "runtime",
            "labels": {"org.opencontainers.image.vendor": "ACME", "team": "payments"},
        }
        doc = wf(images=[image, {"name": "web"}])
        api, web = table_of(doc)
        assert api["buildArgs"].splitlines() == ["VERSION=1.2", "BASE=alpine:3"]
        assert api["target"] == "runtime"
        assert api["labels"].splitlines() == ["org.opencontainers.image.vendor=ACME", "team=payments"]
        assert not {"buildArgs", "target", "labels"} & set(web)
        job = build_job(doc)
        for id_ in ("build", "push", "retry"):
            inputs = step_id(job, id_)["with"]
            assert inputs["build-args"] == "${{ matrix.buildArgs }}", id_
            assert inputs["target"] == "${{ matrix.target }}", id_
            assert inputs["labels"] == "${{ steps.meta.outputs.labels }}", id_
        # metadata-action adds its own labels (title, source, revision, ...) to the image's.
        assert using(job, "docker/metadata-action")["with"]["labels"] == "${{ matrix.labels }}"
        built = using(
            build_job(pr(images=[image], workflow={"pullRequests": True})), "docker/build-push-action"
        )
        assert (built["with"]["build-args"], built["with"]["target"]) == (
            "${{ matrix.buildArgs }}",
            "${{ matrix.target }}",
        )

    def test_no_build_args_target_or_labels_unless_configured(self) -> None:
        doc = wf()
        assert not {"buildArgs", "target", "labels"} & set(table_of(doc)[0])
        job = build_job(doc)
        for id_ in ("build", "push", "retry"):
            assert not {"build-args", "target"} & set(step_id(job, id_)["with"]), id_
        assert "labels" not in using(job, "docker/metadata-action")["with"]

    @pytest.mark.parametrize("branch_builds", [True, False])
    def test_immutable_images_get_only_tags_that_never_move(self, branch_builds: bool) -> None:
        """In a stack of both kinds, the moving rules are switched off by the row's `immutable`:
        an immutable image gets the git tag, the full version and (on a branch run) `sha-`; a
        mutable one beside it keeps the branch, `major.minor` and `latest`."""
        workflow = {"tags": ["v*"], "branchBuilds": branch_builds}
        doc = wf(images=[TWO | {"immutableTags": True}, {"name": "web"}], workflow=workflow)
        rules = using(build_job(doc), "docker/metadata-action")["with"]["tags"]
        rows = table_of(doc)
        assert [bool(r.get("immutable")) for r in rows] == [True, True, False]
        moving = {"type=ref,event=branch", "type=semver,pattern={{major}}.{{minor}}", "type=raw,value=latest"}
        for ref_type in ("branch", "tag") if branch_builds else ("tag",):
            for r in rows:
                on = enabled_rules(rules, r, ref_type)
                if r.get("immutable"):
                    assert on <= NEVER_MOVE, (ref_type, on)
                    assert on >= {"type=ref,event=tag", "type=semver,pattern={{version}}"}
                elif ref_type == "branch":
                    assert on >= moving, (ref_type, on)
                else:
                    # A release tag's run moves no branch tag and no `latest` (not the head of a branch).
                    assert on >= {"type=semver,pattern={{major}}.{{minor}}"}, on
                # A release tag's run never pushes `sha-` where a branch run owns it, and an
                # immutable image of a tags-only stack never (a second tag of the commit would
                # push it again, as another image).
                sha = "type=sha" in on
                assert sha == (ref_type == "branch" or not (branch_builds or r.get("immutable"))), (
                    ref_type,
                    r,
                )
        one_kind = wf(images=[{"name": "api", "immutableTags": True}], workflow=workflow)
        rules = using(build_job(one_kind), "docker/metadata-action")["with"]["tags"]
        assert "matrix." not in rules, "one kind of image: no switch"
        for ref_type in ("branch", "tag"):
            assert enabled_rules(rules, table_of(one_kind)[0], ref_type) <= NEVER_MOVE

    def test_a_tags_only_stack_has_no_branch_trigger_and_refuses_a_branch_run(self) -> None:
        doc = wf(workflow={"tags": ["v*"], "branchBuilds": False})
        assert doc["on"]["push"] == {"tags": ["v*"]}
        assert list(doc["jobs"]) == ["release-tags-only", "changes", "build", "verify"]
        refuse = doc["jobs"]["release-tags-only"]
        assert refuse["if"] == "${{ github.event_name == 'workflow_dispatch' && github.ref_type != 'tag' }}"
        assert refuse["permissions"] == {}
        (step,) = refuse["steps"]
        assert step["env"] == {"PATTERNS": "v*", "WORKFLOW": "build-push.yml"}
        assert "::error::this stack builds from release tags only ($PATTERNS)" in step["run"]
        assert "gh workflow run $WORKFLOW --ref v1.2.3" in step["run"]


class TestFailureNotification:
    def test_notify_job_runs_after_every_job_only_on_failure(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        job = doc["jobs"]["notify-failure"]
        assert job["needs"] == ["changes", "build", "verify"]
        assert job["if"] == "${{ failure() }}"
        assert job["permissions"] == {}
        tags_only = wf(workflow={"tags": ["v*"], "branchBuilds": False, "notify": {"kind": "slack"}})
        assert tags_only["jobs"]["notify-failure"]["needs"] == [
            "release-tags-only",
            "changes",
            "build",
            "verify",
        ]

    def test_webhook_url_reaches_the_shell_only_through_env(self) -> None:
        job = wf(workflow={"notify": {"kind": "dingtalk", "secret": "DINGTALK_HOOK"}})["jobs"][
            "notify-failure"
        ]
        step = job_step(job, "notify")
        assert step["env"]["WEBHOOK_URL"] == "${{ secrets.DINGTALK_HOOK }}"
        assert step["env"]["KIND"] == "dingtalk"

    def test_notify_job_never_waits_for_an_environment(self) -> None:
        doc = wf(github={"environment": "prod"}, workflow={"notify": {"kind": "slack"}})
        assert "environment" not in doc["jobs"]["notify-failure"]


@pytest.mark.parametrize("name", GOLDEN)
def test_rendering_matches_its_golden_file(name: str) -> None:
    """Reviewed examples of the committed file (tests/golden/workflows): a safety net, not a guard."""
    assert_matches_golden(render(settings_for(**RENDERINGS[name])), f"workflows/{name}.yml")


def test_every_zizmor_suppression_says_why() -> None:
    for name, text in all_renderings().items():
        for line in text.splitlines():
            if "zizmor: ignore[" in line:
                reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                assert len(reason) > 10, f"{name}: suppression without a reason: {line.strip()}"


# --- the checkers, on every representative rendering ------------------------------------


@pytest.fixture(scope="module")
def workflow_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    target = root / ".github" / "workflows"
    target.mkdir(parents=True)
    for name, text in all_renderings().items():
        (target / f"{name}.yml").write_text(text)
    return target


def test_renderings_cover_every_fixture_stack(workflow_dir: Path) -> None:
    names = {p.stem for p in workflow_dir.iterdir()}
    assert {f"stack-{s}" for s in stack_names(FIXTURES)} <= names
    assert {f"{name}-by-tag" for name in BY_TAG} <= names
    assert len(names) >= len(RENDERINGS) + len(BY_TAG) + 2


def test_every_action_the_renderer_uses_is_linted_pinned_by_tag_too() -> None:
    """actionlint checks the inputs of an action pinned by tag only (the OIDC actions: test_oidc):
    every action any rendering uses, with every input it sets, is in a rendering pinned by tag."""

    def inputs(tagged: bool) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for name, doc in loaded_renderings().items():
            if tagged and "-by-tag" not in name:
                continue
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    if "uses" in step:
                        found.setdefault(step["uses"].split("@")[0], set()).update(step.get("with", {}))
        return found

    every, tagged = inputs(tagged=False), inputs(tagged=True)
    assert set(every) == set(tagged)
    for action, names in every.items():
        assert names <= tagged[action], (action, names - tagged[action])


def test_actionlint_with_shellcheck_zizmor_and_the_workflow_schema_find_nothing(workflow_dir: Path) -> None:
    """Every file under every checker; shellcheck reads each distinct `run:` script once (its
    findings depend on the script's text alone: values reach it through env)."""
    files = sorted(workflow_dir.iterdir())
    scripts: dict[str, Path] = {}
    for path in files:
        for job in load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                scripts.setdefault(step.get("run", ""), path)
    covering = sorted(set(scripts.values()))
    rest = [path for path in files if path not in covering]
    assert lint_workflows(*covering) + (lint_workflows(*rest, shellcheck=False) if rest else []) == []


def test_shellcheck_reads_every_script_as_a_file() -> None:
    found = subprocess.run(
        [tool("shellcheck"), "--shell=bash", *map(str, sorted(SCRIPTS.glob("*.sh")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout


# --- multi-arch images, one approval per release ---------------------------------------------


class TestNativeMultiArch:
    def test_each_platform_builds_natively_on_a_runner_of_its_architecture(self) -> None:
        doc = wf(images=[TWO])
        rows = table_of(doc)
        assert [r["platforms"] for r in rows] == [AMD64, ARM64]
        assert row_of(rows, "api", AMD64)["runner"] == "ubuntu-24.04"
        arm64 = row_of(rows, "api", ARM64)
        assert arm64["runner"] == "ubuntu-24.04-arm"
        assert "qemu" not in arm64
        job = build_job(doc)
        assert job["runs-on"] == "${{ matrix.runner }}"
        assert "docker/setup-qemu-action" not in uses_of(job)
        assert list(doc["jobs"]) == ["changes", "build", "verify"], "no gate, no job per platform"

    def test_a_reviewed_release_has_one_wave_of_jobs_that_declare_the_environment(self) -> None:
        """Every job that holds credentials needs only jobs that hold none: one approval."""
        github = {"environment": "production", "reviewers": {"teams": [1]}, "deploymentTags": ["v*"]}
        workflow = {"tags": ["v*"], "branchBuilds": False, "promote": {}}
        for images in ([TWO], [THREE, {"name": "web"}]):
            jobs = wf(images=images, github=github, workflow=workflow)["jobs"]
            reviewed = {job_id for job_id, job in jobs.items() if job.get("environment")}
            assert reviewed == {"build", "verify"}
            for job_id in reviewed:
                needs = jobs[job_id].get("needs", [])
                assert not set([needs] if isinstance(needs, str) else needs) & reviewed, job_id

    def test_two_platforms_of_one_architecture_are_two_builds(self) -> None:
        rows = table_of(wf(images=[{"name": "api", "platforms": [AMD64, "windows/amd64"]}]))
        assert [(r["platforms"], r["leg"], r["legs"]) for r in rows] == [
            (AMD64, 1, 2),
            ("windows/amd64", 2, 2),
        ]

    def test_the_builds_of_a_multi_build_image_push_by_digest_and_the_last_creates_it(self) -> None:
        doc = wf(images=[TWO])
        job = build_job(doc)
        image = "${{ vars.ALIYUN_REGISTRY }}/${{ vars[matrix.variable] }}"
        for id_, title in (("push", "Push by digest"), ("retry", "Push by digest (again)")):
            push = step_id(job, id_)
            assert push["name"] == title
            assert push["with"]["outputs"] == "type=image,push-by-digest=true,name-canonical=true,push=true"
            assert push["with"]["tags"] == image, "a name, no tag"
        upload = using(job, "actions/upload-artifact")["with"]
        assert upload["name"] == "digest.${{ matrix.key }}.${{ matrix.leg }}"
        assert upload["overwrite"] is True, "a re-run of the build replaces its digest"
        assert upload["if-no-files-found"] == "error"
        download = using(job, "actions/download-artifact")["with"]
        assert download == {
            "pattern": "digest.${{ matrix.key }}.*",
            "path": "${{ runner.temp }}/digests",
            "merge-multiple": True,
        }
        record = step_named(job, "Record the digest")
        assert record["env"]["DIGEST"] == "${{ steps.push.outputs.digest || steps.retry.outputs.digest }}"
        merge = job_step(job, "merge")
        assert merge["id"] == "merge"
        assert merge["env"]["IMAGE"] == image
        assert merge["env"]["LEGS"] == "${{ matrix.legs }}"
        assert merge["env"]["DIGESTS"] == download["path"]
        assert merge["env"]["TAGS"] == "${{ steps.meta.outputs.tags }}"
        order = [s["name"] for s in job["steps"]]
        assert order.index("Push by digest (again)") < order.index("Record the digest")
        assert order.index("Record the digest") < order.index(using(job, "actions/upload-artifact")["name"])
        assert order.index(using(job, "actions/download-artifact")["name"]) < order.index(merge["name"])
        # The digest recorded is the file uploaded: the build's leg, under the runner's temp.
        rows = table_of(doc)
        contexts = [{"matrix": r, "runner": {"temp": "/home/runner/work/_temp"}} for r in rows]
        paths = substitute([(upload["path"], c) for c in contexts])
        assert paths == [f"/home/runner/work/_temp/digest/{r['leg']}" for r in rows]
        assert record["env"]["LEG"] == "${{ matrix.leg }}"
        assert '"$RUNNER_TEMP/digest/$LEG"' in record["run"]
        summary = job_step(job, "summary")
        assert summary["if"] == "${{ steps.merge.outputs.merged == 'true' }}", (
            "once, by the build that created it"
        )
        assert summary["env"]["DIGEST"] == "${{ steps.merge.outputs.digest }}"
        assert (
            substitute([(summary["env"]["PLATFORMS"], {"matrix": r}) for r in rows])
            == ["linux/amd64, linux/arm64"] * 2
        )

    def test_every_build_of_an_image_gets_the_tags_a_single_build_would(self) -> None:
        native = using(build_job(wf(images=[TWO])), "docker/metadata-action")
        emulated = using(build_job(wf(images=[TWO], workflow={"emulate": True})), "docker/metadata-action")
        assert native == emulated

    def test_a_platform_without_a_native_runner_builds_under_qemu_on_the_amd64_runner(self) -> None:
        rows = table_of(wf(images=[THREE]))
        arm7 = row_of(rows, "api", "linux/arm/v7")
        assert (arm7["runner"], arm7.get("qemu"), arm7["legs"]) == ("ubuntu-24.04", True, 3)
        assert "qemu" not in row_of(rows, "api", ARM64)

    def test_runners_can_be_replaced_or_removed(self) -> None:
        runners = {AMD64: "self-hosted-x64", ARM64: None}
        doc = wf(images=[TWO], workflow={"runners": runners})
        rows = table_of(doc)
        assert {r["runner"] for r in rows} == {"self-hosted-x64"}
        assert row_of(rows, "api", ARM64).get("qemu") is True
        assert {job["runs-on"] for job_id, job in doc["jobs"].items() if job_id != "build"} == {
            "self-hosted-x64"
        }

    def test_emulate_keeps_one_qemu_build_per_image(self) -> None:
        doc = wf(images=[THREE], workflow={"emulate": True})
        (row,) = table_of(doc)
        assert row["platforms"] == "linux/amd64, linux/arm64, linux/arm/v7"
        assert (row["runner"], row["qemu"]) == ("ubuntu-24.04", True)
        assert not {"leg", "legs", "all"} & set(row), "one build: pushed under its tags"
        assert step_id(build_job(doc), "push")["with"]["push"] is True

    def test_a_single_platform_image_builds_on_a_runner_of_its_architecture(self) -> None:
        (arm64,) = table_of(wf(images=[{"name": "api", "platforms": [ARM64]}]))
        assert arm64["runner"] == "ubuntu-24.04-arm"
        assert "qemu" not in arm64
        (arm7,) = table_of(wf(images=[{"name": "api", "platforms": ["linux/arm/v7"]}]))
        assert (arm7["runner"], arm7["qemu"]) == ("ubuntu-24.04", True)
        (amd64,) = table_of(wf())
        assert "qemu" not in amd64

    def test_emulate_builds_even_a_single_arm64_image_under_qemu_on_the_amd64_runner(self) -> None:
        (row,) = table_of(wf(images=[{"name": "api", "platforms": [ARM64]}], workflow={"emulate": True}))
        assert (row["runner"], row["qemu"]) == ("ubuntu-24.04", True)


@pytest.mark.parametrize(
    "names",
    [
        ("api", "api-v2", "api.v3", "api/v4", "api_v5"),
        ("api", "api.v2"),
        ("api.v2", "api", "api-v2x"),
    ],
)
def test_one_images_digest_artifacts_never_meet_anothers(names: tuple[str, ...]) -> None:
    """A build collects the digests of its image's builds by an artifact pattern: it matches the
    names its image's builds upload under and no other image's. (`api-v2` and `api.v2` cannot
    share a stack: their job ids, and variables, would be one.)"""
    images = [{"name": name, "platforms": [AMD64, ARM64]} for name in names]
    images.append({"name": "solo"})
    doc = wf(images=images)
    job, rows = build_job(doc), table_of(doc)
    upload = using(job, "actions/upload-artifact")["with"]["name"]
    download = using(job, "actions/download-artifact")["with"]["pattern"]
    uploaded = substitute([(upload, {"matrix": r}) for r in rows])
    patterns = substitute([(download, {"matrix": r}) for r in rows])
    assert len(set(uploaded)) == len(rows), "each build its own artifact"
    for r, pattern in zip(rows, patterns, strict=True):
        own = {name for other, name in zip(rows, uploaded, strict=True) if other["image"] == r["image"]}
        assert {name for name in uploaded if fnmatch.fnmatchcase(name, pattern)} == own, (pattern, r["image"])
        assert len(own) == r["legs"]


class TestTimeoutsAndRetries:
    def test_no_job_in_any_rendering_lacks_a_timeout_and_none_runs_on_latest(self) -> None:
        for name, doc in loaded_renderings().items():
            for job_id, job in doc["jobs"].items():
                assert isinstance(job.get("timeout-minutes"), int), f"{name}: {job_id}"
                assert "latest" not in str(job["runs-on"]), f"{name}: {job_id}"
            assert all("latest" not in r["runner"] for r in table_of(doc)), name

    def test_timeouts_are_per_job_kind_and_configurable(self) -> None:
        jobs = wf(
            images=[TWO], workflow={"timeoutMinutes": {"build": 90, "verify": 7}, "notify": {"kind": "slack"}}
        )["jobs"]
        assert jobs["changes"]["timeout-minutes"] == 10
        assert jobs["build"]["timeout-minutes"] == 90
        assert jobs["verify"]["timeout-minutes"] == 7
        assert jobs["notify-failure"]["timeout-minutes"] == 5
        refuse = wf(workflow={"tags": ["v*"], "branchBuilds": False, "timeoutMinutes": {"notify": 3}})["jobs"]
        assert refuse["release-tags-only"]["timeout-minutes"] == 3

    @pytest.mark.parametrize("images", [[{"name": "api"}], [TWO]])
    def test_a_push_is_retried_once_after_a_pause(self, images: list[dict[str, Any]]) -> None:
        job = build_job(wf(images=images))
        first, again = step_id(job, "push"), step_id(job, "retry")
        pause = step_named(job, "Pause before pushing again")
        names = [s["name"] for s in job["steps"]]
        assert names.index(first["name"]) + 1 == names.index(pause["name"]) == names.index(again["name"]) - 1
        assert first["continue-on-error"] is True
        assert "continue-on-error" not in again, "the second failure fails the build"
        assert pause["if"] == again["if"] == "${{ steps.push.outcome == 'failure' }}"
        assert first["with"] == again["with"]
        assert pause["run"] == "sleep 30"
        # The same inputs as the build (all in BuildKit's cache by then), without writing it.
        built = step_id(job, "build")["with"]
        assert {k: v for k, v in built.items() if not k.startswith("cache-")} == {
            k: v for k, v in first["with"].items() if k not in ("tags", "push", "outputs")
        }

    def test_the_merge_retries_after_the_pushs_pause_and_a_promotion_creates_nothing_itself(self) -> None:
        job = build_job(wf(images=[TWO], workflow={"tags": ["v*"], "promote": {}}))
        assert job_step(job, "merge")["env"]["RETRY_PAUSE"] == "30"
        assert "RETRY_PAUSE" not in job_step(job, "promote")["env"]
        assert "imagetools create" not in job_step(job, "promote")["run"]


class TestImmutableTags:
    def test_a_release_tag_run_never_pushes_the_sha_tag_the_branch_run_owns(self) -> None:
        meta = using(build_job(wf(images=[{"name": "api", "immutableTags": True}])), "docker/metadata-action")
        (sha,) = [r for r in meta["with"]["tags"].splitlines() if r.startswith("type=sha")]
        assert sha == "type=sha,enable=${{ github.ref_type != 'tag' }}"

    def test_an_immutable_image_goes_by_digest_so_that_a_rerun_finds_its_tags(self) -> None:
        """merge.sh succeeds where every tag already exists (a re-run, or another build first)."""
        doc = wf(images=[{"name": "api", "immutableTags": True}, {"name": "web"}])
        rows = table_of(doc)
        assert [(r.get("immutable"), r["leg"], r["legs"]) for r in rows] == [(True, 1, 1), (None, 1, 1)]
        merge = job_step(build_job(doc), "merge")
        assert substitute([(merge["env"]["IMMUTABLE"], {"matrix": r}) for r in rows]) == ["true", "false"]
        assert step_id(build_job(doc), "push")["name"] == "Push by digest"


class TestTagsOnlyStacks:
    def test_a_stack_without_branch_builds_tags_its_release_images_with_their_commit(self) -> None:
        """No branch run owns `sha-` there, and a later stack's promotion looks for it."""
        tags = using(
            build_job(wf(workflow={"tags": ["v*"], "branchBuilds": False})), "docker/metadata-action"
        )
        assert "type=sha" in tags["with"]["tags"].splitlines()
        with_branches = using(build_job(wf(workflow={"tags": ["v*"]})), "docker/metadata-action")
        assert "type=sha" not in with_branches["with"]["tags"].splitlines()

    def test_an_immutable_repository_of_a_tags_only_stack_gets_no_sha_tag_on_release_runs(self) -> None:
        """A second release tag of the same commit would push `sha-` again, as another image."""
        image = {"name": "api", "immutableTags": True}
        doc = wf(images=[image], workflow={"tags": ["v*"], "branchBuilds": False})
        rules = using(build_job(doc), "docker/metadata-action")["with"]["tags"]
        assert "type=sha" not in enabled_rules(rules, table_of(doc)[0], "tag")


PROMOTE: dict[str, Any] = {"tags": ["v*"], "promote": {"fromNamespaces": ["acme-staging"]}}


class TestPromote:
    def test_every_build_of_a_release_looks_for_the_commits_image_here_then_in_the_named_namespace(
        self,
    ) -> None:
        doc = wf(images=[TWO], workflow=PROMOTE)
        job = build_job(doc)
        step = job_step(job, "promote")
        assert step["id"] == "promote"
        assert step["if"] == "${{ github.ref_type == 'tag' }}"
        assert step["env"] == {
            "IMAGE": "${{ vars.ALIYUN_REGISTRY }}/${{ vars[matrix.variable] }}",
            "NAME": "${{ matrix.image }}",
            "REGISTRY": "${{ vars.ALIYUN_REGISTRY }}",
            "NAMESPACES": "acme-staging\n",
            "PATHSPECS": "${{ matrix.pathspecs }}",
            "PLATFORMS": "${{ matrix.all || matrix.platforms }}",
            "BUILD": "true",
            "HISTORY": "50",
        }
        rows = table_of(doc)
        for r in rows:
            assert r["pathspecs"].splitlines() == [":(glob)api/**", ":(glob).github/workflows/build-push.yml"]
        assert "pathspecs" not in table_of(wf(images=[TWO]))[0], "only with workflow.promote"
        assert (
            job_step(build_job(wf(workflow={"tags": ["v*"], "promote": {}})), "promote")["env"]["NAMESPACES"]
            == ""
        )

    def test_promotion_fetch_depth_only_on_tags(self) -> None:
        """The checkout fetches the commits the promotion compares on a release tag, and only the
        commit on a branch run; the script looks back as far as the checkout fetched."""
        job = build_job(wf(workflow=PROMOTE))
        checkout = using(job, "actions/checkout")["with"]
        values = substitute(
            [(checkout["fetch-depth"], {"github": {"ref_type": t}}) for t in ("tag", "branch")]
        )
        step = job_step(job, "promote")
        assert values == [step["env"]["HISTORY"], "1"] == ["50", "1"]
        assert '--max-count="$HISTORY"' in step["run"]
        assert (
            "fetch-depth" not in using(build_job(wf(workflow={"tags": ["v*"]})), "actions/checkout")["with"]
        )

    def test_a_build_that_found_the_image_builds_nothing_and_what_any_build_found_is_released(self) -> None:
        """One decision per image, not per build: every build publishes what it has (its digest,
        or the image it found and that image's tag) and the build that creates the image releases
        what any of them found. So a build that found nothing while another found the image (a
        branch run pushing sha- meanwhile) cannot leave the release half made."""
        job = build_job(wf(images=[TWO], workflow=PROMOTE))
        names = [s["name"] for s in job["steps"]]
        promote = job_step(job, "promote")
        after = job["steps"][names.index(promote["name"]) + 1 :]
        assert names.index(promote["name"]) == names.index(using(job, "docker/metadata-action")["name"]) + 1
        skipped = "${{ steps.promote.outputs.promoted != 'true' }}"
        assert [s["name"] for s in after if s.get("if") == skipped] == ["Build", "Push by digest"]
        assert step_id(job, "retry")["if"] == "${{ steps.push.outcome == 'failure' }}"
        record = next(s for s in job["steps"] if s["name"] == "Record the digest")
        assert "if" not in record, "a build that found the image publishes it"
        assert '"$DIGEST" "$RELEASED"' in record["run"]
        found = {
            "promote": {"outputs": {"promoted": "true", "digest": "sha256:f", "released": "r/api:sha-1"}}
        }
        built = {"promote": {"outputs": {"promoted": "false"}}, "push": {"outputs": {"digest": "sha256:b"}}}
        values = substitute(
            [(record["env"][k], {"steps": s}) for s in (found, built) for k in ("DIGEST", "RELEASED")]
        )
        assert values == ["sha256:f", "r/api:sha-1", "sha256:b", ""]
        merge = job_step(job, "merge")
        assert "if" not in merge
        assert merge["env"]["REVISION"] == "${{ github.sha }}"
        summary = job_step(job, "summary")
        assert summary["env"]["RELEASED"] == "${{ steps.merge.outputs.released }}"
        assert summary["if"] == "${{ steps.merge.outputs.merged == 'true' }}"
        assert table_of(wf(workflow={"tags": ["v*"], "promote": {}}))[0]["legs"] == 1, (
            "promotion goes by digest"
        )

    def test_building_can_be_switched_off(self) -> None:
        off = build_job(wf(workflow={"tags": ["v*"], "promote": {"build": False}}))
        assert job_step(off, "promote")["env"]["BUILD"] == "false"
        on = build_job(wf(workflow={"tags": ["v*"], "promote": {}}))
        assert job_step(on, "promote")["env"]["BUILD"] == "true"

    def test_promotion_needs_release_tags(self) -> None:
        with pytest.raises(ConfigError, match=r"workflow.promote.*workflow.tags"):
            settings_for(workflow={"promote": {}})


class TestSigning:
    SIGNED: ClassVar[dict[str, Any]] = RENDERINGS["signed-promotion"]

    def test_only_the_build_job_that_signs_gets_an_id_token_and_a_pull_request_never_signs(self) -> None:
        s = settings_for(**self.SIGNED)
        doc = load(render(s))
        tokens = {j for j, job in doc["jobs"].items() if "id-token" in job.get("permissions", {})}
        assert tokens == {"build"}, "a password stack: the token is for cosign alone"
        pull_requests = render_pull_requests(s)
        assert "cosign" not in pull_requests
        assert "id-token" not in pull_requests
        unsigned = render(settings_for(**{**self.SIGNED, "workflow": {"tags": ["v*"]}}))
        assert "cosign" not in unsigned
        assert "id-token" not in unsigned

    def test_the_build_that_finished_the_image_signs_it_by_digest_never_by_a_tag(self) -> None:
        job = build_job(wf(**self.SIGNED))
        names = [s["name"] for s in job["steps"]]
        install = using(job, "sigstore/cosign-installer")
        signing = job_step(job, "sign")
        assert names.index(job_step(job, "merge")["name"]) < names.index(install["name"])
        assert names.index(install["name"]) + 1 == names.index(signing["name"])
        finished = "${{ steps.merge.outputs.merged == 'true' }}"
        assert install["if"] == signing["if"] == finished, "once per image: the build that created it"
        assert signing["env"]["IMAGE"] == "${{ vars.ALIYUN_REGISTRY }}/${{ vars[matrix.variable] }}"
        assert signing["env"]["DIGEST"] == "${{ steps.merge.outputs.digest }}"
        assert '"$IMAGE@$DIGEST"' in signing["run"]
        assert "--new-bundle-format=false --use-signing-config=false" in signing["run"], (
            "a .sig tag ACR takes"
        )
        direct = build_job(wf(workflow={"sign": True}))
        assert job_step(direct, "sign")["env"]["DIGEST"] == (
            "${{ steps.push.outputs.digest || steps.retry.outputs.digest }}"
        )

    @pytest.mark.parametrize(
        ("workflow", "san", "trusted"),
        [
            ({"sign": True}, "build-push.yml@refs/heads/main", True),
            ({"sign": True}, "build-push.yml@refs/heads/feature", False),
            ({"sign": True}, "build-push.yml@refs/tags/v1.2.3", False),
            ({"sign": True, "tags": ["v*"]}, "build-push.yml@refs/tags/v1.2.3", True),
            ({"sign": True, "tags": ["v*"], "branchBuilds": False}, "build-push.yml@refs/heads/main", False),
            ({"sign": True}, "other.yml@refs/heads/main", False),
            ({"sign": True}, "build-push.yml@refs/heads/main/evil", False),
        ],
    )
    def test_the_identity_a_signature_must_carry_is_this_workflow_of_this_repository_on_its_refs(
        self, workflow: dict[str, Any], san: str, trusted: bool
    ) -> None:
        """The keyless certificate's SAN is https://github.com/<owner>/<repo>/.github/workflows/
        <file>@<ref> (Fulcio); the verify run checks it against this stack's workflow file on its
        branch and its release tags, anchored on both ends."""
        verify = wf(workflow=workflow)["jobs"]["verify"]
        step = job_step(verify, "signatures")
        assert step["env"]["ISSUER"] == "https://token.actions.githubusercontent.com"
        identity = re.compile(step["env"]["IDENTITY"])
        assert bool(identity.fullmatch(f"https://github.com/acme/shop/.github/workflows/{san}")) is trusted
        assert not identity.fullmatch(f"https://github.com/acme/shop-fork/.github/workflows/{san}")
        assert using(verify, "sigstore/cosign-installer")
        assert "id-token" not in verify["permissions"], "verifying needs no token"

    def test_a_promotion_checks_the_sources_signature_for_the_tagged_commit(self) -> None:
        step = job_step(build_job(wf(**self.SIGNED)), "promote")
        assert step["env"]["SIGNED"] == "true"
        assert step["env"]["ISSUER"] == "https://token.actions.githubusercontent.com"
        own, shared = re.compile(step["env"]["OWN"]), re.compile(step["env"]["SHARED"])
        base = "https://github.com/acme/shop/.github/workflows/"
        assert own.fullmatch(f"{base}build-push.yml@refs/heads/main")
        assert not own.fullmatch(f"{base}build-push-staging.yml@refs/heads/main")
        assert shared.fullmatch(f"{base}build-push-staging.yml@refs/tags/v1.0.0-rc.1")
        assert not shared.fullmatch("https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main")
        assert '--certificate-github-workflow-sha "$commit"' in step["run"]
        assert (
            "SHARED"
            not in job_step(build_job(wf(workflow={"tags": ["v*"], "sign": True, "promote": {}})), "promote")[
                "env"
            ]
        )


class TestVerifyRun:
    def test_it_logs_in_as_the_builds_do_and_keeps_going_to_say_what_failed(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], github={"environment": "production"})
        job = doc["jobs"]["verify"]
        assert job["if"] == "${{ github.event_name == 'workflow_dispatch' && inputs.verify }}"
        assert job["environment"] == "production"
        login = using(job, "docker/login-action")
        assert login["with"] == using(build_job(doc), "docker/login-action")["with"]
        assert login["continue-on-error"] is True
        step = job_step(job, "verify")
        assert step["env"]["LOGIN"] == "${{ steps.login.outcome }}"
        assert step["env"]["IMAGES"].splitlines() == [
            "api\t${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}",
            "web\t${{ vars.ALIYUN_REGISTRY }}/${{ vars.WEB_IMAGE_NAME }}",
        ]

    def test_it_pushes_and_builds_nothing(self) -> None:
        for name, doc in loaded_renderings().items():
            if renderings()[name].pull_requests:
                continue
            job = doc["jobs"]["verify"]
            assert not {"docker/build-push-action", "actions/checkout", "actions/upload-artifact"} & set(
                uses_of(job)
            ), name
            assert "imagetools create" not in str(job), name

    def test_with_oidc_a_failed_login_shows_the_claims_beside_the_subjects_the_role_admits(self) -> None:
        s = settings_for(**OIDC, workflow={"tags": ["v*"]})
        job = load(render(s))["jobs"]["verify"]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        diagnose = job_step(job, "oidc-claims")
        assert diagnose["env"]["SUBJECTS"].splitlines() == [
            "repo:acme/shop:ref:refs/heads/main",
            "repo:acme/shop:ref:refs/tags/v*",
        ], "what the role's trust policy admits (tests/test_oidc.py reads it from the role)"
        assert diagnose["env"]["AUDIENCE"] == "sts.aliyuncs.com"
        assert "steps.aliyun.outcome == 'failure'" in diagnose["if"]
        assert not [st for st in wf()["jobs"]["verify"]["steps"] if st.get("run") == script("oidc-claims")]


# --- however many images: one copy of every step ------------------------------------------------

PER_IMAGE_VALUES = ("BUILDS", "FILTERS", "IMAGES")
"""The env values that hold a line per image (build): the table, the path filters, verify's list."""


def without_images(doc: dict[str, Any]) -> dict[str, Any]:
    """The workflow less its lines per image (`PER_IMAGE_VALUES`)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "<images>" if k in PER_IMAGE_VALUES else strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    stripped: dict[str, Any] = strip(doc)
    return stripped


def image_line(line: str) -> bool:
    """A line of one of the per-image values: a row, a filter, or verify's image line."""
    text = line.strip()
    return bool(
        text.startswith('{"image": ')
        or re.fullmatch(r"img\d+ [+-] \S+", text)
        or re.fullmatch(r"img\d+\t\$\{\{ vars.ALIYUN_REGISTRY \}\}/\$\{\{ vars.IMG\d+_IMAGE_NAME \}\}", text)
    )


SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "single-arch, pull requests": lambda n: {
        "images": [{"name": f"img{i}"} for i in range(n)],
        "workflow": {"pullRequests": True},
    },
    "multi-arch, promote, notify": lambda n: {
        "images": [
            {"name": f"img{i}", "platforms": [AMD64, ARM64], "buildArgs": {"V": "1"}} for i in range(n)
        ],
        "workflow": {"tags": ["v*"], "promote": {}, "notify": {"kind": "slack"}, "pullRequests": True},
    },
    "prod": lambda n: {**PROD_SHAPE, "images": prod_images(n)},
    "keyless, emulated": lambda n: {
        **OIDC,
        "images": [{"name": f"img{i}", "platforms": [AMD64, ARM64]} for i in range(n)],
        "workflow": {"emulate": True},
    },
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_step_sequence_and_each_script_appears_once_however_many_images(shape: str) -> None:
    """1, 2 and 10 images of one shape: the same jobs with the same steps, each script run by as
    many steps (at most one a job); the file grows only by lines of the table, the filters and
    verify's list, at most 20 lines and 1 KB per further image."""
    counts = (1, 2, 10)
    per_count = [settings_for(**SHAPES[shape](n)) for n in counts]
    for kind, draw in (("build-push", render), ("pull-requests", render_pull_requests)):
        if kind == "pull-requests" and not per_count[0].workflow.pull_requests:
            continue
        texts = [draw(settings) for settings in per_count]
        docs = [load(text) for text in texts]
        assert without_images(docs[1]) == without_images(docs[0]) == without_images(docs[2]), kind
        scripts = {p.stem: script(p.stem) for p in SCRIPTS.glob("*.sh")}
        for doc in docs:
            ran = Counter(
                (job_id, name)
                for job_id, job in doc["jobs"].items()
                for step in job["steps"]
                for name, text in scripts.items()
                if step.get("run") == text
            )
            assert max(ran.values(), default=1) == 1, ran
            assert ran == Counter(
                (job_id, name)
                for job_id, job in docs[0]["jobs"].items()
                for step in job["steps"]
                for name, text in scripts.items()
                if step.get("run") == text
            )
        for fewer, more in itertools.pairwise(texts):
            lines = difflib.SequenceMatcher(None, fewer.splitlines(), more.splitlines(), autojunk=False)
            for tag, _, _, start, end in lines.get_opcodes():
                assert tag in ("equal", "insert"), (kind, tag)
                added = more.splitlines()[start:end] if tag == "insert" else []
                assert all(image_line(line) for line in added), (
                    kind,
                    [a for a in added if not image_line(a)],
                )
        for (fewer_images, fewer), (more_images, more) in itertools.pairwise(zip(counts, texts, strict=True)):
            further = more_images - fewer_images
            assert len(more.splitlines()) - len(fewer.splitlines()) <= 20 * further, kind
            assert len(more.encode()) - len(fewer.encode()) <= 1024 * further, kind


def test_the_prod_shape_with_two_images_is_at_most_500_lines() -> None:
    text = render(settings_for(**PROD_SHAPE, images=prod_images(2, ["api", "worker"])))
    assert len(text.splitlines()) <= 500


def test_thirty_images_are_under_100_kb() -> None:
    for shape in ("prod", "multi-arch, promote, notify"):
        settings = settings_for(**SHAPES[shape](30))
        assert len(render(settings).encode()) < 100 * 1024, shape
        if settings.workflow.pull_requests:
            assert len(render_pull_requests(settings).encode()) < 100 * 1024, shape


def test_the_dev_shape_both_files_together_are_at_most_400_lines() -> None:
    settings = settings_for(**DEV_SHAPE)
    assert len(render(settings).splitlines()) + len(render_pull_requests(settings).splitlines()) <= 400


# --- what jobs read is what they write ----------------------------------------------------------


def _expressions(value: Any) -> list[str]:
    """Every `${{ ... }}` expression in a job's part (nested values too), in order."""
    if isinstance(value, dict):
        return [e for v in value.values() for e in _expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in _expressions(v)]
    return expressions(value) if isinstance(value, str) else []


def test_every_output_read_is_one_a_step_or_job_writes() -> None:
    """`steps.X.outputs.Y` names a step of the job with id X whose script writes Y (an action's
    outputs are the action's), and `steps.X.outcome` a step with id X; `needs.J.outputs.Y` names
    a job J that declares output Y. A typo in any reads as an empty string, which no job-level
    test would notice."""
    checked = 0
    for name, doc in loaded_renderings().items():
        for key, job in doc["jobs"].items():
            steps = {s["id"]: s for s in job.get("steps", []) if "id" in s}
            for expression in _expressions(job):
                for step_id_ in re.findall(r"\bsteps\.([\w-]+)\.(?:outcome|conclusion)\b", expression):
                    assert step_id_ in steps, f"{name}: {key} reads steps.{step_id_}, which is no step of it"
                    checked += 1
                for step_id_, output in re.findall(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert step_id_ in steps, f"{name}: {key} reads steps.{step_id_}, which is no step of it"
                    run = steps[step_id_].get("run")
                    assert run is None or re.search(rf"\b{output}=", run), (
                        f"{name}: {key}.{step_id_} writes no {output}"
                    )
                    checked += 1
                for needed, output in re.findall(r"\bneeds\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert needed in job.get("needs", []), (
                        f"{name}: {key} reads {needed}, which it does not need"
                    )
                    assert output in doc["jobs"][needed].get("outputs", {}), (
                        f"{name}: {needed} has no {output}"
                    )
                    checked += 1
    assert checked > 50, "the renderings read outputs"
