"""Which jobs run, and which legs of the `build` matrix, for each event and each way the jobs
before them end, decided by GitHub's own workflow parser and expression evaluator
(tests/jobgraph.py): the implicit `success()`, skipped ancestors, status functions and the
expansion of `strategy.matrix` into legs as GitHub has them, not as a reading of `if:`.

The table: every rendering the tests make (tests/test_workflow_render.py's, the fixture stacks',
keyless, promoting and pull-request ones) by push to the branch (an image changed or none, the
detection failed, failed with no plan at all, or was cancelled), release tag, manual run from the
branch and from a tag, verify runs, a build leg failing (a platform, a promotion), and pull
requests. Each row's expectation comes from the rules below (`expected`), written from what a user
is promised (the settings), never read from the workflow. What `changes` answers (its output
`builds`, the rows of the images to build) is the settings' own table
(components.workflow_render.table.rows), kept as the row says: the first image's, none, every one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.settings import Image, Settings
from components.stackfile import stack_names
from components.workflow_render import render, render_pull_requests
from components.workflow_render.table import rows
from tests.conftest import FIXTURES, OIDC, fixture_settings, settings_for
from tests.jobgraph import Case, JobGraphError, Result, WorkflowParseError, simulate, simulate_each
from tests.test_workflow_render import RENDERINGS

TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}
EXTRA: dict[str, Any] = {
    "oidc-environment-multi-arch": {"images": [TWO], "github": {"environment": "production"}, **OIDC},
    "promote-building": {"images": [TWO], "workflow": {"tags": ["v*"], "promote": {}}},
    "pull-requests": {
        "images": [TWO, {"name": "web", "context": "frontend"}],
        "workflow": {"pullRequests": True},
    },
    "pr-emulated": {"images": [TWO], "workflow": {"pullRequests": True, "emulate": True}},
    "pr-release-branch": {"github": {"branch": "release"}, "workflow": {"pullRequests": True}},
    # Names that are not their keys: the push legs carry the key, the pull request's the name.
    "pr-names-unlike-keys": {
        "images": [{"name": "edge.proxy", "platforms": TWO["platforms"]}, {"name": "2d"}],
        "workflow": {"pullRequests": True},
    },
    # A notice for every failure, of a branch build's detection as of a release's leg.
    "notify-promote-multi-arch": {
        "images": [TWO, {"name": "web"}],
        "workflow": {"tags": ["v*"], "promote": {}, "notify": {"kind": "slack"}},
    },
}


def every_rendering() -> dict[str, Settings]:
    out = {name: settings_for(**cfg) for name, cfg in {**RENDERINGS, **EXTRA}.items()}
    out.update({f"stack-{name}": fixture_settings(name) for name in stack_names(FIXTURES)})
    return out


SETTINGS = every_rendering()


# --- what a user is promised ----------------------------------------------------------------------


PUSH_LEG = "{key}-build-and-push ({platforms})"
"""The display name of a build of the `build-push` workflow (the original request's job name)."""
PR_LEG = "Build {name} ({platforms})"
"""The display name of a build of the pull-request workflow."""


def builds_of(s: Settings, image: Image) -> list[tuple[str, ...]]:
    """The platforms of each build of an image: one build per platform on native runners, one
    for every platform under QEMU (`workflow.emulate`)."""
    return [image.platforms] if s.workflow.emulate else [(p,) for p in image.platforms]


def legs(s: Settings, keys: Iterable[str] | None = None, name: str = PUSH_LEG) -> list[str]:
    """The display names of the builds of the images (by key; every image when None)."""
    wanted = {i.key for i in s.images} if keys is None else set(keys)
    return [
        name.format(key=image.key, name=image.name, platforms=", ".join(platforms))
        for image in s.images
        if image.key in wanted
        for platforms in builds_of(s, image)
    ]


def first(s: Settings) -> set[str]:
    return {s.images[0].key}


def multi_arch(s: Settings) -> Image | None:
    """The first image with more than one build (a multi-arch image on native runners)."""
    return next((i for i in s.images if len(builds_of(s, i)) > 1), None)


@dataclass(frozen=True)
class Ran:
    """What runs: the jobs (whatever their result), and each leg of the `build` matrix with its
    result (none when `build` does not run)."""

    jobs: frozenset[str]
    legs: dict[str, str]


def ran(
    s: Settings,
    jobs: Iterable[str],
    built: Iterable[str] = (),
    failing: Iterable[str] = (),
    failed: bool = False,
) -> Ran:
    """`jobs`, and `build` with the legs `built` when there are any (those `failing` fail, the
    others succeed); `notify-failure` exactly when a job or a leg failed (`failed`, `failing`)."""
    failing = set(failing)
    built_legs = {leg: "failure" if leg in failing else "success" for leg in built}
    out = set(jobs) | ({"build"} if built_legs else set())
    if (failed or failing) and s.workflow.notify:
        out.add("notify-failure")
    return Ran(frozenset(out), built_legs)


# --- what `changes` answers -----------------------------------------------------------------------

Outputs = dict[str, dict[str, str]]


def plan(s: Settings, keys: set[str] | None = None) -> Outputs:
    """`changes` planned the builds of the images `keys` (every image when None): its output
    `builds`, those rows of the settings' table."""
    kept = [row for row in rows(s) if keys is None or row["key"] in keys]
    return {"changes": {"builds": json.dumps(kept)}}


def every(s: Settings) -> Outputs:
    return plan(s)


def nothing(s: Settings) -> Outputs:
    return {"changes": {"builds": "[]"}}


def no_plan(s: Settings) -> Outputs:
    """No output at all (the step that writes it never ran): `builds` is empty."""
    return {"changes": {"builds": ""}}


# --- the table ------------------------------------------------------------------------------------


def push_workflow(s: Settings) -> str:
    return render(s)


def pull_request_workflow(s: Settings) -> str:
    return render_pull_requests(s)


@dataclass
class Row:
    """One event and how the jobs before others end; `expected` says what then runs."""

    name: str
    event: str
    ref: str
    expected: Callable[[Settings], Ran | None]
    """What runs, or None: the workflow does not run at all for this event."""
    applies: Callable[[Settings], bool] = lambda s: True
    inputs: dict[str, Any] = field(default_factory=dict)
    outcomes: Callable[[Settings], dict[str, str]] = lambda s: {}
    outputs: Callable[[Settings], Outputs] = lambda s: {}
    workflow: Callable[[Settings], str] = push_workflow
    base_ref: Callable[[Settings], str | None] = lambda s: None


def release(s: Settings) -> str:
    """A tag that `workflow.tags` admits (a tag of any name for a stack without tags)."""
    from components.rules import filter_matches

    candidates = ("v1.2.3", "v1.2.3-rc.1", "release-1")
    return next((c for c in candidates if filter_matches(s.workflow.tags, c)), "v1.2.3")


def branch_builds(s: Settings) -> bool:
    return s.workflow.branch_builds


def tags_only(s: Settings) -> bool:
    return not s.workflow.branch_builds


def release_tag(s: Settings) -> bool:
    return bool(s.workflow.tags)


def failing_leg(s: Settings, image: Image | None) -> str:
    """The first build of `image` (the first image when None), as an outcome's key."""
    key = (image or s.images[0]).key
    return f"build/{legs(s, {key})[0]}"


def failed(leg: str) -> list[str]:
    return [leg.removeprefix("build/")]


BRANCH, TAG = "refs/heads/{branch}", "refs/tags/{tag}"
RELEASE, MANUAL_TAG = "release tag: every build", "manual run from a tag: every build"
PR_REF = "refs/pull/7/merge"

ROWS = [
    Row(
        "push, the first image changed: its builds",
        "push",
        BRANCH,
        lambda s: ran(s, {"changes"}, legs(s, first(s))),
        branch_builds,
        outputs=lambda s: plan(s, first(s)),
    ),
    Row(
        "push, nothing changed: nothing builds",
        "push",
        BRANCH,
        lambda s: ran(s, {"changes"}),
        branch_builds,
        outputs=nothing,
    ),
    Row(
        "push, the detection failed: every build (it fails open)",
        "push",
        BRANCH,
        lambda s: ran(s, {"changes"}, legs(s), failed=True),
        branch_builds,
        outcomes=lambda s: {"changes": "failure"},
        outputs=every,
    ),
    Row(
        "push, the detection failed with no plan: nothing builds, nothing crashes",
        "push",
        BRANCH,
        lambda s: ran(s, {"changes"}, failed=True),
        branch_builds,
        outcomes=lambda s: {"changes": "failure"},
        outputs=no_plan,
    ),
    Row(
        "push, the detection was cancelled: nothing builds",
        "push",
        BRANCH,
        lambda s: ran(s, {"changes"}),
        branch_builds,
        outcomes=lambda s: {"changes": "cancelled"},
        outputs=every,
    ),
    Row(
        "push to the branch of a stack that builds only release tags: no run",
        "push",
        BRANCH,
        lambda s: None,
        tags_only,
    ),
    Row(
        RELEASE,
        "push",
        TAG,
        lambda s: ran(s, {"changes"}, legs(s)),
        release_tag,
        outputs=every,
    ),
    Row(
        "release tag, a promotion fails: that leg fails, the others succeed, a notice",
        "push",
        TAG,
        lambda s: ran(s, {"changes"}, legs(s), failing=failed(failing_leg(s, None))),
        lambda s: release_tag(s) and bool(s.workflow.promote),
        outcomes=lambda s: {failing_leg(s, None): "failure"},
        outputs=every,
    ),
    Row(
        "release tag, one platform of a multi-arch image fails: only that leg fails, a notice",
        "push",
        TAG,
        lambda s: ran(s, {"changes"}, legs(s), failing=failed(failing_leg(s, multi_arch(s)))),
        lambda s: release_tag(s) and multi_arch(s) is not None,
        outcomes=lambda s: {failing_leg(s, multi_arch(s)): "failure"},
        outputs=every,
    ),
    Row(
        "manual run from the branch: every build",
        "workflow_dispatch",
        BRANCH,
        lambda s: ran(s, {"changes"}, legs(s)),
        branch_builds,
        outputs=every,
    ),
    Row(
        "manual run from a branch of a tags-only stack: one clear failure, nothing built",
        "workflow_dispatch",
        BRANCH,
        lambda s: ran(s, {"release-tags-only"}, failed=True),
        tags_only,
        outcomes=lambda s: {"release-tags-only": "failure"},
        outputs=every,
    ),
    Row(
        MANUAL_TAG,
        "workflow_dispatch",
        TAG,
        lambda s: ran(s, {"changes"}, legs(s)),
        outputs=every,
    ),
    Row(
        "verify run from the branch: only the verify job",
        "workflow_dispatch",
        BRANCH,
        lambda s: (
            ran(s, {"verify"})
            if s.workflow.branch_builds
            else ran(s, {"verify", "release-tags-only"}, failed=True)  # a refusal is a failure
        ),
        inputs={"verify": True},
        outcomes=lambda s: {} if s.workflow.branch_builds else {"release-tags-only": "failure"},
        outputs=every,
    ),
    Row(
        "verify run from a tag: only the verify job",
        "workflow_dispatch",
        TAG,
        lambda s: ran(s, {"verify"}),
        inputs={"verify": True},
        outputs=every,
    ),
    Row(
        "a failed verify run notifies",
        "workflow_dispatch",
        TAG,
        lambda s: ran(s, {"verify"}, failed=True),
        inputs={"verify": True},
        outcomes=lambda s: {"verify": "failure"},
        outputs=every,
    ),
]


# --- the pull-request workflow: `builds` ("All image builds") runs whatever happened -------------


def pr_legs(s: Settings, keys: Iterable[str] | None = None) -> list[str]:
    return legs(s, keys, PR_LEG)


def pull_requests(s: Settings) -> bool:
    return s.workflow.pull_requests


def to_branch(s: Settings) -> str:
    return s.github.branch


PR: dict[str, Any] = {"workflow": pull_request_workflow, "applies": pull_requests, "base_ref": to_branch}

ROWS += [
    Row(
        "pull request, the first image changed: its builds",
        "pull_request",
        PR_REF,
        lambda s: Ran(
            frozenset({"changes", "build", "builds"}), dict.fromkeys(pr_legs(s, first(s)), "success")
        ),
        outputs=lambda s: plan(s, first(s)),
        **PR,
    ),
    Row(
        "pull request, nothing changed: no build, the check still reports",
        "pull_request",
        PR_REF,
        lambda s: Ran(frozenset({"changes", "builds"}), {}),
        outputs=nothing,
        **PR,
    ),
    Row(
        "pull request, the detection failed: every build (it fails open)",
        "pull_request",
        PR_REF,
        lambda s: Ran(frozenset({"changes", "build", "builds"}), dict.fromkeys(pr_legs(s), "success")),
        outcomes=lambda s: {"changes": "failure"},
        outputs=every,
        **PR,
    ),
    Row(
        "pull request, the detection failed with no plan: nothing builds, the check reports",
        "pull_request",
        PR_REF,
        lambda s: Ran(frozenset({"changes", "builds"}), {}),
        outcomes=lambda s: {"changes": "failure"},
        outputs=no_plan,
        **PR,
    ),
    Row(
        "pull request, the detection was cancelled: nothing builds, the check reports",
        "pull_request",
        PR_REF,
        lambda s: Ran(frozenset({"changes", "builds"}), {}),
        outcomes=lambda s: {"changes": "cancelled"},
        outputs=every,
        **PR,
    ),
    Row(
        "pull request, a build fails: the others succeed, the check reports",
        "pull_request",
        PR_REF,
        lambda s: Ran(
            frozenset({"changes", "build", "builds"}),
            {leg: "failure" if n == 0 else "success" for n, leg in enumerate(pr_legs(s))},
        ),
        outcomes=lambda s: {f"build/{pr_legs(s)[0]}": "failure"},
        outputs=every,
        **PR,
    ),
    Row(
        "pull request to another branch: no run",
        "pull_request",
        PR_REF,
        lambda s: None,
        workflow=pull_request_workflow,
        applies=pull_requests,
        base_ref=lambda s: "some-other-branch",
    ),
    Row(
        "push to the branch: the pull-request workflow does not run",
        "push",
        BRANCH,
        lambda s: None,
        workflow=pull_request_workflow,
        applies=pull_requests,
    ),
]


def table() -> list[tuple[str, Settings, Row]]:
    return [(name, s, row) for name, s in SETTINGS.items() for row in ROWS if row.applies(s)]


TABLE = table()
ENVIRONMENT_RENDERINGS = [name for name, s in SETTINGS.items() if s.github.environment]


def case(s: Settings, row: Row, text: str) -> Case:
    return Case(
        workflow=text,
        event=row.event,
        ref=row.ref.format(branch=s.github.branch, tag=release(s)),
        inputs=row.inputs,
        outcomes=row.outcomes(s),
        outputs=row.outputs(s),
        base_ref=row.base_ref(s),
    )


Answer = Result | JobGraphError | WorkflowParseError


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], Answer]:
    """Every row of the table, in one batch through GitHub's parser and evaluator; a case that
    fails GitHub's run (a `fromJSON` of nothing, an empty matrix) is its row's failure."""
    texts: dict[tuple[str, Callable[[Settings], str]], str] = {}
    cases = []
    for name, s, row in TABLE:
        text = texts.setdefault((name, row.workflow), row.workflow(s))
        cases.append(case(s, row, text))
    answers = simulate_each(cases)
    return {(name, row.name): answer for (name, _, row), answer in zip(TABLE, answers, strict=True)}


