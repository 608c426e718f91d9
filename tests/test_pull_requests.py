"""Pull-request builds (`workflow.pullRequests`): a second committed workflow that builds the
images a pull request changes, holding no credential at all, each as its push would (the same
rows of the same table); its builds' checks keep the names they had before the images became
rows, and one check, `All image builds`, says whether every build the pull request needed passed;
one stack per repository owns it; a hand-made one is taken over with `adopt` like build-push.
(Which jobs run: test_job_graph.py; its change detection, run: test_scripts.py; its checkers:
test_workflow_render.py.)"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components import stackfile
from components.config import ConfigError
from components.settings import Image, Settings
from components.workflow_render import render, render_pull_requests
from tests.conftest import FIXTURES, OIDC, SECRET_KEYS, config, encode, job_step, run_for, settings_for, tool
from tests.jobgraph import RESULTS, Case, evaluate, simulate
from tests.world import Registry, World
from tools import check_stacks
from tools.tokens import FILE, VARIABLE

PR = ".github/workflows/only-build.yml"
TWO: dict[str, Any] = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}
THREE: dict[str, Any] = {"name": "api", "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7"]}
ON: dict[str, Any] = {"pullRequests": True}
CHECK = "All image builds"
"""The one check a team requires (the aggregate job's name): written here, not imported, so that
renaming it in the renderer fails a test (branch protection would wait for the old name)."""
EMBEDDED = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(text: str) -> dict[str, Any]:
    return YAML(typ="safe").load(text)  # type: ignore[no-any-return]


def pr_workflow(**overrides: Any) -> tuple[str, dict[str, Any]]:
    text = render_pull_requests(settings_for(**overrides))
    return text, load(text)


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action)]


def table_rows(changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the table a rendered `changes` job carries (its `BUILDS`, JSON lines)."""
    return [json.loads(line) for line in changes["env"]["BUILDS"].splitlines()]


def as_expression(value: str) -> str:
    """The one expression GitHub evaluates for a value holding `${{ }}`: the expression itself when
    it is the whole value, else `format()` of the text around each (as GitHub's workflow parser
    rewrites `Build ${{ matrix.image }}` into `format('Build {0}', matrix.image)`)."""
    parts = EMBEDDED.split(value)
    if len(parts) == 3 and parts[0] == parts[2] == "":
        return parts[1]
    literal = "".join(
        f"{{{index // 2}}}" if index % 2 else part.replace("{", "{{").replace("}", "}}")
        for index, part in enumerate(parts)
    ).replace("'", "''")
    arguments = parts[1::2]
    return f"format('{literal}', {', '.join(arguments)})" if arguments else f"'{literal}'"


def per_row(values: Mapping[str, str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of `values` (a name, an input: text with `${{ }}`) as GitHub evaluates it for each row
    of the table as `matrix`, one dict per row, by GitHub's evaluator (one node process)."""
    names = list(values)
    answers = iter(
        evaluate([(as_expression(values[name]), {"matrix": row}) for row in rows for name in names])
    )
    return [{name: next(answers) for name in names} for _ in rows]


def builds_before_the_redesign(settings: Settings) -> list[tuple[Image, str]]:
    """Each build as it was when it was a job of its own: its image and platforms (`, ` between),
    one per platform of a multi-arch image, one for an image built once (a single platform, or
    every platform under QEMU with `workflow.emulate`)."""
    builds = []
    for image in settings.images:
        once = settings.workflow.emulate or len(image.platforms) == 1
        for platforms in [image.platforms] if once else [(platform,) for platform in image.platforms]:
            builds.append((image, ", ".join(platforms)))
    return builds


def names_before_the_redesign(settings: Settings) -> list[str]:
    """The build checks' names then, which teams made required checks: `Build <image> (<platforms>)`."""
    return [f"Build {image.name} ({shown})" for image, shown in builds_before_the_redesign(settings)]


RENDERINGS: list[dict[str, Any]] = [
    {"workflow": ON},
    {"workflow": ON, "images": [TWO, {"name": "web", "context": "frontend"}]},
    {"workflow": ON, **OIDC},
    {"workflow": ON, "github": {"environment": "production"}},
    {
        "workflow": {
            **ON,
            "tags": ["v*"],
            "promote": {"fromNamespaces": ["acme-staging"]},
            "notify": {"kind": "slack"},
            "attestations": True,
        },
        "github": {"environment": "production"},
        "images": [{**TWO, "immutableTags": True, "labels": {"team": "shop"}}, {"name": "web"}],
    },
    {"workflow": {**ON, "emulate": True, "branchBuilds": False, "tags": ["v*"]}, "images": [THREE]},
]
"""Stacks whose build-push holds each kind of credential (a login's secrets, OIDC, an environment,
a webhook's secret, a promotion's registry login) and builds of each shape."""


@pytest.mark.parametrize(
    "overrides",
    RENDERINGS,
    ids=["one-image", "multi-arch", "oidc", "environment", "promote-notify-immutable", "tags-only-emulated"],
)
def test_it_holds_no_credential_of_any_kind(overrides: dict[str, Any]) -> None:
    text, doc = pr_workflow(**overrides)
    for forbidden in (
        "secrets.",
        "id-token",
        "pull_request_target",
        "login-action",
        "acr-login",
        "aliyun",
        "vars.",
    ):
        assert forbidden not in text, forbidden
    assert list(doc["on"]) == ["pull_request"]
    assert doc["permissions"] == {"contents": "read"}
    for job_id, job in doc["jobs"].items():
        assert "environment" not in job, job_id
        # Nothing beyond reading the repository (the aggregate check asks for nothing at all).
        assert set(job.get("permissions", {}).items()) <= {("contents", "read")}, job_id
        assert isinstance(job["timeout-minutes"], int), job_id
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job_id
            if step.get("uses", "").startswith("docker/build-push-action@"):
                assert step["with"]["push"] is False, job_id
                assert "cache-to" not in step["with"], "it reads the stack's cache and writes none"
                assert "outputs" not in step["with"], "nor exports the image anywhere"


def test_it_builds_on_pull_requests_to_the_branch_and_cancels_superseded_runs() -> None:
    _, doc = pr_workflow(workflow=ON, github={"branch": "trunk"})
    assert doc["on"] == {"pull_request": {"branches": ["trunk"]}}
    assert doc["concurrency"] == {
        "group": "${{ github.workflow }}-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }


def header(text: str) -> str:
    """The comment a workflow file starts with, its lines joined."""
    lines = itertools.takewhile(lambda line: line.startswith("#"), text.splitlines())
    return " ".join(line.removeprefix("# ") for line in lines)


def test_its_header_says_it_is_managed_pushes_nothing_and_names_the_check_to_require() -> None:
    s = settings_for(stack="prod", workflow=ON)
    text = render_pull_requests(s)
    said, pushs = header(text), header(render(s))
    assert pushs.startswith("Managed by acr-pipeline (Pulumi stack 'prod'): edit the stack config and run")
    assert said.startswith(f"{pushs} "), "managed as build-push is, said in the same words"
    rest = said.removeprefix(pushs)
    assert "Builds pull requests, pushes nothing." in rest
    (required,) = re.findall(r"require the check '([^']+)'", rest)
    assert required == load(text)["jobs"]["builds"]["name"] == CHECK, "the check it names is the aggregate's"


@pytest.mark.parametrize(
    ("images", "workflow"),
    [
        ([{"name": "api"}], {}),
        ([TWO, {"name": "web", "context": "frontend"}], {}),
        ([THREE], {"emulate": True}),
        ([TWO], {"runners": {"linux/arm64": None}}),
        ([{"name": "arm", "platforms": ["linux/arm64"]}], {}),
        (
            [
                {"name": "agent/client", "platforms": ["linux/amd64", "linux/arm64"]},
                {"name": "web.app", "platforms": ["linux/amd64", "linux/arm/v7"]},
                {"name": "2d"},
            ],
            {},
        ),
        (
            [{"name": "agent/client", "platforms": ["linux/amd64", "linux/arm64"]}, {"name": "2d"}],
            {"emulate": True},
        ),
    ],
    ids=[
        "one-platform",
        "multi-arch-and-one",
        "emulated",
        "no-runner-for-arm",
        "arm-only",
        "names-that-are-not-keys",
        "names-that-are-not-keys-emulated",
    ],
)
def test_each_builds_check_keeps_the_name_it_had_before_the_images_became_rows(
    images: list[dict[str, Any]], workflow: dict[str, Any]
) -> None:
    """The names a team made required checks of: the build job's `name:` as GitHub evaluates it
    for each row of the table (the image's name, not its key; its platforms, `, ` between)."""
    s = settings_for(images=images, workflow={**ON, **workflow})
    jobs = load(render_pull_requests(s))["jobs"]
    named = per_row({"name": jobs["build"]["name"]}, table_rows(jobs["changes"]))
    assert [leg["name"] for leg in named] == names_before_the_redesign(s)


@pytest.mark.parametrize(
    ("images", "workflow", "legs"),
    [
        (
            [TWO],
            {},
            [
                ("ubuntu-24.04", False, "linux/amd64", "type=gha,scope=dev+api+linux/amd64"),
                ("ubuntu-24.04-arm", False, "linux/arm64", "type=gha,scope=dev+api+linux/arm64"),
            ],
        ),
        (
            [TWO],
            {"runners": {"linux/arm64": None}},
            [
                ("ubuntu-24.04", False, "linux/amd64", "type=gha,scope=dev+api+linux/amd64"),
                ("ubuntu-24.04", True, "linux/arm64", "type=gha,scope=dev+api+linux/arm64"),
            ],
        ),
        (
            [TWO],
            {"emulate": True},
            [("ubuntu-24.04", True, "linux/amd64, linux/arm64", "type=gha,scope=dev+api")],
        ),
        (
            [{"name": "api"}],
            {"emulate": True},
            [("ubuntu-24.04", False, "linux/amd64", "type=gha,scope=dev+api")],
        ),
    ],
    ids=["native-per-platform", "no-runner-for-arm", "emulated", "amd64-emulated"],
)
def test_every_build_runs_on_its_runner_under_qemu_only_off_its_architecture_reading_the_stacks_cache(
    images: list[dict[str, Any]], workflow: dict[str, Any], legs: list[tuple[str, bool, str, str]]
) -> None:
    _, doc = pr_workflow(workflow={**ON, **workflow}, images=images)
    build = doc["jobs"]["build"]
    (built,) = _uses(build, "docker/build-push-action")
    qemu = [step["if"] for step in _uses(build, "docker/setup-qemu-action")] or ["${{ false }}"]
    values = {"runs-on": build["runs-on"], "qemu": qemu[0], **built["with"]}
    found = per_row(
        {key: values[key] for key in ("runs-on", "qemu", "platforms", "cache-from")},
        table_rows(doc["jobs"]["changes"]),
    )
    assert [(leg["runs-on"], bool(leg["qemu"]), leg["platforms"], leg["cache-from"]) for leg in found] == legs


def test_the_change_detection_compares_with_the_pull_requests_base() -> None:
    s = settings_for(workflow=ON)
    changes = load(render_pull_requests(s))["jobs"]["changes"]
    assert "if" not in changes, "every pull request lists its files"
    assert changes["permissions"] == {"contents": "read"}
    listed = job_step(changes, "changes")
    assert "if" not in listed
    assert listed["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert listed["env"]["HEAD"] == "${{ github.event.pull_request.head.sha }}"
    plan = job_step(changes, "plan")
    assert plan == job_step(load(render(s))["jobs"]["changes"], "plan"), "the images kept as on a push"
    assert [step["id"] for step in changes["steps"]] == ["changes", "plan"]
    assert changes["outputs"] == {"builds": "${{ steps.plan.outputs.builds }}"}


def test_all_image_builds_runs_always_and_fails_when_the_plan_or_a_build_failed_or_was_cancelled() -> None:
    """The check to require: red when the plan or any build failed or was cancelled, green when
    every build passed or none was needed (the build job skipped)."""
    s = settings_for(workflow=ON, images=[TWO])
    text = render_pull_requests(s)
    jobs = load(text)["jobs"]
    job = jobs["builds"]
    assert job["name"] == CHECK
    assert job["if"] == "${{ always() }}"
    assert sorted(job["needs"]) == sorted(set(jobs) - {"builds"}) == ["build", "changes"]
    (check,) = job["steps"]
    pairs = list(itertools.product(RESULTS, repeat=2))
    fails = evaluate(
        [
            (as_expression(check["if"]), {"needs": {"changes": {"result": plan}, "build": {"result": built}}})
            for plan, built in pairs
        ]
    )
    for (plan, built), failing in zip(pairs, fails, strict=True):
        assert bool(failing) == bool({plan, built} & {"failure", "cancelled"}), (plan, built)
    assert not fails[pairs.index(("success", "skipped"))], "no build needed: green"
    # The step fails its job when it runs, as GitHub's bash runs it.
    ran = subprocess.run(
        [tool("bash"), "--noprofile", "--norc", "-eo", "pipefail", "-c", check["run"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode != 0
    assert ran.stdout.startswith("::error::")
    # And it runs whatever became of what it needs (GitHub's parser and evaluator decide).
    outcomes = [
        {},
        {"changes": "failure"},
        {"changes": "cancelled"},
        {"build": "failure"},
        {"build": "cancelled"},
    ]
    rows = json.dumps(table_rows(jobs["changes"]))
    results = simulate(
        [
            Case(
                workflow=text,
                event="pull_request",
                ref="refs/pull/7/merge",
                base_ref="main",
                outcomes=outcome,
                outputs={"changes": {"builds": builds}},
            )
            for outcome in outcomes
            for builds in (rows, "[]")
        ]
    )
    for result in results:
        assert result.triggered
        assert "builds" in result.ran(), result.jobs


def test_with_pull_requests_two_files_are_committed_after_everything_they_read() -> None:
    run = run_for(workflow=ON)
    files = {f.plain("file"): f for f in run.of_type(FILE)}
    assert set(files) == {".github/workflows/build-push.yml", PR}
    assert files[PR].name == "workflow-pull-requests-file"
    assert files[".github/workflows/build-push.yml"].name == "workflow-file", "the name it always had"
    waits_for = set(files[PR].dependencies)
    assert waits_for == set(files[".github/workflows/build-push.yml"].dependencies)
    variables = {r.urn for r in run.of_type(VARIABLE)}
    assert variables, "the stack writes variables"
    assert variables <= waits_for, "both wait for the variables they read"
    assert len(run_for().of_type(FILE)) == 1


def test_its_file_must_not_be_build_pushs() -> None:
    with pytest.raises(ConfigError, match=r"workflow.pullRequestPath.*build-push workflow's path"):
        settings_for(workflow={**ON, "pullRequestPath": ".github/workflows/build-push.yml"})


def test_two_stacks_building_the_pull_requests_of_one_repository_clash(tmp_path: Path) -> None:
    dev = (FIXTURES / "Pulumi.dev.yaml").read_text()
    assert "    pullRequests: true" in dev
    qa = dev.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n    environment: qa"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(dev)
    (tmp_path / "Pulumi.qa.yaml").write_text(qa)
    loaded, errors = stackfile.load_stacks(tmp_path)
    assert errors == []
    found = check_stacks.clashes(loaded)
    assert (
        "stacks dev and qa both write the pull-request workflow of acme-platform/shop@main (one builds every "
        "pull request: set workflow.pullRequests on one stack only)"
    ) in found
    assert "stacks dev and qa both write the workflow file .github/workflows/only-build.yml" in "\n".join(
        found
    )


HANDMADE = """\
name: Only build
on:
  pull_request:
jobs:
  api-build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""


class TestAHandMadeOnlyBuild:
    def world(self) -> World:
        world = World(instances={"cri-abc123def456": Registry()})
        world.edit_file(PR, HANDMADE)
        return world

    def test_without_adopt_it_is_refused_not_overwritten(self) -> None:
        world = self.world()
        deployment = world.up(encode(config(workflow=ON)), SECRET_KEYS)
        assert any("refusing to overwrite existing file" in e for e in deployment.errors)
        assert world.files[("main", PR)].content == HANDMADE

    def test_with_adopt_it_is_imported_keeping_its_name_and_converges(self) -> None:
        world = self.world()
        deployment = world.up(encode(config(workflow=ON, adopt=True)), SECRET_KEYS)
        assert deployment.errors == []
        assert f"IMPORT RepositoryFile shop:{PR}:main" in world.log
        content = world.files[("main", PR)].content
        assert content.startswith("# Managed by acr-pipeline")
        assert "\nname: Only build\n" in content
        assert world.up(encode(config(workflow=ON, adopt=True)), SECRET_KEYS).changes == []


@pytest.mark.parametrize(
    ("images", "workflow"),
    [
        ([{"name": "api"}], {}),
        ([TWO], {}),
        ([TWO], {"emulate": True}),
        ([{"name": "arm", "platforms": ["linux/arm64"]}], {"runners": {"linux/arm64": None}}),
        ([{"name": "arm", "platforms": ["linux/arm64"]}], {"emulate": True}),
        ([{"name": "api"}], {"emulate": True}),
        (
            [
                {
                    "name": "api",
                    "context": "services/api",
                    "dockerfile": "docker/api.Dockerfile",
                    "target": "prod",
                    "buildArgs": {"GO_VERSION": "1.23"},
                },
                {"name": "web", "context": "."},
            ],
            {},
        ),
        (
            [
                {**TWO, "immutableTags": True, "labels": {"team": "shop"}},
                {"name": "web.app", "platforms": ["linux/arm64"]},
            ],
            {"attestations": True, "cache": False},
        ),
    ],
    ids=[
        "one-platform",
        "native-per-platform",
        "emulated",
        "no-runner-for-arm",
        "arm-emulated",
        "amd64-emulated",
        "context-dockerfile-target-args",
        "immutable-labels-attestations-no-cache",
    ],
)
def test_a_pull_request_builds_each_image_as_its_push_would_pushing_nothing(
    images: list[dict[str, Any]], workflow: dict[str, Any]
) -> None:
    """The same rows of the same table, kept for the same changed files, built by steps that read
    the same keys of them (runner, QEMU, context, Dockerfile, platforms, target, build arguments,
    cache) as the push workflow's build; what differs is that nothing is pushed or cached."""
    s = settings_for(images=images, workflow={**ON, **workflow})
    push = load(render(s))["jobs"]
    pr = load(render_pull_requests(s))["jobs"]
    rows = table_rows(pr["changes"])
    assert rows == table_rows(push["changes"]), "the same builds"
    assert len(rows) == len(names_before_the_redesign(s))
    assert job_step(pr["changes"], "plan") == job_step(push["changes"], "plan")
    job, twin = pr["build"], push["build"]
    for key in ("needs", "if", "strategy", "runs-on"):
        assert job[key] == twin[key], key
    assert job["strategy"]["matrix"] == {"include": "${{ fromJSON(needs.changes.outputs.builds) }}"}
    assert _uses(job, "docker/setup-qemu-action") == _uses(twin, "docker/setup-qemu-action")
    (build,) = _uses(job, "docker/build-push-action")
    (pushed,) = [step for step in twin["steps"] if step.get("id") == "build"]
    shared = ("context", "file", "platforms", "target", "build-args", "cache-from")
    read = {k: build["with"][k] for k in shared if k in build["with"]}
    assert read == {k: pushed["with"][k] for k in shared if k in pushed["with"]}
    assert all("${{ matrix." in value for value in read.values()), read
    assert (build["with"]["push"], "cache-to" in build["with"]) == (False, False)
    assert [step["name"] for step in job["steps"]][-3:] == [
        "Set up Docker Buildx",
        "Build, pushing nothing",
        "Summarize what was built",
    ]
    # What each build is given (an input not written: as unset), beside what its image says.
    inputs = {k: v for k, v in read.items() if k != "cache-from"}
    unset = dict.fromkeys(("target", "build-args"))
    built = [unset | leg for leg in per_row({**inputs, **job["steps"][-1]["env"]}, rows)]
    expected = [
        {
            "context": image.context,
            "file": image.dockerfile,
            "platforms": shown,
            "target": image.target,
            "build-args": "\n".join(f"{k}={v}" for k, v in image.build_args.items()) or None,
            "IMAGE": image.name,
            "PLATFORMS": shown,
        }
        for image, shown in builds_before_the_redesign(s)
    ]
    assert built == expected
