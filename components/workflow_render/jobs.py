"""The jobs of the committed `build-push` workflow, one function per kind of job.

- `changes`: which images changed (branch pushes only), from GitHub's compare API.
- per image, `<image>-build-and-push`: one job that builds every platform of the image and
  pushes its tags; or, for a multi-arch image, one job per platform on a runner of that
  architecture (`<image>-build-<arch>`), each pushing by digest, the last of them creating
  the multi-arch image, and a gate `<image>-build-and-push` (no credentials) that other
  workflows and branch protection may depend on. So every job that holds credentials runs in
  one wave: a reviewed release asks for one approval.
- `<image>-promote` (`workflow.promote`): on a release tag, the commit's image retagged.
- `verify` (a manual run with `verify: true`): the login and each repository, nothing pushed.
- `release-tags-only` (tags-only stacks): a manual run from a branch fails, saying how to run.
- `notify-failure` (`workflow.notify`): a webhook when any job failed.
"""

from __future__ import annotations

import posixpath

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components import rules
from components.contract import GITHUB_ISSUER, REGISTRY_VARIABLE, STS_AUDIENCE
from components.settings import Image, Notify, Promote, Settings, platform_key
from components.workflow_render.parts import block, checkout, expression, job, run, script, step, var
from components.workflow_render.push import (
    DIGEST,
    NOT_ALL_PUSHED,
    RETRY_PAUSE,
    TAGS,
    already_pushed,
    build_push,
    holds_credentials,
    image,
    login,
    metadata,
    summary,
)

NOT_VERIFYING = "!inputs.verify"
"""A manual run with `verify: true` runs the verify job and nothing else."""
PROMOTE_HISTORY = 50
"""How many commits the promote job fetches, and looks back through for the commit's image."""


def filters(settings: Settings) -> str:
    """Each image's path patterns for scripts/changes.sh, one a line: image key, + or - (a `!`
    pattern excludes), and the pattern as a POSIX ERE of GitHub's glob semantics."""
    lines = []
    for image_ in settings.images:
        for path in settings.paths(image_):
            sign, glob = ("-", path[1:]) if path.startswith("!") else ("+", path)
            lines.append(f"{image_.key} {sign} {rules.github_glob_ere(glob)}")
    return block(lines)


def changes(settings: Settings, base: str | None = None) -> CommentedMap:
    """Which images changed: one output per image, `true` or `false`.

    A push compares with the head of the last successful run on the branch (`actions: read`
    finds it); a pull request (`base`) with its base. Nothing is cloned: the files come from
    GitHub's compare API."""
    push = base is None
    out = job(
        settings,
        "Detect changed images",
        settings.workflow.timeout_minutes.changes,
        # Tag pushes and manual runs build every image, so only branch pushes need a filter.
        condition="github.event_name == 'push' && github.ref_type == 'branch'" if push else None,
    )
    out["permissions"] = CommentedMap(contents="read", **({"actions": "read"} if push else {}))
    out["outputs"] = CommentedMap(
        (image_.key, expression(f"steps.changes.outputs.{image_.key}")) for image_ in settings.images
    )
    env = {"GH_TOKEN": "${{ github.token }}", "FILTERS": filters(settings)}
    if base is None:
        env |= {
            "WORKFLOW": posixpath.basename(settings.workflow_path),
            "BRANCH": "${{ github.ref_name }}",
            "HEAD": "${{ github.sha }}",
        }
    else:
        env |= {"BASE": base, "HEAD": "${{ github.event.pull_request.head.sha }}"}
    # The REST API, not `gh run list --status` (gh 2.26+): an older gh on a self-hosted runner
    # would make every image build without a word.
    out["steps"] = CommentedSeq(
        [run("Find the images whose files changed", script("changes"), {"id": "changes"}, env)]
    )
    return out


def build_condition(settings: Settings, image_: Image) -> tuple[list[str], str]:
    """(needs, if) of an image's build: on a branch push when its files changed (an unanswered
    or failed detection builds: fail open), on every release tag, on manual runs; never when
    the release was promoted, nor on a verify run. A stack that builds only on tags builds
    manual runs of a tag only."""
    needs = (["changes"] if settings.workflow.branch_builds else []) + (
        [f"{image_.key}-promote"] if settings.workflow.promote else []
    )
    when = [NOT_VERIFYING]
    if settings.workflow.branch_builds:
        when.append(
            "(github.event_name != 'push' || github.ref_type == 'tag' "
            f"|| needs.changes.outputs.{image_.key} != 'false')"
        )
    else:
        when.append("github.ref_type == 'tag'")
    if settings.workflow.promote:
        # A failed promotion (no image, and building disabled) builds nothing either.
        when.append(f"needs.{image_.key}-promote.result != 'failure'")
        when.append(f"needs.{image_.key}-promote.outputs.promoted != 'true'")
    if needs:
        # Not the implicit success(): `changes` is skipped on tags and manual runs, and a skipped
        # or failed detection must not skip a build (it fails open).
        when.insert(0, "!cancelled()")
    return needs, " && ".join(when)


