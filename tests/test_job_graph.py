"""Which jobs run, for each event and each way the jobs before them end, decided by GitHub's own
workflow parser and expression evaluator (tests/jobgraph.py): the implicit `success()`,
skipped ancestors and status functions as GitHub has them, not as a reading of `if:`.

The table: every rendering the tests make (tests/test_workflow_render.py's, the fixture stacks',
keyless and pull-request ones) by push to the branch (images changed or not, detection failed or
cancelled), release tag, manual run from the branch and from a tag, verify runs, a platform
or a promotion failing, pull requests. Each row's expectation comes from the rules below
(`expected`), written from what a user is promised, never read from the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.settings import Settings, platform_key
from components.workflow_render import render, render_pull_requests
from tests.conftest import OIDC, fixture_settings, settings_for
from tests.jobgraph import Case, Result, simulate
from tests.test_workflow_render import RENDERINGS
from tools.stackfile import stack_names

TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}
EXTRA: dict[str, Any] = {
    "oidc-environment-multi-arch": {"images": [TWO], "github": {"environment": "production"}, **OIDC},
    "promote-building": {"images": [TWO], "workflow": {"tags": ["v*"], "promote": {}}},
    "pull-requests": {
        "images": [TWO, {"name": "web", "context": "frontend"}],
        "workflow": {"pullRequests": True},
    },
}


def every_rendering() -> dict[str, Settings]:
    from tests.conftest import FIXTURES

    out = {name: settings_for(**cfg) for name, cfg in {**RENDERINGS, **EXTRA}.items()}
    out.update({f"stack-{name}": fixture_settings(name) for name in stack_names(FIXTURES)})
    return out


SETTINGS = every_rendering()


# --- what a user is promised ----------------------------------------------------------------------


def image_jobs(s: Settings, key: str) -> set[str]:
    """The jobs that build and push one image (by its key)."""
    image = next(i for i in s.images if i.key == key)
    if len(image.platforms) == 1 or s.workflow.emulate:
        return {image.job_id}
    return {f"{key}-build-{platform_key(p)}" for p in image.platforms} | {image.job_id}


def builds(s: Settings, keys: set[str] | None = None) -> set[str]:
    keys = {i.key for i in s.images} if keys is None else keys
    return set().union(*(image_jobs(s, k) for k in keys))


@dataclass
class Row:
    """One event and how the jobs before others end; `expected` says what then runs."""

    name: str
    event: str
    ref: str
    expected: Callable[[Settings], set[str] | None]
    """The jobs that run, or None: the workflow does not run at all for this event."""
    applies: Callable[[Settings], bool] = lambda s: True
    inputs: dict[str, Any] = field(default_factory=dict)
    outcomes: Callable[[Settings], dict[str, str]] = lambda s: {}
    outputs: Callable[[Settings], dict[str, dict[str, str]]] = lambda s: {}


def notified(s: Settings, jobs: set[str], failed: bool) -> set[str]:
    """`notify-failure` runs exactly when a job failed."""
    return jobs | ({"notify-failure"} if failed and s.workflow.notify else set())


def changed(s: Settings, answer: str) -> dict[str, dict[str, str]]:
    """The change detection's answer: `answer` for the first image, `false` for the others."""
    keys = [i.key for i in s.images]
    return {"changes": {k: (answer if n == 0 else "false") for n, k in enumerate(keys)}}


def merged(s: Settings) -> dict[str, dict[str, str]]:
    """Each platform job said whether it created the multi-arch image (the last one did)."""
    return {
        f"{i.key}-build-{platform_key(p)}": {"merged": "true"}
        for i in s.images
        if len(i.platforms) > 1 and not s.workflow.emulate
        for p in i.platforms
    }


def release(s: Settings) -> str:
    """A tag that `workflow.tags` admits (a tag of any name for a stack without tags)."""
    from components.rules import filter_matches

    candidates = ("v1.2.3", "v1.2.3-rc.1", "release-1")
    return next((c for c in candidates if filter_matches(s.workflow.tags, c)), "v1.2.3")


def branch_builds(s: Settings) -> bool:
    return s.workflow.branch_builds


def first(s: Settings) -> set[str]:
    return {s.images[0].key}


def release_tag(s: Settings) -> bool:
    return bool(s.workflow.tags)


def on_release(s: Settings, promoted: str = "false") -> set[str]:
    """A release tag: every image is promoted when it can be, and built when it is not."""
    promotes = {f"{i.key}-promote" for i in s.images} if s.workflow.promote else set()
    return promotes | (set() if promoted == "true" else builds(s))


def promotion(s: Settings, promoted: str) -> dict[str, dict[str, str]]:
    return {f"{i.key}-promote": {"promoted": promoted} for i in s.images} if s.workflow.promote else {}