def test_the_table_covers_every_rendering_and_every_kind_of_event() -> None:
    """Lower bounds where tests/test_workflow_render.py's RENDERINGS (edited on their own) may
    change: 23 renderings (13 of them RENDERINGS) and 276 rows when this was written."""
    assert len(SETTINGS) == len(RENDERINGS) + len(EXTRA) + len(stack_names(FIXTURES)) >= 21
    assert len(ROWS) == 23
    assert {name for name, _, _ in TABLE} == set(SETTINGS), "every rendering meets rows"
    meets = {row.name: sum(r is row for _, _, r in TABLE) for row in ROWS}
    assert min(meets.values()) >= 3, f"every row meets renderings of more than one shape: {meets}"
    assert len(TABLE) >= 250
    # The renderings the notices, the promotions and the reviewed environments need.
    notify = [s for s in SETTINGS.values() if s.workflow.notify]
    assert any(s.workflow.branch_builds for s in notify), "a branch build's failed detection notifies"
    assert any(s.workflow.promote and multi_arch(s) for s in notify), "a failed leg notifies"
    assert len(ENVIRONMENT_RENDERINGS) >= 7
    assert sum(s.workflow.pull_requests for s in SETTINGS.values()) >= 6


@pytest.mark.parametrize(("rendering", "settings", "row"), TABLE, ids=[f"{n}: {r.name}" for n, _, r in TABLE])
def test_the_jobs_and_legs_that_run(
    results: dict[tuple[str, str], Answer], rendering: str, settings: Settings, row: Row
) -> None:
    answer = results[(rendering, row.name)]
    if isinstance(answer, Exception):
        pytest.fail(f"{rendering}: {row.name}: the run fails: {answer}")
    expected = row.expected(settings)
    if expected is None:
        assert not answer.triggered, f"{rendering}: {row.name}: the workflow should not run"
        return
    assert answer.triggered, f"{rendering}: {row.name}: the workflow does not run"
    assert answer.ran() == expected.jobs, f"{rendering}: {row.name}"
    assert dict(answer.legs.get("build", {})) == expected.legs, f"{rendering}: {row.name}"