def build_job(settings: Settings, image_: Image, name: str, runner: str | None) -> CommentedMap:
    """The head of a job that builds the image: when it runs, where, and its credentials."""
    needs, condition = build_condition(settings, image_)
    timeout = settings.workflow.timeout_minutes.build
    out = job(settings, name, timeout, needs=needs, condition=condition, runner=runner)
    holds_credentials(settings, out)
    return out


def single_build(settings: Settings, image_: Image) -> CommentedMap:
    """One job builds every platform of the image and pushes its tags: a single platform on its
    own runner, several (or any, with `workflow.emulate`) under QEMU on the linux/amd64 runner."""
    mode = settings.workflow.pin_actions
    native = len(image_.platforms) == 1 and not settings.workflow.emulate
    runner = settings.workflow.runner_of.get(image_.platforms[0]) if native else None
    out = build_job(settings, image_, f"Build and push {image_.name}", runner)
    steps = [checkout(mode)]
    if runner is None and image_.platforms != ("linux/amd64",):
        steps.append(step(f"Set up QEMU ({', '.join(image_.platforms)})", "docker/setup-qemu-action", mode))
    steps += [*login(settings), metadata(settings, image_), *already_pushed(image_)]
    steps += build_push(settings, image_, image_.platforms, settings.cache_scope(image_), by_digest=False)
    pushed = "steps.push.outcome == 'success' || steps.retry.outcome == 'success'"
    steps.append(summary(image_, image_.platforms, DIGEST, expression(pushed)))
    out["steps"] = CommentedSeq(steps)
    return out


def platform_build(settings: Settings, image_: Image, platform: str) -> CommentedMap:
    """One platform of a multi-arch image, natively on its runner (QEMU where there is none),
    pushed by digest; the digest is published as an artifact of the run, and the job that finds
    every platform's digest creates the multi-arch image under the image's tags."""
    mode = settings.workflow.pin_actions
    runner = settings.workflow.runner_of.get(platform)
    arch = platform_key(platform)
    out = build_job(settings, image_, f"Build {image_.name} ({platform})", runner)
    merged = "steps.merge.outputs.merged"
    if image_.immutable_tags:
        # A re-run of a release whose tags exist already: created, as far as the gate knows.
        merged = f"steps.pushed.outputs.all == 'true' && 'true' || {merged}"
    out["outputs"] = CommentedMap(merged=expression(merged))
    steps = [checkout(mode)]
    if runner is None:
        steps.append(step(f"Set up QEMU ({platform})", "docker/setup-qemu-action", mode))
    steps += [*login(settings), metadata(settings, image_)]
    steps += build_push(settings, image_, (platform,), settings.cache_scope(image_, platform), by_digest=True)
    digests = f"digests-{image_.key}"
    steps += [
        run(
            "Record the digest",
            'mkdir -p "$RUNNER_TEMP/digest" && printf \'%s\\n\' "$DIGEST" > "$RUNNER_TEMP/digest/$PLATFORM"',
            env={"DIGEST": DIGEST, "PLATFORM": arch},
        ),
        step(
            "Publish the digest to the other platforms' jobs",
            "actions/upload-artifact",
            mode,
            {
                "name": f"{digests}-{arch}",
                "path": "${{ runner.temp }}/digest/" + arch,
                "if-no-files-found": "error",
                "retention-days": 1,
                # A re-run of this platform's job replaces its digest.
                "overwrite": True,
            },
        ),
        # This run's artifacts only: no token, no other run's files.
        step(
            "Collect every platform's digest published so far",
            "actions/download-artifact",
            mode,
            {"pattern": f"{digests}-*", "path": "${{ runner.temp }}/digests", "merge-multiple": True},
        ),
        *already_pushed(image_),
        run(
            "Create the multi-arch image once every platform is pushed",
            script("merge"),
            {"id": "merge", **({"if": NOT_ALL_PUSHED} if image_.immutable_tags else {})},
            {
                "IMAGE": image(image_),
                "PLATFORMS": str(len(image_.platforms)),
                "DIGESTS": "${{ runner.temp }}/digests",
                "TAGS": TAGS,
                "IMMUTABLE": "true" if image_.immutable_tags else "false",
                "RETRY_PAUSE": str(RETRY_PAUSE),
            },
        ),
        summary(
            image_,
            image_.platforms,
            "${{ steps.merge.outputs.digest }}",
            "${{ steps.merge.outputs.merged == 'true' }}",
        ),
    ]
    out["steps"] = CommentedSeq(steps)
    return out


