"""The committed `build-push` workflow, rendered from settings by a pure function.

The workflow is built as a data structure and emitted by ruamel.yaml, so every value that
comes from configuration is quoted by the emitter, never spliced into YAML text. The same
settings always give the same bytes (no timestamps, fixed key order), so a second
`pulumi up` shows no change.
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
    Settings,
)

RUNNER = "ubuntu-latest"

# docker/metadata-action tag rules: the branch name and the short commit SHA on every
# build, semver tags on tag pushes, and `latest` only on the repository's default branch.
TAG_RULES = (
    "type=ref,event=branch",
    "type=sha",
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=raw,value=latest,enable={{is_default_branch}}",
)
# An immutable repository is for tags that never move: the commit and the full version (no
# branch name, no `1.2` that follows patch releases, and no `latest`: ACR exempts `latest`
# from immutability, but a tag that moves defeats the point).
IMMUTABLE_TAG_RULES = (
    "type=sha",
    "type=semver,pattern={{version}}",
)

# Failure notification: the payload each webhook kind expects, built with jq from $TEXT.
NOTIFY_PAYLOADS = {
    "dingtalk": '{msgtype: "text", text: {content: $text}}',
    "feishu": '{msg_type: "text", content: {text: $text}}',
    "slack": "{text: $text}",
}


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


def _checkout(mode: str, **with_: Any) -> CommentedMap:
    # No token left in .git/config for later steps to read (zizmor: artipacked).
    return _step("Check out", "actions/checkout", mode, {"persist-credentials": False, **with_})


def _block(lines: list[str] | tuple[str, ...]) -> str:
    """A multi-line input, emitted as a `|` block."""
    return LiteralScalarString("".join(f"{line}\n" for line in lines))  # type: ignore[no-any-return]


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
    job = CommentedMap()
    job["name"] = "Detect changed images"
    # Tag pushes and manual runs build every image, so only branch pushes need a filter.
    job["if"] = "${{ github.event_name == 'push' && github.ref_type == 'branch' }}"
    job["runs-on"] = RUNNER
    job["permissions"] = CommentedMap([("contents", "read"), ("actions", "read")])  # actions: run history
    job["outputs"] = CommentedMap(
        (image.key, f"${{{{ steps.filter.outputs.{image.key} }}}}") for image in settings.images
    )
    last = CommentedMap()
    last["name"] = "Find the last successful build of this branch"
    last["id"] = "last"
    last["continue-on-error"] = True
    last["env"] = CommentedMap(
        [
            ("GH_TOKEN", "${{ github.token }}"),
            ("WORKFLOW", posixpath.basename(settings.workflow_path)),
            ("BRANCH", "${{ github.ref_name }}"),
        ]
    )
    last["run"] = _block(
        [
            'sha=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow "$WORKFLOW" --branch "$BRANCH" \\',
            "  --status success --limit 1 --json headSha --jq '.[0].headSha // empty')",
            'echo "sha=$sha" >> "$GITHUB_OUTPUT"',
        ]
    )
    filter_step = _step(
        "Filter changed paths",
        "dorny/paths-filter",
        mode,
        {"base": "${{ steps.last.outputs.sha }}", "filters": _filters(settings)},
        {"id": "filter", "if": "${{ steps.last.outputs.sha != '' }}", "continue-on-error": True},
    )
    job["steps"] = CommentedSeq(
        [
            # Full history, so the last built commit is present locally and paths-filter
            # never has to fetch (the checkout keeps no credentials to fetch with).
            _checkout(mode, **{"fetch-depth": 0}),
            last,
            filter_step,
        ]
    )
    return job


def _push_permissions(settings: Settings) -> CommentedMap:
    """A job that pushes reads the code; with OIDC it may also ask GitHub for an ID token
    (jobs that push, and only they)."""
    permissions = CommentedMap(contents="read")
    if settings.auth.mode == "oidc":
        permissions["id-token"] = "write"
    return permissions


def _var(name: str) -> str:
    return f"${{{{ vars.{name} }}}}"


def _login(settings: Settings) -> list[CommentedMap]:
    """The steps that log in to the registry: the only ones that see a credential."""
    mode = settings.workflow.pin_actions
    if settings.auth.mode == "password":
        login = {
            "registry": _var(REGISTRY_VARIABLE),
            "username": f"${{{{ secrets.{USER_SECRET} }}}}",
            "password": f"${{{{ secrets.{PASSWORD_SECRET} }}}}",
        }
        return [_step("Log in to Alibaba Cloud Container Registry", "docker/login-action", mode, login)]
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
    return [
        _step(
            "Trade the job's OIDC token for temporary credentials",
            "aliyun/configure-aliyun-credentials-action",
            mode,
            credentials,
            {"id": "aliyun"},
        ),
        _step("Log in to Alibaba Cloud Container Registry", "aliyun/acr-login", mode, login),
    ]


def _build_job(settings: Settings, image: Image) -> CommentedMap:
    mode = settings.workflow.pin_actions
    job = CommentedMap()
    job["name"] = f"Build and push {image.name}"
    if settings.workflow.branch_builds:
        job["needs"] = "changes"
        # !failure() && !cancelled() instead of the implicit success(): the changes job is
        # skipped on tags and manual runs, and a skipped need would otherwise skip this job.
        # Only an explicit "false" from the filter skips the build.
        job["if"] = (
            "${{ !failure() && !cancelled() && (github.event_name != 'push' || github.ref_type == 'tag' "
            f"|| needs.changes.outputs.{image.key} != 'false') }}}}"
        )
    job["runs-on"] = RUNNER
    if settings.github.environment:
        job["environment"] = settings.github.environment
    job["permissions"] = _push_permissions(settings)

    steps = CommentedSeq([_checkout(mode)])
    multi_arch = len(image.platforms) > 1
    if multi_arch:
        steps.append(_step("Set up QEMU", "docker/setup-qemu-action", mode))
    steps.append(_step("Set up Docker Buildx", "docker/setup-buildx-action", mode))
    steps += _login(settings)
    steps.append(
        _step(
            "Extract image metadata",
            "docker/metadata-action",
            mode,
            {
                "images": f"{_var(REGISTRY_VARIABLE)}/{_var(image.variable)}",
                # Only the rules below decide `latest` (the default would add it on tags too).
                "flavor": "latest=false",
                "tags": _block(IMMUTABLE_TAG_RULES if image.immutable_tags else TAG_RULES),
                **({"labels": _block([f"{k}={v}" for k, v in image.labels.items()])} if image.labels else {}),
            },
            {"id": "meta"},
        )
    )
    build: dict[str, Any] = {
        "context": image.context,
        "file": image.dockerfile,
        "platforms": ",".join(image.platforms),
        "push": True,
        "tags": "${{ steps.meta.outputs.tags }}",
        "labels": "${{ steps.meta.outputs.labels }}",
    }
    if image.build_args:
        # Plain text in the workflow: build arguments are never secrets.
        build["build-args"] = _block([f"{name}={value}" for name, value in image.build_args.items()])
    if image.target:
        build["target"] = image.target
    if settings.workflow.cache:
        build["cache-from"] = f"type=gha,scope={image.key}"
        build["cache-to"] = f"type=gha,mode=max,scope={image.key}"
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
    steps.append(_step("Build and push", "docker/build-push-action", mode, build, fields))
    job["steps"] = steps
    return job


def _notify_job(notify: Notify, needs: list[str]) -> CommentedMap:
    job = CommentedMap()
    job["name"] = "Notify on failure"
    job["needs"] = CommentedSeq(needs)
    job["if"] = "${{ failure() }}"
    job["runs-on"] = RUNNER
    # No environment: a failure notice must not wait for a reviewer; the webhook secret is
    # therefore a repository secret.
    job["permissions"] = CommentedMap()
    step = CommentedMap()
    step["name"] = f"Post to the {notify.kind} webhook"
    # Values reach the shell through env, never spliced into the script (no injection).
    step["env"] = CommentedMap(
        [
            ("WEBHOOK_URL", f"${{{{ secrets.{notify.secret} }}}}"),
            (
                "TEXT",
                "build-push failed: ${{ github.repository }} ${{ github.ref_name }} "
                "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}",
            ),
        ]
    )
    step["run"] = _block(
        [
            f"jq -n --arg text \"$TEXT\" '{NOTIFY_PAYLOADS[notify.kind]}' |",
            "  curl --fail --silent --show-error --max-time 30 \\",
            "    -H 'Content-Type: application/json' --data @- \"$WEBHOOK_URL\"",
        ]
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
        jobs[image.job_id] = _build_job(settings, image)
    if settings.workflow.notify:
        jobs["notify-failure"] = _notify_job(settings.workflow.notify, list(jobs))
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
