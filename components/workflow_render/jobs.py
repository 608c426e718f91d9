"""The jobs of the committed `build-push` workflow, one function per kind of job. However many
images there are, there are these jobs; the images are rows of a table (table.py):

- `changes`: the table, and which of its images to build: on a branch push those whose files
  changed (GitHub's compare API), on a release tag or a manual run every one.
- `build`: a matrix with one job per row, `api-build-and-push (linux/arm64)` (the original
  request's job name, and the platforms): the build on its runner and its push; where an image
  has several builds, they push by digest and the last creates the image (with
  `workflow.promote`, on a release tag, the commit's image is retagged instead of a rebuild).
  Every job that holds credentials but `verify` is one of these, in one wave: a reviewed release
  asks for one approval. The run's summary shows each image pushed, once.
- `verify` (a manual run with `verify: true`): the login and each repository, nothing pushed.
- `release-tags-only` (tags-only stacks): a manual run from a branch fails, saying how to run.
- `notify-failure` (`workflow.notify`): a webhook when any job failed.
"""

from __future__ import annotations

import posixpath

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.contract import GITHUB_ISSUER, REGISTRY_VARIABLE, STS_AUDIENCE
from components.settings import Notify, Promote, Settings
from components.workflow_render.parts import block, checkout, expression, job, run, script, step, var
from components.workflow_render.push import (
    IMAGE,
    PUSHED,
    build_push,
    holds_credentials,
    identity,
    login,
    merge,
    metadata,
    sign,
    summary,
)
from components.workflow_render.table import any_row, by_digest, filters, table

PROMOTE_HISTORY = 50
"""How many commits a promotion fetches, and looks back through for the commit's image."""
BUILDS = "needs.changes.outputs.builds"
TABLE_COMMENT = "One line per build: an image on one runner (a multi-arch image: a line per platform)."


def some(output: str) -> str:
    """The condition of a job whose matrix is `output`: it holds at least one entry (GitHub fails
    a job whose matrix is empty; the output is empty when `changes` did not run)."""
    return f"{output} != '' && {output} != '[]'"


def changes(settings: Settings, base: str | None = None) -> CommentedMap:
    """The table of builds, and the ones to run (output `builds`, the build matrix).

    A branch push builds the images whose files changed since the head of the last successful
    run on the branch (`actions: read` finds it), a pull request (`base`) those it changes, a
    release tag or a manual run every image. Nothing is cloned: the files come from GitHub's
    compare API. A detection that fails builds every image (it fails open)."""
    push = base is None
    if not push:
        when = None
    elif settings.workflow.branch_builds:
        when = "!inputs.verify"
    else:
        when = "!inputs.verify && github.ref_type == 'tag'"
    out = job(settings, "Plan the builds", settings.workflow.timeout_minutes.changes, condition=when)
    detects = not push or settings.workflow.branch_builds
    out["permissions"] = CommentedMap(contents="read", **({"actions": "read"} if push and detects else {}))
    out["outputs"] = CommentedMap(builds=expression("steps.plan.outputs.builds"))
    if push and settings.workflow.branch_builds:
        out["outputs"]["current"] = expression("steps.head.outputs.current")
    out["env"] = CommentedMap(BUILDS=table(settings))
    out.yaml_set_comment_before_after_key("env", after=TABLE_COMMENT, after_indent=6)
    if not detects:
        every = 'echo "builds=$(jq -sc . <<< "$BUILDS")" >> "$GITHUB_OUTPUT"'
        out["steps"] = CommentedSeq([run("Build every image", every, {"id": "plan"})])
        return out
    env = {"GH_TOKEN": "${{ github.token }}"}
    if base is None:
        env |= {
            "WORKFLOW": posixpath.basename(settings.workflow_path),
            "BRANCH": "${{ github.ref_name }}",
            "HEAD": "${{ github.sha }}",
        }
        # Tag pushes and manual runs build every image: only branch pushes need the list.
        listed = {
            "id": "changes",
            "if": expression("github.event_name == 'push' && github.ref_type == 'branch'"),
        }
    else:
        env |= {"BASE": base, "HEAD": "${{ github.event.pull_request.head.sha }}"}
        listed = {"id": "changes"}
    plan = {"FILTERS": filters(settings), "FILES": expression("steps.changes.outputs.files")}
    head = []
    if base is None:
        # A branch run only: a release tag never moves the branch's tag nor latest.
        where = {
            "GH_TOKEN": "${{ github.token }}",
            "BRANCH": "${{ github.ref_name }}",
            "HEAD": "${{ github.sha }}",
        }
        fields = {"id": "head", "if": expression("github.ref_type == 'branch'")}
        head = [run("Ask whether this commit is still the head of the branch", script("head"), fields, where)]
    out["steps"] = CommentedSeq(
        [
            *head,
            run("List the files changed", script("changes"), listed, env),
            # After a failed detection too: no list, every image (it fails open).
            run(
                "Keep the builds of the images whose files changed",
                script("plan"),
                {"id": "plan", "if": expression("!cancelled()")},
                plan,
            ),
        ]
    )
    return out


