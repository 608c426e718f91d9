"""The pull-request workflow (`workflow.pullRequests`, committed at `workflow.pullRequestPath`):
each image whose files a pull request changes is built for every platform, and nothing is
pushed, so a broken Dockerfile shows on the pull request, not after the merge.

It holds no credential at all: no registry login, no `secrets.`, no `id-token`, and never
`pull_request_target` (which would run with the base repository's secrets on a fork's code).
It reads the owning stack's build cache and writes none, so a pull request cannot seed what a
branch or release build restores. A fork's pull request runs the same way.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.settings import Settings
from components.workflow_render.jobs import build_matrix, changes
from components.workflow_render.parts import checkout, expression, job, run, step
from components.workflow_render.push import build_options
from components.workflow_render.table import any_row

BASE = "${{ github.event.pull_request.base.sha }}"
BUILT = (
    'echo "### $IMAGE: built for $PLATFORMS, not pushed (a pull request\'s build)" >> "$GITHUB_STEP_SUMMARY"'
)
CHECK = "All image builds"
"""The one check to require in branch protection: a build's own check reports only when the
pull request changes its image."""


def build(settings: Settings) -> CommentedMap:
    """One job per build of a changed image, as its push would build it (the same rows): natively
    on the platform's runner, or under QEMU; nothing pushed, the cache read and never written."""
    mode = settings.workflow.pin_actions
    out = build_matrix(settings, "Build ${{ matrix.image }} (${{ matrix.platforms }})")
    steps = [checkout(mode)]
    if any_row(settings, "qemu"):
        steps.append(
            step("Set up QEMU", "docker/setup-qemu-action", mode, fields={"if": expression("matrix.qemu")})
        )
    steps += [
        step("Set up Docker Buildx", "docker/setup-buildx-action", mode),
        step(
            "Build, pushing nothing",
            "docker/build-push-action",
            mode,
            {**build_options(settings, write_cache=False), "push": False},
        ),
        run(
            "Summarize what was built",
            BUILT,
            env={"IMAGE": "${{ matrix.image }}", "PLATFORMS": "${{ matrix.platforms }}"},
        ),
    ]
    out["steps"] = CommentedSeq(steps)
    return out


def result(settings: Settings) -> CommentedMap:
    """`All image builds`: green when every build the pull request needed passed (none needed
    included), red when one failed or the detection could not plan any; the check to require."""
    out = job(
        settings,
        CHECK,
        settings.workflow.timeout_minutes.notify,
        needs=["changes", "build"],
        condition="always()",
    )
    out["permissions"] = CommentedMap()
    failed = "contains(needs.*.result, 'failure') || contains(needs.*.result, 'cancelled')"
    message = 'echo "::error::a build, or the plan of the builds, failed: see the jobs above"; exit 1'
    out["steps"] = CommentedSeq([run("Check every build", message, {"if": expression(failed)})])
    return out


def pull_request_workflow(settings: Settings, adopted_name: str | None = None) -> CommentedMap:
    """The workflow as an ordered mapping. Its name is that of the file it takes over (`adopt`),
    else `only-build (<stack>)`."""
    doc = CommentedMap()
    doc["name"] = adopted_name or f"only-build ({settings.stack})"
    doc["on"] = CommentedMap(pull_request=CommentedMap(branches=CommentedSeq([settings.github.branch])))
    doc["permissions"] = CommentedMap(contents="read")
    # A new push to the pull request makes the older run pointless.
    doc["concurrency"] = CommentedMap(
        [
            ("group", "${{ github.workflow }}-${{ github.event.pull_request.number }}"),
            ("cancel-in-progress", True),
        ]
    )
    doc["jobs"] = CommentedMap(
        changes=changes(settings, base=BASE), build=build(settings), builds=result(settings)
    )
    header = [
        f"Managed by acr-pipeline (Pulumi stack '{settings.stack}'): edit the stack config and run",
        "`pulumi up`, not this file; manual changes are overwritten. Builds pull requests, pushes nothing.",
        f"Branch protection: require the check '{CHECK}' (a build's own check reports only if its image "
        "changed).",
    ]
    doc.yaml_set_start_comment("\n".join(header))
    return doc
