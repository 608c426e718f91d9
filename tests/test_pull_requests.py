"""Pull-request builds (`workflow.pullRequests`): a second committed workflow that builds the
images a pull request changes, holding no credential at all; one stack per repository owns it;
a hand-made one is taken over with `adopt` like build-push. (Which jobs run: test_job_graph.py;
its change detection, run: test_scripts.py; its checkers: test_workflow_render.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.config import ConfigError
from components.workflow_render import render, render_pull_requests
from tests.conftest import FIXTURES, OIDC, SECRET_KEYS, config, encode, run_for, settings_for
from tests.world import Registry, World
from tools import check_stacks
from tools.tokens import FILE, VARIABLE

PR = ".github/workflows/only-build.yml"
TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}
ON: dict[str, Any] = {"pullRequests": True}


def pr_workflow(**overrides: Any) -> tuple[str, dict[str, Any]]:
    text = render_pull_requests(settings_for(**overrides))
    return text, YAML(typ="safe").load(text)


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action)]


@pytest.mark.parametrize(
    "overrides",
    [
        {"workflow": ON},
        {"workflow": ON, "images": [TWO, {"name": "web", "context": "frontend"}]},
        {"workflow": ON, **OIDC},
        {"workflow": ON, "github": {"environment": "production"}},
    ],
    ids=["one-image", "multi-arch", "oidc", "environment"],
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
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, job_id
        assert isinstance(job["timeout-minutes"], int), job_id
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job_id
            if step.get("uses", "").startswith("docker/build-push-action@"):
                assert step["with"]["push"] is False, job_id
                assert "cache-to" not in step["with"], "it reads the stack's cache and writes none"


def test_it_builds_on_pull_requests_to_the_branch_and_cancels_superseded_runs() -> None:
    _, doc = pr_workflow(workflow=ON, github={"branch": "trunk"})
    assert doc["on"] == {"pull_request": {"branches": ["trunk"]}}
    assert doc["concurrency"] == {
        "group": "${{ github.workflow }}-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }


def test_its_header_says_it_is_managed_like_build_push_and_that_it_pushes_nothing() -> None:
    s = settings_for(stack="prod", workflow=ON)
    header = [line for line in render_pull_requests(s).splitlines() if line.startswith("#")]
    assert header == [
        *[line for line in render(s).splitlines() if line.startswith("#")][:1],
        "# `pulumi up`, not this file; manual changes are overwritten. Builds pull requests; pushes nothing.",
    ]
    assert header[0] == "# Managed by acr-pipeline (Pulumi stack 'prod'): edit the stack config and run"


def test_every_platform_builds_on_a_runner_of_its_architecture_reading_the_stacks_cache() -> None:
    _, doc = pr_workflow(workflow=ON, images=[TWO])
    jobs = doc["jobs"]
    assert list(jobs) == ["changes", "api-build-amd64", "api-build-arm64"]
    assert jobs["api-build-arm64"]["runs-on"] == "ubuntu-24.04-arm"
    (build,) = _uses(jobs["api-build-arm64"], "docker/build-push-action")
    assert build["with"]["platforms"] == "linux/arm64"
    assert build["with"]["cache-from"] == "type=gha,scope=dev+api+linux/arm64", "the push workflow's scope"


def test_the_change_detection_compares_with_the_pull_requests_base() -> None:
    _, doc = pr_workflow(workflow=ON)
    changes = doc["jobs"]["changes"]
    assert changes["permissions"] == {"contents": "read"}
    (step,) = changes["steps"]
    assert step["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    assert step["env"]["HEAD"] == "${{ github.event.pull_request.head.sha }}"


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
    loaded, errors = check_stacks.load_stacks(tmp_path)
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
    ],
    ids=[
        "one-platform",
        "native-per-platform",
        "emulated",
        "no-runner-for-arm",
        "arm-emulated",
        "amd64-emulated",
        "context-dockerfile-target-args",
    ],
)
def test_a_pull_request_builds_each_image_as_its_push_would_pushing_nothing(
    images: list[dict[str, Any]], workflow: dict[str, Any]
) -> None:
    """Same jobs, runner, QEMU, context, Dockerfile, platforms, target, build arguments and cache
    as the push workflow's build; what differs is that nothing is pushed or cached."""
    s = settings_for(images=images, workflow={**ON, **workflow})
    push = YAML(typ="safe").load(render(s))["jobs"]
    pr = YAML(typ="safe").load(render_pull_requests(s))["jobs"]
    for key, job in pr.items():
        if key == "changes":
            continue
        twin = push[f"{key}-and-push" if key.endswith("-build") else key]
        (build,) = _uses(job, "docker/build-push-action")
        pushed = _uses(twin, "docker/build-push-action")[0]["with"]
        platforms = build["with"]["platforms"]
        assert job["runs-on"] == twin["runs-on"], key
        assert [q["name"] for q in _uses(job, "docker/setup-qemu-action")] == [
            q["name"] for q in _uses(twin, "docker/setup-qemu-action")
        ], key
        shared = ("context", "file", "platforms", "target", "build-args", "cache-from")
        assert {k: build["with"].get(k) for k in shared} == {k: pushed.get(k) for k in shared}, key
        assert (build["with"]["push"], "cache-to" in build["with"]) == (False, False), key
        assert [step["name"] for step in job["steps"]][-3:] == [
            "Set up Docker Buildx",
            "Build, pushing nothing",
            "Summarize what was built",
        ]
        image, shown = key.partition("-build")[0], platforms.replace(",", ", ")
        assert job["steps"][-1]["env"] == {"IMAGE": image, "PLATFORMS": shown, "PUSHED": "false"}
        assert job["name"] == f"Build {image} ({shown})"