def load(text: str) -> Any:
    return YAML(typ="safe").load(text)


@pytest.mark.parametrize("rendering", ENVIRONMENT_RENDERINGS)
def test_one_approval_wave_every_job_that_holds_credentials_and_runs_runs_at_once(
    results: dict[tuple[str, str], Answer], rendering: str
) -> None:
    """A job in an environment waits for its reviewers: were one such job to need another, a
    release would ask for approval twice. In every event, at most one job in an environment
    runs (the legs of `build` are one wave), and for a release it is `build`."""
    s = SETTINGS[rendering]
    declared = {job for job, body in load(render(s))["jobs"].items() if "environment" in body}
    releases = 0
    for row in ROWS:
        answer = results.get((rendering, row.name))
        if answer is None or row.workflow is not push_workflow or isinstance(answer, Exception):
            continue
        assert len(answer.ran() & declared) <= 1, f"{rendering}: {row.name}"
        if row.name in {RELEASE, MANUAL_TAG}:
            assert answer.ran() & declared == {"build"}, f"{rendering}: {row.name}"
            releases += 1
    assert releases >= 1


def test_the_legs_are_named_as_promised() -> None:
    """The names a user sees in the run and in branch protection, written out."""
    three = [TWO, {"name": "web"}, {"name": "edge.proxy", "platforms": ["linux/amd64", "linux/arm/v7"]}]
    assert legs(settings_for(images=three)) == [
        "api-build-and-push (linux/amd64)",
        "api-build-and-push (linux/arm64)",
        "web-build-and-push (linux/amd64)",
        "edge-proxy-build-and-push (linux/amd64)",
        "edge-proxy-build-and-push (linux/arm/v7)",
    ]
    emulated = settings_for(images=[three[2]], workflow={"emulate": True})
    assert legs(emulated) == ["edge-proxy-build-and-push (linux/amd64, linux/arm/v7)"]
    assert pr_legs(SETTINGS["pr-emulated"]) == ["Build api (linux/amd64, linux/arm64)"]
    assert pr_legs(SETTINGS["pull-requests"]) == [
        "Build api (linux/amd64)",
        "Build api (linux/arm64)",
        "Build web (linux/amd64)",
    ]


