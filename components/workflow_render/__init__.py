"""The committed `build-push` workflow, rendered from settings by a pure function.

The workflow is built as a data structure and emitted by ruamel.yaml, so every value that
comes from configuration is quoted by the emitter, never spliced into YAML text; values reach
shell scripts through `env:`. The same settings always give the same bytes (no timestamps,
fixed key order), so a second `pulumi up` shows no change.

The jobs: `changes` (which images changed, on branch pushes); per image, either one build job,
or one job per platform on a runner of that architecture pushing by digest and a merge job
that joins the digests into one multi-arch image under the image's tags (the merge job keeps
the name `<image>-build-and-push` that other workflows may depend on); `<image>-promote` on
release tags when `workflow.promote` is set; `notify-failure` when `workflow.notify` is set.
"""

from __future__ import annotations

import io
import posixpath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from components.pins import uses
from components.settings import (
    INSTANCE_VARIABLE,
    PASSWORD_SECRET,
    PROVIDER_VARIABLE,
    REGION_VARIABLE,
    REGISTRY_VARIABLE,
    ROLE_VARIABLE,
    STS_AUDIENCE,
    USER_SECRET,
    Image,
    Notify,
    Promote,
    Settings,
    platform_key,
)

# docker/metadata-action tag rules: the branch name and the short commit SHA on branch builds
# (a release tag's run must not push the `sha-` tag again: the branch run owns it, and an
# immutable repository refuses it), the git tag and its semver forms on tag pushes (so a tag
# run always has a tag, semver or not), and `latest` only on the repository's default branch.
SHA_ON_BRANCHES = "type=sha,enable=${{ github.ref_type != 'tag' }}"
TAG_RULES = (
    "type=ref,event=branch",
    "type=ref,event=tag",
    SHA_ON_BRANCHES,
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=raw,value=latest,enable={{is_default_branch}}",
)
# An immutable repository is for tags that never move: the commit and the full version (no
# branch name, no `1.2` that follows patch releases, and no `latest`: ACR exempts `latest`
# from immutability, but a tag that moves defeats the point).
IMMUTABLE_TAG_RULES = (SHA_ON_BRANCHES, "type=ref,event=tag", "type=semver,pattern={{version}}")