def build(settings: Settings) -> CommentedMap:
    """One job per row of the table, `api-build-and-push (linux/arm64)`: build and push; where
    an image has several builds, they push by digest and the last creates the image. With
    `workflow.promote`, on a release tag, a build that finds the image already built from the
    commit (scripts/promote.sh) builds nothing, and that image is released (scripts/merge.sh)."""
    mode = settings.workflow.pin_actions
    out = build_matrix(settings, "${{ matrix.key }}-build-and-push (${{ matrix.platforms }})")
    holds_credentials(settings, out, signs=settings.workflow.sign)
    steps = [checkout(mode)]
    if settings.workflow.promote:
        # The commits a promotion compares with the tagged one, not the whole history.
        steps[0]["with"]["fetch-depth"] = expression(f"github.ref_type == 'tag' && {PROMOTE_HISTORY} || 1")
    if any_row(settings, "qemu"):
        steps.append(
            step("Set up QEMU", "docker/setup-qemu-action", mode, fields={"if": expression("matrix.qemu")})
        )
    steps += [*login(settings), metadata(settings)]
    building: dict[str, str] = {}
    extra: dict[str, str] = {}
    if settings.workflow.promote:
        steps.append(promote(settings, settings.workflow.promote))
        building = {"if": expression("steps.promote.outputs.promoted != 'true'")}
        extra = {"RELEASED": "${{ steps.merge.outputs.released }}"}
    steps += build_push(settings, building)
    if by_digest(settings):
        steps += merge(settings)
        done, digest = "steps.merge.outputs.merged == 'true'", "steps.merge.outputs.digest"
    else:
        done, digest = "steps.push.outcome == 'success' || steps.retry.outcome == 'success'", PUSHED
    if settings.workflow.sign:
        steps += sign(settings, done, expression(digest))
    steps.append(summary(done, expression(digest), **extra))
    out["steps"] = CommentedSeq(steps)
    return out


def build_matrix(settings: Settings, name: str) -> CommentedMap:
    """The build job of either workflow: one job per row of the table the `changes` job plans
    (its output `builds`), on the row's runner, none cancelled when another fails. Not the
    implicit success(): a failed detection still plans every build (it fails open)."""
    out = job(
        settings,
        name,
        settings.workflow.timeout_minutes.build,
        needs=["changes"],
        condition=f"!cancelled() && {some(BUILDS)}",
        runner="${{ matrix.runner }}",
    )
    strategy = CommentedMap(
        [("fail-fast", False), ("matrix", CommentedMap(include=expression(f"fromJSON({BUILDS})")))]
    )
    out.insert(list(out).index("runs-on"), "strategy", strategy)
    return out


def promote(settings: Settings, promotion: Promote) -> CommentedMap:
    """On a release tag: an image already built from the same inputs, in this stack's repository
    or another stack's, checked (its revision), to be released without a rebuild. Every build of
    the image looks; whatever any of them found, the build that creates the image releases it."""
    env = {
        "IMAGE": IMAGE,
        "NAME": "${{ matrix.image }}",
        "REGISTRY": var(REGISTRY_VARIABLE),
        "NAMESPACES": block(promotion.from_namespaces) if promotion.from_namespaces else "",
        "PATHSPECS": "${{ matrix.pathspecs }}",
        "PLATFORMS": "${{ matrix.all || matrix.platforms }}",
        "BUILD": "true" if promotion.build else "false",
        "HISTORY": str(PROMOTE_HISTORY),
    }
    if settings.workflow.sign:
        # A release is an image this repository's workflow signed, for that very commit.
        env |= {"SIGNED": "true", "ISSUER": GITHUB_ISSUER, "OWN": identity(settings)}
        if promotion.from_namespaces:
            env["SHARED"] = identity(settings, any_workflow=True)
    condition = {"id": "promote", "if": expression("github.ref_type == 'tag'")}
    return run("Find the image built from this commit", script("promote"), condition, env)