ROWS = [
    Row(
        "push, the first image changed",
        "push",
        "refs/heads/{branch}",
        lambda s: {"changes"} | builds(s, first(s)),
        branch_builds,
        outputs=lambda s: {**changed(s, "true"), **merged(s)},
    ),
    Row(
        "push, nothing changed",
        "push",
        "refs/heads/{branch}",
        lambda s: {"changes"},
        branch_builds,
        outputs=lambda s: changed(s, "false"),
    ),
    Row(
        "push, the detection failed: every image builds",
        "push",
        "refs/heads/{branch}",
        lambda s: notified(s, {"changes"} | builds(s), failed=True),
        branch_builds,
        outcomes=lambda s: {"changes": "failure"},
        outputs=merged,
    ),
    Row(
        "push, the detection was cancelled: nothing builds",
        "push",
        "refs/heads/{branch}",
        lambda s: {"changes"},
        branch_builds,
        outcomes=lambda s: {"changes": "cancelled"},
    ),
    Row(
        "push to the branch of a stack that builds only release tags: no run",
        "push",
        "refs/heads/{branch}",
        lambda s: None,
        lambda s: not s.workflow.branch_builds,
    ),
    Row("release tag", "push", "refs/tags/{tag}", on_release, release_tag, outputs=lambda s: merged(s)),
    Row(
        "release tag whose image was promoted: nothing is rebuilt",
        "push",
        "refs/tags/{tag}",
        lambda s: on_release(s, "true"),
        lambda s: bool(s.workflow.promote),
        outputs=lambda s: promotion(s, "true"),
    ),
    Row(
        "release tag whose promotion failed: nothing is built",
        "push",
        "refs/tags/{tag}",
        lambda s: notified(s, {f"{i.key}-promote" for i in s.images}, failed=True),
        lambda s: bool(s.workflow.promote),
        outcomes=lambda s: {f"{i.key}-promote": "failure" for i in s.images},
    ),
    Row(
        "manual run from the branch: every image",
        "workflow_dispatch",
        "refs/heads/{branch}",
        lambda s: builds(s),
        branch_builds,
        outputs=merged,
    ),
    Row(
        "manual run from a branch of a tags-only stack: one clear failure, nothing built",
        "workflow_dispatch",
        "refs/heads/{branch}",
        lambda s: notified(s, {"release-tags-only"}, failed=True),
        lambda s: not s.workflow.branch_builds,
        outcomes=lambda s: {"release-tags-only": "failure"},
    ),
    Row(
        "manual run from a tag",
        "workflow_dispatch",
        "refs/tags/{tag}",
        lambda s: on_release(s),
        outputs=merged,
    ),
    Row(
        "verify run from the branch: only the verify job",
        "workflow_dispatch",
        "refs/heads/{branch}",
        lambda s: (
            {"verify"}
            if s.workflow.branch_builds
            else notified(s, {"verify", "release-tags-only"}, failed=True)  # a refusal is a failure
        ),
        inputs={"verify": True},
        outcomes=lambda s: {} if s.workflow.branch_builds else {"release-tags-only": "failure"},
    ),
    Row(
        "verify run from a tag: only the verify job",
        "workflow_dispatch",
        "refs/tags/{tag}",
        lambda s: {"verify"},
        inputs={"verify": True},
    ),
    Row(
        "a failed verify run notifies",
        "workflow_dispatch",
        "refs/tags/{tag}",
        lambda s: notified(s, {"verify"}, failed=True),
        inputs={"verify": True},
        outcomes=lambda s: {"verify": "failure"},
    ),
]


def platform_failure(s: Settings) -> tuple[str, set[str]]:
    """A multi-arch image one of whose platforms fails: (that job, what runs)."""
    image = next(i for i in s.images if len(i.platforms) > 1)
    failing = f"{image.key}-build-{platform_key(image.platforms[0])}"
    return failing, notified(s, builds(s) - {image.job_id}, failed=True)


def multi_arch(s: Settings) -> bool:
    return not s.workflow.emulate and any(len(i.platforms) > 1 for i in s.images)


ROWS.append(
    Row(
        "release tag, one platform of a multi-arch image fails: its image is not declared built",
        "push",
        "refs/tags/{tag}",
        lambda s: (
            platform_failure(s)[1] | ({f"{i.key}-promote" for i in s.images} if s.workflow.promote else set())
        ),
        lambda s: multi_arch(s) and release_tag(s),
        outcomes=lambda s: {platform_failure(s)[0]: "failure"},
        outputs=merged,
    )
)


def table() -> list[tuple[str, Settings, Row]]:
    return [(name, s, row) for name, s in SETTINGS.items() for row in ROWS if row.applies(s)]


TABLE = table()


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], Result]:
    """Every row of the table, in one batch through GitHub's parser and evaluator."""
    texts = {name: render(s) for name, s in SETTINGS.items()}
    cases = []
    for name, s, row in TABLE:
        outputs = row.outputs(s)
        cases.append(
            Case(
                workflow=texts[name],
                event=row.event,
                ref=row.ref.format(branch=s.github.branch, tag=release(s)),
                inputs=row.inputs,
                outcomes=row.outcomes(s),
                outputs={job: values for job, values in outputs.items()},
            )
        )
    answers = simulate(cases)
    return {(name, row.name): answer for (name, _, row), answer in zip(TABLE, answers, strict=True)}