def test_image_names_a_job_id_may_not_hold_still_give_ids_githubs_parser_accepts() -> None:
    """A job id starts with a letter or `_` and holds letters, digits, `_` and `-` only, and so does
    a variable's name; an image name may start with a digit, hold dots and (Enterprise Edition)
    tiers. The parser refuses either workflow file otherwise, and the builds keep their names."""
    images = [{"name": "2d"}, {"name": "edge.proxy"}, {"name": "agent/client"}]
    s = settings_for(images=images, workflow={"pullRequests": True})
    push, pull_request = simulate(
        [
            Case(
                workflow=render(s),
                event="push",
                ref=f"refs/heads/{s.github.branch}",
                outputs=every(s),
            ),
            Case(
                workflow=render_pull_requests(s),
                event="pull_request",
                ref=PR_REF,
                base_ref=s.github.branch,
                outputs=every(s),
            ),
        ]
    )
    assert list(push.legs["build"]) == [
        "image-2d-build-and-push (linux/amd64)",
        "edge-proxy-build-and-push (linux/amd64)",
        "agent-client-build-and-push (linux/amd64)",
    ]
    assert list(pull_request.legs["build"]) == [
        "Build 2d (linux/amd64)",
        "Build edge.proxy (linux/amd64)",
        "Build agent/client (linux/amd64)",
    ]
    assert push.ran() == {"changes", "build"}
    assert pull_request.ran() == {"changes", "build", "builds"}