def verify(settings: Settings) -> CommentedMap:
    """A manual run with `verify: true`: the builds' login, in the builds' environment, then each
    repository asked for a tag with those credentials; nothing is pushed. With OIDC, a failed
    login shows the token's claims beside the subjects the role admits."""
    out = job(
        settings,
        "Verify the registry login and repositories",
        settings.workflow.timeout_minutes.verify,
        condition="github.event_name == 'workflow_dispatch' && inputs.verify",
    )
    holds_credentials(settings, out)
    # Keep going after a failed login, to say what failed.
    steps = login(settings, {"continue-on-error": True})
    outcome = "steps.login.outcome"
    if settings.auth.mode == "oidc":
        outcome = "steps.aliyun.outcome == 'success' && steps.login.outcome || 'failure'"
    images = [f"{image_.name}\t{var(REGISTRY_VARIABLE)}/{var(image_.variable)}" for image_ in settings.images]
    steps.append(
        run(
            "Ask each repository for a tag, pushing nothing",
            script("verify"),
            env={"REGISTRY": var(REGISTRY_VARIABLE), "LOGIN": expression(outcome), "IMAGES": block(images)},
        )
    )
    if settings.workflow.sign:
        steps += [
            step("Install cosign", "sigstore/cosign-installer", settings.workflow.pin_actions),
            run(
                "Check each image's signature",
                script("signatures"),
                {"if": expression("!cancelled() && steps.login.outcome == 'success'")},
                {
                    "IMAGES": block(images),
                    "TAG": "${{ github.ref_name }}",
                    "ISSUER": GITHUB_ISSUER,
                    "IDENTITY": identity(settings),
                },
            ),
        ]
    if settings.auth.mode == "oidc":
        failed = "!cancelled() && (steps.aliyun.outcome == 'failure' || steps.login.outcome == 'failure')"
        steps.append(
            run(
                "Show the token's claims beside what the role admits",
                script("oidc-claims"),
                {"if": expression(failed)},
                {
                    "AUDIENCE": STS_AUDIENCE,
                    "ISSUER": GITHUB_ISSUER,
                    "SUBJECTS": block(settings.trusted_subjects),
                },
            )
        )
    out["steps"] = CommentedSeq(steps)
    return out


def release_tags_only(settings: Settings) -> CommentedMap:
    """A stack that builds only from release tags, run by hand from a branch: one clear error
    instead of a green run that built nothing (and a `workflow_run` chain fired on it)."""
    out = job(
        settings,
        "Refuse a manual run from a branch",
        settings.workflow.timeout_minutes.notify,
        condition="github.event_name == 'workflow_dispatch' && github.ref_type != 'tag'",
    )
    out["permissions"] = CommentedMap()
    message = (
        'echo "::error::this stack builds from release tags only ($PATTERNS): a run from a branch builds '
        'nothing. Run it from a tag: gh workflow run $WORKFLOW --ref v1.2.3 (add -f verify=true to verify)"'
    )
    env = {
        "PATTERNS": ", ".join(settings.workflow.tags),
        "WORKFLOW": posixpath.basename(settings.workflow_path),
    }
    out["steps"] = CommentedSeq([run("Say how to run it", block([message, "exit 1"]), env=env)])
    return out


def notify(settings: Settings, notify_: Notify, needs: list[str]) -> CommentedMap:
    out = job(
        settings,
        "Notify on failure",
        settings.workflow.timeout_minutes.notify,
        needs=needs,
        condition="failure()",
    )
    # No environment: a failure notice must not wait for a reviewer; the webhook secret is
    # therefore a repository secret.
    out["permissions"] = CommentedMap()
    text = (
        "build-push failed: ${{ github.repository }} ${{ github.ref_name }} "
        "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}"
    )
    env = {"KIND": notify_.kind, "WEBHOOK_URL": expression(f"secrets.{notify_.secret}"), "TEXT": text}
    out["steps"] = CommentedSeq([run(f"Post to the {notify_.kind} webhook", script("notify"), env=env)])
    return out