def test_the_table_covers_every_rendering_and_every_kind_of_event() -> None:
    assert len(SETTINGS) >= 15
    assert {row.name for _, _, row in TABLE} == {row.name for row in ROWS}, "every row meets a rendering"
    assert len(TABLE) >= 120


@pytest.mark.parametrize(("rendering", "settings", "row"), TABLE, ids=[f"{n}: {r.name}" for n, _, r in TABLE])
def test_the_jobs_that_run(
    results: dict[tuple[str, str], Result], rendering: str, settings: Settings, row: Row
) -> None:
    answer = results[(rendering, row.name)]
    expected = row.expected(settings)
    if expected is None:
        assert not answer.triggered, f"{rendering}: {row.name}: the workflow should not run"
        return
    assert answer.triggered, f"{rendering}: {row.name}: the workflow does not run"
    assert answer.ran() == expected, f"{rendering}: {row.name}"


# --- the pull-request workflow --------------------------------------------------------------------

PR_SETTINGS = {name: s for name, s in SETTINGS.items() if s.workflow.pull_requests} | {
    "pr-emulated": settings_for(images=[TWO], workflow={"pullRequests": True, "emulate": True}),
    "pr-release-branch": settings_for(github={"branch": "release"}, workflow={"pullRequests": True}),
}


def pr_builds(s: Settings, keys: set[str]) -> set[str]:
    out: set[str] = set()
    for image in s.images:
        if image.key not in keys:
            continue
        if len(image.platforms) == 1 or s.workflow.emulate:
            out.add(f"{image.key}-build")
        else:
            out |= {f"{image.key}-build-{platform_key(p)}" for p in image.platforms}
    return out


PR_EVENTS = (
    "the first image changed",
    "the detection failed",
    "the detection was cancelled",
    "elsewhere",
    "push",
)


@pytest.fixture(scope="module")
def pr_results() -> dict[tuple[str, str], Result]:
    cases = []
    for s in PR_SETTINGS.values():
        text = render_pull_requests(s)
        answer = {i.key: ("true" if n == 0 else "false") for n, i in enumerate(s.images)}
        pr, branch = ("pull_request", "refs/pull/7/merge"), s.github.branch
        cases += [
            Case(text, *pr, base_ref=branch, outputs={"changes": answer}),
            Case(text, *pr, base_ref=branch, outcomes={"changes": "failure"}),
            Case(text, *pr, base_ref=branch, outcomes={"changes": "cancelled"}),
            Case(text, *pr, base_ref="some-other-branch"),
            Case(text, "push", f"refs/heads/{branch}"),
        ]
    answers = iter(simulate(cases))
    return {(name, event): next(answers) for name in PR_SETTINGS for event in PR_EVENTS}


@pytest.mark.parametrize("name", list(PR_SETTINGS))
def test_a_pull_request_builds_the_images_it_changes_and_the_detection_fails_open(
    pr_results: dict[tuple[str, str], Result], name: str
) -> None:
    s = PR_SETTINGS[name]
    keys = {i.key for i in s.images}
    assert pr_results[(name, "the first image changed")].ran() == {"changes"} | pr_builds(
        s, {s.images[0].key}
    )
    assert pr_results[(name, "the detection failed")].ran() == {"changes"} | pr_builds(s, keys)
    assert pr_results[(name, "the detection was cancelled")].ran() == {"changes"}
    assert not pr_results[(name, "elsewhere")].triggered, "only pull requests to github.branch"
    assert not pr_results[(name, "push")].triggered, "pull requests only"


def test_image_names_a_job_id_may_not_hold_still_give_ids_githubs_parser_accepts() -> None:
    """A job id starts with a letter or `_` and holds letters, digits, `_` and `-` only, and so does
    a variable's name; an image name may start with a digit, hold dots and (Enterprise Edition)
    tiers. The parser refuses either workflow file otherwise."""
    images = [{"name": "2d"}, {"name": "edge.proxy"}, {"name": "agent/client"}]
    s = settings_for(images=images, workflow={"pullRequests": True})
    push, pull_request = simulate(
        [
            Case(workflow=render(s), event="push", ref=f"refs/heads/{s.github.branch}"),
            Case(
                workflow=render_pull_requests(s),
                event="pull_request",
                ref="refs/pull/7/merge",
                base_ref=s.github.branch,
            ),
        ]
    )
    keys = {"image-2d", "edge-proxy", "agent-client"}
    assert {f"{key}-build-and-push" for key in keys} <= push.ran()
    assert {f"{key}-build" for key in keys} <= pull_request.ran()