def gate(settings: Settings, image_: Image, builds: list[str]) -> CommentedMap:
    """`<image>-build-and-push` of a multi-arch image: succeeds once its platforms are pushed
    and one of their jobs created the image. It holds no credentials, so it asks no approval;
    other workflows and branch protection may depend on its name."""
    # Not the implicit success(): it would skip the gate whenever `changes` is skipped (tags).
    every = " && ".join(f"needs.{build}.result == 'success'" for build in builds)
    out = job(
        settings,
        f"Build and push {image_.name} ({', '.join(image_.platforms)})",
        settings.workflow.timeout_minutes.merge,
        needs=builds,
        condition=f"!cancelled() && {every}",
    )
    out["permissions"] = CommentedMap()
    check = [
        'if [[ " $MERGED " != *" true "* ]]; then',
        '  echo "::error::no platform job found every digest, so none created the image:'
        ' re-run the failed jobs"',
        "  exit 1",
        "fi",
    ]
    merged = " ".join(expression(f"needs.{build}.outputs.merged") for build in builds)
    out["steps"] = CommentedSeq(
        [run("Check that the multi-arch image was created", block(check), env={"MERGED": merged})]
    )
    return out


def promote(settings: Settings, image_: Image, promotion: Promote) -> CommentedMap:
    """On a release tag: an image already built from the same inputs, in this stack's repository
    or another stack's, retagged as the release without a rebuild (scripts/promote.sh)."""
    mode = settings.workflow.pin_actions
    out = job(
        settings,
        f"Promote {image_.name} (release tag)",
        settings.workflow.timeout_minutes.merge,
        condition=f"github.ref_type == 'tag' && {NOT_VERIFYING}",
    )
    holds_credentials(settings, out)
    out["outputs"] = CommentedMap(promoted="${{ steps.promote.outputs.promoted }}")
    sources = [
        image(image_),
        *(f"{var(REGISTRY_VARIABLE)}/{ns}/{image_.name}" for ns in promotion.from_namespaces),
    ]
    env = {
        "SOURCES": block(sources),
        "PATHSPECS": block([f":(glob){path}" for path in settings.paths(image_)]),
        "TAGS": TAGS,
        "BUILD": "true" if promotion.build else "false",
        "HISTORY": str(PROMOTE_HISTORY),
        "RETRY_PAUSE": str(RETRY_PAUSE),
    }
    retag = run("Retag the image built from this commit", script("promote"), {"id": "promote"}, env)
    already = []
    if image_.immutable_tags:
        # A re-run of a release whose tags exist already: promoted, as far as the builds know.
        already = already_pushed(image_)
        retag["if"] = NOT_ALL_PUSHED
        done = "steps.pushed.outputs.all == 'true'"
        out["outputs"]["promoted"] = expression(f"{done} && 'true' || steps.promote.outputs.promoted")
    report = summary(
        image_,
        image_.platforms,
        "${{ steps.promote.outputs.digest }}",
        "${{ steps.promote.outputs.promoted == 'true' }}",
        RELEASED="${{ steps.promote.outputs.released }}",
    )
    # The commits the script compares with the tagged one, not the whole history.
    out["steps"] = CommentedSeq(
        [
            checkout(mode, **{"fetch-depth": PROMOTE_HISTORY}),
            *login(settings),
            metadata(settings, image_),
            *already,
            retag,
            report,
        ]
    )
    return out


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
    images = [f"{image_.name}\t{image(image_)}" for image_ in settings.images]
    steps.append(
        run(
            "Ask each repository for a tag, pushing nothing",
            script("verify"),
            env={"REGISTRY": var(REGISTRY_VARIABLE), "LOGIN": expression(outcome), "IMAGES": block(images)},
        )
    )
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


def image_jobs(settings: Settings, image_: Image) -> dict[str, CommentedMap]:
    jobs: dict[str, CommentedMap] = {}
    if settings.workflow.promote:
        jobs[f"{image_.key}-promote"] = promote(settings, image_, settings.workflow.promote)
    if len(image_.platforms) == 1 or settings.workflow.emulate:
        jobs[image_.job_id] = single_build(settings, image_)
        return jobs
    builds = {
        f"{image_.key}-build-{platform_key(p)}": platform_build(settings, image_, p) for p in image_.platforms
    }
    jobs.update(builds)
    jobs[image_.job_id] = gate(settings, image_, list(builds))
    return jobs