# Failure notification: the payload each webhook kind expects, built with jq from $TEXT.
NOTIFY_PAYLOADS = {
    "dingtalk": '{msgtype: "text", text: {content: $text}}',
    "feishu": '{msg_type: "text", content: {text: $text}}',
    "slack": "{text: $text}",
}
BUILDX_FOR_ATTESTATIONS = "v0.36.1"
# What aliyun/configure-aliyun-credentials-action exports (index.js, setOutput).
EXPORTED_CREDENTIALS = tuple(
    f"{prefix}_{name}"
    for prefix, names in (
        ("ALIBABA_CLOUD", ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SECURITY_TOKEN")),
        ("ALICLOUD", ("ACCESS_KEY", "SECRET_KEY", "SECURITY_TOKEN")),
        ("ALIBABACLOUD", ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SECURITY_TOKEN")),
    )
    for name in names
)
RETRY_PAUSE = 30
"""Seconds before the one retry of a push or a merge (a registry's hiccup, not a real failure)."""


def _step(
    name: str,
    action: str,
    mode: str,
    with_: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> CommentedMap:
    """A `uses:` step; `fields` (id, if, ...) go between its name and `uses`."""
    step = CommentedMap()
    step["name"] = name
    step.update(fields or {})
    ref, comment = uses(action, mode)
    step["uses"] = ref
    if comment:
        step.yaml_add_eol_comment(comment, "uses")
    if with_:
        step["with"] = CommentedMap(with_)
    return step


def _run(
    name: str, lines: list[str], fields: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> CommentedMap:
    step = CommentedMap(name=name)
    step.update(fields or {})
    if env:
        step["env"] = CommentedMap(env)
    step["run"] = _block(lines)
    return step


def _checkout(mode: str, **with_: Any) -> CommentedMap:
    # No token left in .git/config for later steps to read (zizmor: artipacked).
    return _step("Check out", "actions/checkout", mode, {"persist-credentials": False, **with_})


def _block(lines: list[str] | tuple[str, ...]) -> str:
    """A multi-line value, emitted as a `|` block."""
    return LiteralScalarString("".join(f"{line}\n" for line in lines))  # type: ignore[no-any-return]


def _var(name: str) -> str:
    return f"${{{{ vars.{name} }}}}"


def _image(image: Image) -> str:
    return f"{_var(REGISTRY_VARIABLE)}/{_var(image.variable)}"


def _job(settings: Settings, name: str, timeout: int, runner: str | None = None) -> CommentedMap:
    job = CommentedMap(name=name)
    job["runs-on"] = runner or settings.workflow.runner
    job["timeout-minutes"] = timeout
    return job


def _filters(settings: Settings) -> str:
    """dorny/paths-filter's `filters` input is YAML in a string; emit it with the library too."""
    data = CommentedMap((image.key, CommentedSeq(settings.paths(image))) for image in settings.images)
    return _block(_dump(data).splitlines())


def _changes_job(settings: Settings) -> CommentedMap:
    """Which images changed since the last successful build of this branch.

    Not since the previous push: superseded runs are cancelled, and a cancelled or failed
    run must not lose its changes. Detection fails open: with no result (first run, a
    rewritten history, an API error), every image builds.
    """
    mode = settings.workflow.pin_actions
    job = _job(settings, "Detect changed images", settings.workflow.timeout_minutes.changes)
    # Tag pushes and manual runs build every image, so only branch pushes need a filter.
    job.insert(1, "if", "${{ github.event_name == 'push' && github.ref_type == 'branch' }}")
    job["permissions"] = CommentedMap([("contents", "read"), ("actions", "read")])  # actions: run history
    job["outputs"] = CommentedMap(
        (image.key, f"${{{{ steps.filter.outputs.{image.key} }}}}") for image in settings.images
    )
    # The REST API, not `gh run list --status` (gh 2.26+): older gh on a self-hosted runner
    # would make every image build without a word.
    last = _run(
        "Find the last successful build of this branch",
        [
            'sha=$(gh api --method GET "repos/$GITHUB_REPOSITORY/actions/workflows/$WORKFLOW/runs" \\',
            '  -f branch="$BRANCH" -f status=success -f per_page=1 \\',
            "  --jq '.workflow_runs[0].head_sha // empty')",
            'echo "sha=$sha" >> "$GITHUB_OUTPUT"',
        ],
        {"id": "last", "continue-on-error": True},
        {
            "GH_TOKEN": "${{ github.token }}",
            "WORKFLOW": posixpath.basename(settings.workflow_path),
            "BRANCH": "${{ github.ref_name }}",
        },
    )
    filter_step = _step(
        "Filter changed paths",
        "dorny/paths-filter",
        mode,
        {"base": "${{ steps.last.outputs.sha }}", "filters": _filters(settings)},
        {"id": "filter", "if": "${{ steps.last.outputs.sha != '' }}", "continue-on-error": True},
    )
    # Full history, so the last built commit is present locally and paths-filter never has
    # to fetch (the checkout keeps no credentials to fetch with).
    job["steps"] = CommentedSeq([_checkout(mode, **{"fetch-depth": 0}), last, filter_step])
    return job


def _pushes(settings: Settings, job: CommentedMap) -> None:
    """What a job that pushes has: the environment, and with OIDC the right to an ID token
    (jobs that push, and only they)."""
    if settings.github.environment:
        job["environment"] = settings.github.environment
    job["permissions"] = CommentedMap(contents="read")
    if settings.auth.mode == "oidc":
        job["permissions"]["id-token"] = "write"


def _login(settings: Settings) -> list[CommentedMap]:
    """The steps that log in to the registry: the only ones that see a credential."""
    mode = settings.workflow.pin_actions
    # The attestation opt-out (BUILDX_NO_DEFAULT_OCI_ARTIFACT) needs buildx 0.36.1 or newer,
    # not whatever the runner image carries.
    # Downloaded afresh, not from the Actions cache another run could have poisoned (zizmor).
    buildx = (
        {"version": BUILDX_FOR_ATTESTATIONS, "cache-binary": False}
        if settings.workflow.attestations
        else None
    )
    setup = _step("Set up Docker Buildx", "docker/setup-buildx-action", mode, buildx)
    if settings.auth.mode == "password":
        login = {
            "registry": _var(REGISTRY_VARIABLE),
            "username": f"${{{{ secrets.{USER_SECRET} }}}}",
            "password": f"${{{{ secrets.{PASSWORD_SECRET} }}}}",
        }
        return [
            setup,
            _step("Log in to Alibaba Cloud Container Registry", "docker/login-action", mode, login),
        ]
    # GitHub's OIDC token -> STS credentials of the stack's RAM role -> a temporary registry login.
    credentials = {
        "role-to-assume": _var(ROLE_VARIABLE),
        "oidc-provider-arn": _var(PROVIDER_VARIABLE),
        "audience": STS_AUDIENCE,
        "role-session-expiration": settings.auth.session_seconds,
    }
    outputs = "${{ steps.aliyun.outputs.aliyun-%s }}"
    login = {
        "login-server": _var(REGISTRY_VARIABLE),
        "region-id": _var(REGION_VARIABLE),
        "instance-id": _var(INSTANCE_VARIABLE),
        "access-key-id": outputs % "access-key-id",
        "access-key-secret": outputs % "access-key-secret",
        "security-token": outputs % "security-token",
    }
    trade = "Trade the job's OIDC token for temporary credentials"
    # The credentials action also exports the STS credentials to every later step; once docker
    # is logged in, nothing else needs them.
    forget = _run(
        "Keep the temporary credentials from the steps that follow",
        [f'echo "{name}=" >> "$GITHUB_ENV"' for name in EXPORTED_CREDENTIALS],
    )
    return [
        setup,
        _step(trade, "aliyun/configure-aliyun-credentials-action", mode, credentials, {"id": "aliyun"}),
        _step("Log in to Alibaba Cloud Container Registry", "aliyun/acr-login", mode, login),
        forget,
    ]


def _metadata(settings: Settings, image: Image) -> CommentedMap:
    labels = {"labels": _block([f"{k}={v}" for k, v in image.labels.items()])} if image.labels else {}
    tags: tuple[str, ...] = IMMUTABLE_TAG_RULES if image.immutable_tags else TAG_RULES
    if not settings.workflow.branch_builds and not image.immutable_tags:
        # No branch run owns `sha-`: the tag runs push it, so a release can be promoted from it.
        # (Not into an immutable repository: a second release tag of the commit would push it
        # again, as another image, and be refused.)
        tags = tuple("type=sha" if rule == SHA_ON_BRANCHES else rule for rule in tags)
    meta = {
        "images": _image(image),
        # Only the rules below decide `latest` (the default would add it on tags too).
        "flavor": "latest=false",
        "tags": _block(tags),
        **labels,
    }
    return _step(
        "Extract image metadata",
        "docker/metadata-action",
        settings.workflow.pin_actions,
        meta,
        {"id": "meta"},
    )


NOT_ALL_PUSHED = "${{ steps.pushed.outputs.all != 'true' }}"
"""The condition of the steps that push, where `_already_pushed` runs first."""


def _already_pushed(image: Image) -> list[CommentedMap]:
    """An immutable repository refuses a tag it has, so a re-run (or a manual run of a commit
    already built) pushes nothing and succeeds."""
    if not image.immutable_tags:
        return []
    return [
        _run(
            "Skip tags already pushed (the repository's tags are immutable)",
            [
                'for tag in $(jq -r ".tags[]" <<< "$DOCKER_METADATA_OUTPUT_JSON"); do',
                '  if ! docker buildx imagetools inspect "$tag" > /dev/null 2>&1; then',
                '    echo "all=false" >> "$GITHUB_OUTPUT"',
                "    exit 0",
                "  fi",
                "done",
                'echo "::notice::every tag of this run is pushed already (immutable tags: not again)"',
                'echo "all=true" >> "$GITHUB_OUTPUT"',
            ],
            {"id": "pushed"},
        )
    ]


def _build_push(
    settings: Settings, image: Image, platforms: tuple[str, ...], scope: str, by_digest: bool
) -> list[CommentedMap]:
    """docker/build-push-action, and one retry after a pause (the BuildKit cache makes the second
    attempt cheap)."""
    build: dict[str, Any] = {
        "context": image.context,
        "file": image.dockerfile,
        "platforms": ",".join(platforms),
    }
    if by_digest:
        # Pushed by digest, with no tag: the merge job tags the multi-arch image.
        build["tags"] = _image(image)
        build["outputs"] = "type=image,push-by-digest=true,name-canonical=true,push=true"
    else:
        build["push"] = True
        build["tags"] = "${{ steps.meta.outputs.tags }}"
    build["labels"] = "${{ steps.meta.outputs.labels }}"
    if image.build_args:
        # Plain text in the workflow: build arguments are never secrets.
        build["build-args"] = _block([f"{name}={value}" for name, value in image.build_args.items()])
    if image.target:
        build["target"] = image.target
    if settings.cache:
        build["cache-from"] = f"type=gha,scope={scope}"
        build["cache-to"] = f"type=gha,mode=max,scope={scope}"
    fields: dict[str, Any] = {}
    if settings.workflow.attestations:
        build["provenance"] = "mode=max"
        build["sbom"] = True
        # ACR refuses the OCI-artifact form of attestation manifests that BuildKit pushes by
        # default; buildx's opt-out stores them the older way, which ACR accepts.
        fields["env"] = CommentedMap(BUILDX_NO_DEFAULT_OCI_ARTIFACT="true")
    else:
        # ACR refuses the OCI attestation manifests BuildKit pushes by default
        # ("unknown manifest class"), after the layers are already up.
        build["provenance"] = False
        build["sbom"] = False
    mode = settings.workflow.pin_actions
    skip = image.immutable_tags and not by_digest
    first = {"id": "push", "continue-on-error": True, **({"if": NOT_ALL_PUSHED} if skip else {}), **fields}
    again = {"id": "retry", "if": "${{ steps.push.outcome == 'failure' }}", **fields}
    pause = _run(
        "Pause before the retry", [f"sleep {RETRY_PAUSE}"], {"if": "${{ steps.push.outcome == 'failure' }}"}
    )
    return [
        _step("Build and push", "docker/build-push-action", mode, build, first),
        pause,
        _step("Build and push (retry)", "docker/build-push-action", mode, build, again),
    ]


def _when(settings: Settings, image: Image, job: CommentedMap) -> None:
    """When an image's build runs: on a branch push when its files changed (an unanswered
    filter builds), on every release tag, on manual runs; never when the release was promoted.
    A stack that builds only on tags builds manual runs of a tag only."""
    needs = (["changes"] if settings.workflow.branch_builds else []) + (
        [f"{image.key}-promote"] if settings.workflow.promote else []
    )
    rules = [
        "(github.event_name != 'push' || github.ref_type == 'tag' "
        f"|| needs.changes.outputs.{image.key} != 'false')"
        if settings.workflow.branch_builds
        else "github.ref_type == 'tag'"
    ]
    if settings.workflow.promote:
        # A failed promotion (no image, and building disabled) builds nothing either.
        rules.append(f"needs.{image.key}-promote.result != 'failure'")
        rules.append(f"needs.{image.key}-promote.outputs.promoted != 'true'")
    if needs:
        job.insert(1, "needs", needs[0] if len(needs) == 1 else CommentedSeq(needs))
        # !cancelled() instead of the implicit success(): the changes job is skipped on tags
        # and manual runs, and a skipped or even failed detection must not skip a build (it
        # fails open: an unanswered filter builds).
        rules.insert(0, "!cancelled()")
    job.insert(2 if needs else 1, "if", f"${{{{ {' && '.join(rules)} }}}}")


def _single_job(settings: Settings, image: Image) -> CommentedMap:
    """One job builds every platform of the image and pushes its tags: a single platform on its
    own runner, several (or any, with `workflow.emulate`) under QEMU on the linux/amd64 runner."""
    mode = settings.workflow.pin_actions
    platforms = ", ".join(image.platforms)
    native = len(image.platforms) == 1 and not settings.workflow.emulate
    runner = settings.workflow.runner_of.get(image.platforms[0]) if native else None
    job = _job(settings, f"Build and push {image.name}", settings.workflow.timeout_minutes.build, runner)
    _when(settings, image, job)
    _pushes(settings, job)
    steps = [_checkout(mode)]
    if runner is None and image.platforms != ("linux/amd64",):
        steps.append(_step(f"Set up QEMU ({platforms})", "docker/setup-qemu-action", mode))
    steps += [*_login(settings), _metadata(settings, image), *_already_pushed(image)]
    steps += _build_push(settings, image, image.platforms, settings.cache_scope(image), by_digest=False)
    job["steps"] = CommentedSeq(steps)
    return job


def _platform_job(settings: Settings, image: Image, platform: str) -> CommentedMap:
    """One platform of a multi-arch image, natively on its runner (QEMU where there is none),
    pushed by digest; the digest is the job's output."""
    mode = settings.workflow.pin_actions
    runner = settings.workflow.runner_of.get(platform)
    job = _job(settings, f"Build {image.name} ({platform})", settings.workflow.timeout_minutes.build, runner)
    _when(settings, image, job)
    _pushes(settings, job)
    job["outputs"] = CommentedMap(digest="${{ steps.push.outputs.digest || steps.retry.outputs.digest }}")
    steps = [_checkout(mode)]
    if runner is None:
        steps.append(_step(f"Set up QEMU ({platform})", "docker/setup-qemu-action", mode))
    steps += [*_login(settings), _metadata(settings, image)]
    steps += _build_push(settings, image, (platform,), settings.cache_scope(image, platform), by_digest=True)
    job["steps"] = CommentedSeq(steps)
    return job


def _retagged(create: str) -> list[str]:
    """Shell lines: run `create` (a `docker buildx imagetools create ...`), retried once."""
    return [
        "for attempt in 1 2; do",
        f"  if {create}; then break; fi",
        '  if [ "$attempt" = 2 ]; then exit 1; fi',
        f"  sleep {RETRY_PAUSE}",
        "done",
    ]


TAGS_AS_ARGS = 'mapfile -t tags < <(jq -r ".tags[] | \\"-t\\", ." <<< "$DOCKER_METADATA_OUTPUT_JSON")'


def _merge_job(settings: Settings, image: Image, builds: list[str]) -> CommentedMap:
    """The multi-arch image from the platforms' digests, under the image's tags (the job that
    other workflows depend on)."""
    job = _job(
        settings,
        f"Build and push {image.name} ({', '.join(image.platforms)})",
        settings.workflow.timeout_minutes.merge,
    )
    job.insert(1, "needs", CommentedSeq(builds))
    ok = " && ".join(f"needs.{b}.result == 'success'" for b in builds)
    # Not !failure(): it is true when any ancestor failed, and a failed `changes` job (which
    # the builds fail open on) must not leave the pushed platforms untagged.
    job.insert(2, "if", f"${{{{ !cancelled() && {ok} }}}}")
    _pushes(settings, job)
    merge = _run(
        "Create the multi-arch image from the platform digests",
        [
            TAGS_AS_ARGS,
            'read -ra digests <<< "$DIGESTS"',
            *_retagged('docker buildx imagetools create "${tags[@]}" "${digests[@]/#/$IMAGE@}"'),
        ],
        {"if": NOT_ALL_PUSHED} if image.immutable_tags else None,
        {"IMAGE": _image(image), "DIGESTS": " ".join(f"${{{{ needs.{b}.outputs.digest }}}}" for b in builds)},
    )
    job["steps"] = CommentedSeq(
        [*_login(settings), _metadata(settings, image), *_already_pushed(image), merge]
    )
    return job


def _promote_job(settings: Settings, image: Image, promote: Promote) -> CommentedMap:
    """On a release tag: an image already built from the same inputs, in this stack's repository
    or another stack's, retagged as the release without a rebuild.

    Branch runs tag an image `sha-<commit of their push>`, and build only the images whose files
    changed, so the image of the tagged commit may be under the `sha-` of an older commit: any
    of the last 50 whose files under the image's paths are the tagged commit's (`git diff`, so
    a merge's other parent, built without the merged change, is never taken), newest first."""
    mode = settings.workflow.pin_actions
    job = _job(settings, f"Promote {image.name} (release tag)", settings.workflow.timeout_minutes.merge)
    job.insert(1, "if", "${{ github.ref_type == 'tag' }}")
    _pushes(settings, job)
    job["outputs"] = CommentedMap(promoted="${{ steps.promote.outputs.promoted }}")
    sources = [
        _image(image),
        *(f"{_var(REGISTRY_VARIABLE)}/{ns}/{image.name}" for ns in promote.from_namespaces),
    ]
    create = 'docker buildx imagetools create "${tags[@]}" "$source:$candidate"'
    script = [
        'mapfile -t pathspecs < <(printf "%s" "$PATHSPECS")',
        "candidates=()",
        "for commit in $(git rev-list --max-count=50 HEAD); do",
        '  if git diff --quiet "$commit" HEAD -- "${pathspecs[@]}"; then',
        '    candidates+=("sha-${commit::7}")',
        "  fi",
        "done",
        TAGS_AS_ARGS,
        'mapfile -t sources < <(printf "%s" "$SOURCES")',
        'for source in "${sources[@]}"; do',
        '  for candidate in "${candidates[@]}"; do',
        '    if ! docker buildx imagetools inspect "$source:$candidate" > /dev/null 2>&1; then continue; fi',
        *(f"    {line}" for line in _retagged(create)),
        '    echo "::notice::released $source:$candidate as it is: no rebuild"',
        '    echo "promoted=true" >> "$GITHUB_OUTPUT"',
        "    exit 0",
        "  done",
        "done",
        'echo "promoted=false" >> "$GITHUB_OUTPUT"',
        'if [ "$BUILD" != true ]; then',
        '  echo "::error::no image of this commit (${candidates[*]}) in $SOURCES; promote.build is false"',
        "  exit 1",
        "fi",
        'echo "::notice::no image of this commit yet: building it"',
    ]
    env = {
        "SOURCES": _block(sources),
        "PATHSPECS": _block([f":(glob){path}" for path in settings.paths(image)]),
        "BUILD": "true" if promote.build else "false",
    }
    step = _run("Retag the image built from this commit", script, {"id": "promote"}, env)
    already = []
    if image.immutable_tags:
        # A re-run of a release whose tags exist already: promoted, as far as the builds know.
        already = _already_pushed(image)
        step["if"] = NOT_ALL_PUSHED
        done = "steps.pushed.outputs.all == 'true'"
        job["outputs"]["promoted"] = f"${{{{ {done} && 'true' || steps.promote.outputs.promoted }}}}"
    # Full history: the last 50 commits, to compare with the tagged one.
    job["steps"] = CommentedSeq(
        [_checkout(mode, **{"fetch-depth": 0}), *_login(settings), _metadata(settings, image), *already, step]
    )
    return job


def _image_jobs(settings: Settings, image: Image) -> dict[str, CommentedMap]:
    jobs: dict[str, CommentedMap] = {}
    if settings.workflow.promote:
        jobs[f"{image.key}-promote"] = _promote_job(settings, image, settings.workflow.promote)
    if len(image.platforms) == 1 or settings.workflow.emulate:
        jobs[image.job_id] = _single_job(settings, image)
        return jobs
    builds = {
        f"{image.key}-build-{platform_key(p)}": _platform_job(settings, image, p) for p in image.platforms
    }
    jobs.update(builds)
    jobs[image.job_id] = _merge_job(settings, image, list(builds))
    return jobs


def _notify_job(settings: Settings, notify: Notify, needs: list[str]) -> CommentedMap:
    job = _job(settings, "Notify on failure", settings.workflow.timeout_minutes.notify)
    job.insert(1, "needs", CommentedSeq(needs))
    job.insert(2, "if", "${{ failure() }}")
    # No environment: a failure notice must not wait for a reviewer; the webhook secret is
    # therefore a repository secret.
    job["permissions"] = CommentedMap()
    # Values reach the shell through env, never spliced into the script (no injection).
    text = (
        "build-push failed: ${{ github.repository }} ${{ github.ref_name }} "
        "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}"
    )
    step = _run(
        f"Post to the {notify.kind} webhook",
        [
            f"jq -n --arg text \"$TEXT\" '{NOTIFY_PAYLOADS[notify.kind]}' |",
            "  curl --fail --silent --show-error --max-time 30 \\",
            "    -H 'Content-Type: application/json' --data @- \"$WEBHOOK_URL\"",
        ],
        env={"WEBHOOK_URL": f"${{{{ secrets.{notify.secret} }}}}", "TEXT": text},
    )
    job["steps"] = CommentedSeq([step])
    return job


def workflow(settings: Settings, adopted_name: str | None = None) -> CommentedMap:
    """The workflow as an ordered mapping (what `render` emits). Its name is the configured
    one, else that of the workflow it takes over (`adopt`), else `build-push (<stack>)`."""
    doc = CommentedMap()
    doc["name"] = settings.workflow.name or adopted_name or f"build-push ({settings.stack})"
    push = CommentedMap()
    if settings.workflow.branch_builds:
        push["branches"] = CommentedSeq([settings.github.branch])
    if settings.workflow.tags:
        push["tags"] = CommentedSeq(settings.workflow.tags)
    doc["on"] = CommentedMap(push=push, workflow_dispatch=None)
    doc["permissions"] = CommentedMap(contents="read")
    doc["concurrency"] = CommentedMap(
        [("group", "${{ github.workflow }}-${{ github.ref }}"), ("cancel-in-progress", True)]
    )
    jobs = CommentedMap()
    if settings.workflow.branch_builds:
        jobs["changes"] = _changes_job(settings)
    for image in settings.images:
        jobs.update(_image_jobs(settings, image))
    if settings.workflow.notify:
        jobs["notify-failure"] = _notify_job(settings, settings.workflow.notify, list(jobs))
    doc["jobs"] = jobs
    doc.yaml_set_start_comment(
        f"Managed by acr-pipeline (Pulumi stack '{settings.stack}'): edit the stack config and run\n"
        "`pulumi up`, not this file; manual changes are overwritten."
    )
    return doc


def _dump(data: Any) -> str:
    yaml = YAML()
    yaml.width = 4096  # never fold long expressions
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def render(settings: Settings, adopted_name: str | None = None) -> str:
    """The workflow file's exact text."""
    return _dump(workflow(settings, adopted_name))
