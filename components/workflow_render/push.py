"""The steps of a build that holds registry credentials, each written once for every image (the
image comes from `matrix`, a row of components/workflow_render/table.py): the login (the only
steps that see a credential), the image's metadata and tags, the build, the push by digest with
its one retry, the multi-arch image created once every build of it is pushed, and what was
pushed published for the image's check."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap

from components.contract import (
    INSTANCE_VARIABLE,
    PASSWORD_SECRET,
    PROVIDER_VARIABLE,
    REGION_VARIABLE,
    REGISTRY_VARIABLE,
    ROLE_VARIABLE,
    STS_AUDIENCE,
    USER_SECRET,
)
from components.settings import Settings
from components.workflow_render.parts import block, expression, run, script, step, var
from components.workflow_render.table import any_row, by_digest, rows

# A release tag's run does not push `sha-` again: the branch run of the commit owns it (pushing
# it with other labels would make it another image, and an immutable repository refuses it).
SHA_ON_BRANCHES = "type=sha,enable=${{ github.ref_type != 'tag' }}"
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
PUSHED = "steps.push.outputs.digest || steps.retry.outputs.digest"
"""The digest the push (or its retry) gave the build."""
IMAGE = f"{var(REGISTRY_VARIABLE)}/${{{{ vars[matrix.variable] }}}}"
"""The image of the build in the registry, from the stack's variables."""
TAGS = "${{ steps.meta.outputs.tags }}"


def holds_credentials(settings: Settings, job: CommentedMap, signs: bool = False) -> None:
    """What a job that logs in has: the environment (whose secrets, protections and OIDC
    subject it gets), and the right to an ID token where it needs one (with OIDC, to log in; to
    sign, the jobs that sign): these jobs, and only they."""
    if settings.github.environment:
        job["environment"] = settings.github.environment
    job["permissions"] = CommentedMap(contents="read")
    if settings.auth.mode == "oidc" or signs:
        job["permissions"]["id-token"] = "write"


def identity(settings: Settings, any_workflow: bool = False) -> str:
    """Whose signature an image must carry, as `cosign verify --certificate-identity-regexp`
    reads it (anchored): the keyless certificate of a GitHub Actions run names its workflow file
    and ref, `https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>` (Fulcio,
    pkg/identity/github/principal.go). This stack's workflow on its branch and its release
    tags; `any_workflow`: any workflow file of the repository (another stack's), any ref."""
    repo = re.escape(f"https://github.com/{settings.owner}/{settings.github.repository}/.github/workflows/")
    if any_workflow:
        return f"^{repo}[^/@]+@refs/(heads|tags)/.+$"
    file = re.escape(posixpath.basename(settings.workflow_path))
    refs = [f"heads/{re.escape(settings.github.branch)}"] if settings.workflow.branch_builds else []
    refs += ["tags/.+"] if settings.workflow.tags else []
    return f"^{repo}{file}@refs/({'|'.join(refs)})$"


def sign(settings: Settings, done: str, digest: str) -> list[CommentedMap]:
    """cosign, pinned like every action, then the signature of the image the build finished, by
    digest (scripts/sign.sh): once per image, by the build that created it."""
    condition = {"if": expression(done)}
    env = {"IMAGE": IMAGE, "DIGEST": digest, "RETRY_PAUSE": str(RETRY_PAUSE)}
    return [
        step("Install cosign", "sigstore/cosign-installer", settings.workflow.pin_actions, fields=condition),
        run("Sign the image by its digest", script("sign"), condition, env),
    ]


def login(settings: Settings, fields: dict[str, Any] | None = None) -> list[CommentedMap]:
    """Buildx and the registry login: the only steps that see a credential. `fields` go on the
    steps that may fail to log in (a verify run keeps going, to say why)."""
    mode = settings.workflow.pin_actions
    # The attestation opt-out (BUILDX_NO_DEFAULT_OCI_ARTIFACT) needs buildx 0.36.1 or newer,
    # not whatever the runner image carries; downloaded afresh, not from the Actions cache
    # another run could have poisoned (zizmor: cache-poisoning).
    buildx = (
        {"version": BUILDX_FOR_ATTESTATIONS, "cache-binary": False}
        if settings.workflow.attestations
        else None
    )
    setup = step("Set up Docker Buildx", "docker/setup-buildx-action", mode, buildx)
    title = "Log in to Alibaba Cloud Container Registry"
    if settings.auth.mode == "password":
        secrets = {
            "registry": var(REGISTRY_VARIABLE),
            "username": expression(f"secrets.{USER_SECRET}"),
            "password": expression(f"secrets.{PASSWORD_SECRET}"),
        }
        return [setup, step(title, "docker/login-action", mode, secrets, {"id": "login", **(fields or {})})]
    # GitHub's OIDC token -> STS credentials of the stack's RAM role -> a temporary registry login.
    credentials = {
        "role-to-assume": var(ROLE_VARIABLE),
        "oidc-provider-arn": var(PROVIDER_VARIABLE),
        "audience": STS_AUDIENCE,
        "role-session-expiration": settings.auth.session_seconds,
    }
    output = "steps.aliyun.outputs.aliyun-%s"
    temporary = {
        "login-server": var(REGISTRY_VARIABLE),
        "region-id": var(REGION_VARIABLE),
        "instance-id": var(INSTANCE_VARIABLE),
        **{k: expression(output % k) for k in ("access-key-id", "access-key-secret", "security-token")},
    }
    trade = "Trade the job's OIDC token for temporary credentials"
    forget = run(
        "Keep the temporary credentials from the steps that follow",
        script("forget-credentials"),
        env={"CREDENTIALS": " ".join(EXPORTED_CREDENTIALS)},
    )
    return [
        setup,
        step(
            trade,
            "aliyun/configure-aliyun-credentials-action",
            mode,
            credentials,
            {"id": "aliyun", **(fields or {})},
        ),
        step(title, "aliyun/acr-login", mode, temporary, {"id": "login", **(fields or {})}),
        forget,
    ]


CURRENT = "needs.changes.outputs.current == 'true'"
"""The run's commit is the head of its branch (scripts/head.sh): only then do the tags that
follow the branch move."""


def tag_rules(settings: Settings) -> list[str]:
    """docker/metadata-action's tag rules: the branch name and `sha-<short sha>` on branch builds,
    the git tag and its semver forms on tag pushes, `latest` only on the default branch. The
    branch's tag and `latest` move only when the run's commit is still the branch's head (an
    older run re-run pushes its `sha-` alone). An immutable image gets only the tags that never
    move (`sha-`, the git tag, the full version): where a stack has both kinds, the others are
    switched off for it by `matrix.immutable`."""
    kinds = {bool(row.get("immutable")) for row in rows(settings)}
    follows = [CURRENT] if settings.workflow.branch_builds else []

    def moving(rule: str, template: str = "", head: bool = False) -> list[str]:
        """A rule an immutable image does not get (`head`: nor an older commit's run)."""
        if kinds == {True}:
            return []
        when = [*(["!matrix.immutable"] if kinds == {True, False} else []), *(follows if head else [])]
        if not when:
            return [f"{rule},enable={template}" if template else rule]
        # metadata-action reads whatever GitHub leaves: `true`/`false`, or its own template.
        condition = " && ".join(when)
        enable = f"{condition} && '{template}' || 'false'" if template else condition
        return [f"{rule},enable=${{{{ {enable} }}}}"]

    if settings.workflow.branch_builds:
        sha = [SHA_ON_BRANCHES]
    elif kinds == {True}:
        # No branch run, and a second release tag of the commit would push `sha-` again, as
        # another image, which the immutable repository refuses.
        sha = []
    else:
        # No branch run owns `sha-`: the tag runs push it, so that a release can be promoted from it.
        sha = moving("type=sha")
    return [
        *moving("type=ref,event=branch", head=True),
        "type=ref,event=tag",
        *sha,
        "type=semver,pattern={{version}}",
        *moving("type=semver,pattern={{major}}.{{minor}}"),
        *moving("type=raw,value=latest", "{{is_default_branch}}", head=True),
    ]


def metadata(settings: Settings) -> CommentedMap:
    meta = {
        "images": IMAGE,
        # Only the rules decide `latest` (the default would add it on tags too).
        "flavor": "latest=false",
        "tags": block(tag_rules(settings)),
    }
    if any_row(settings, "labels"):
        meta["labels"] = "${{ matrix.labels }}"
    return step(
        "Extract image metadata",
        "docker/metadata-action",
        settings.workflow.pin_actions,
        meta,
        {"id": "meta"},
    )


def build_options(settings: Settings, write_cache: bool) -> dict[str, Any]:
    """The inputs of a build beyond where it goes, from the build's row: build arguments, target,
    cache, attestations."""
    out: dict[str, Any] = {
        "context": "${{ matrix.context }}",
        "file": "${{ matrix.file }}",
        "platforms": "${{ matrix.platforms }}",
    }
    if any_row(settings, "target"):
        out["target"] = "${{ matrix.target }}"
    if any_row(settings, "buildArgs"):
        out["build-args"] = "${{ matrix.buildArgs }}"
    if settings.cache:
        out["cache-from"] = "type=gha,scope=${{ matrix.cache }}"
        if write_cache:
            out["cache-to"] = "type=gha,mode=max,scope=${{ matrix.cache }}"
    if settings.workflow.attestations and write_cache:
        out["provenance"] = "mode=max"
        out["sbom"] = True
    else:
        # ACR refuses the OCI attestation manifests BuildKit pushes by default
        # ("unknown manifest class"), after the layers are already up.
        out["provenance"] = False
        out["sbom"] = False
    return out


def build_push(settings: Settings, fields: dict[str, Any]) -> list[CommentedMap]:
    """The build, then its push with one retry: a Dockerfile that fails, fails once and at once;
    a push that fails for the registry or the network is tried again after a pause (the second
    build of the same inputs is all BuildKit cache: only the push is done again). By digest, with
    no tag, where the image is created once every build of it is in (`by_digest`); else under
    its tags. `fields` go on the build and the push (the condition of a promotion's builds)."""
    mode = settings.workflow.pin_actions
    build = {**build_options(settings, write_cache=True), "labels": "${{ steps.meta.outputs.labels }}"}
    # The same build, all in BuildKit's cache by now, pushed.
    push = {k: v for k, v in build.items() if not k.startswith("cache-")}
    if by_digest(settings):
        push["tags"] = IMAGE
        push["outputs"] = "type=image,push-by-digest=true,name-canonical=true,push=true"
        title = "Push by digest"
    else:
        push["tags"] = TAGS
        push["push"] = True
        title = "Push"
    env: dict[str, Any] = {}
    if settings.workflow.attestations:
        # ACR refuses the OCI-artifact form of attestation manifests that BuildKit pushes by
        # default; buildx's opt-out stores them the older way, which ACR accepts.
        env["env"] = CommentedMap(BUILDX_NO_DEFAULT_OCI_ARTIFACT="true")
    failed = "${{ steps.push.outcome == 'failure' }}"
    return [
        step("Build", "docker/build-push-action", mode, build, {"id": "build", **fields, **env}),
        step(
            title,
            "docker/build-push-action",
            mode,
            push,
            {"id": "push", "continue-on-error": True, **fields, **env},
        ),
        run("Pause before pushing again", f"sleep {RETRY_PAUSE}", {"if": failed}),
        step(
            f"{title} (again)", "docker/build-push-action", mode, push, {"id": "retry", "if": failed, **env}
        ),
    ]


def merge(settings: Settings) -> list[CommentedMap]:
    """The image under its tags, once every build of it is in: each build publishes its digest
    (or the image it found to release) as an artifact of the run and collects those of its image
    published so far; the one that finds all of them creates the image (scripts/merge.sh), so
    every job that holds credentials runs in one wave and a reviewed release asks for one
    approval."""
    mode = settings.workflow.pin_actions
    digests = "${{ runner.temp }}/digests"
    record = 'mkdir -p "$RUNNER_TEMP/digest" && printf \'%s\\n\' "$DIGEST" > "$RUNNER_TEMP/digest/$LEG"'
    recorded = {"DIGEST": expression(PUSHED), "LEG": "${{ matrix.leg }}"}
    if settings.workflow.promote:
        # A build that found the commit's image records it instead: its digest, and its tag.
        record = record.replace("'%s\\n' \"$DIGEST\"", '\'%s %s\\n\' "$DIGEST" "$RELEASED"')
        recorded = {
            "DIGEST": expression(f"steps.promote.outputs.digest || {PUSHED}"),
            "RELEASED": "${{ steps.promote.outputs.released }}",
            "LEG": "${{ matrix.leg }}",
        }
    return [
        run("Record the digest", record, env=recorded),
        step(
            "Publish the digest to the image's other builds",
            "actions/upload-artifact",
            mode,
            {
                "name": "digest.${{ matrix.key }}.${{ matrix.leg }}",
                "path": "${{ runner.temp }}/digest/${{ matrix.leg }}",
                "if-no-files-found": "error",
                "retention-days": 1,
                # A re-run of this build replaces its digest.
                "overwrite": True,
            },
        ),
        # This run's artifacts only: no token, no other run's files.
        step(
            "Collect the digests of the image's builds published so far",
            "actions/download-artifact",
            mode,
            {"pattern": "digest.${{ matrix.key }}.*", "path": digests, "merge-multiple": True},
        ),
        run(
            "Create the image once every build of it is pushed",
            script("merge"),
            {"id": "merge"},
            {
                "IMAGE": IMAGE,
                "LEGS": "${{ matrix.legs }}",
                "DIGESTS": digests,
                "TAGS": TAGS,
                "IMMUTABLE": "${{ matrix.immutable || false }}",
                "REVISION": "${{ github.sha }}",
                "RETRY_PAUSE": str(RETRY_PAUSE),
            },
        ),
    ]


def summary(done: str, digest: str, **env: str) -> CommentedMap:
    """The job summary of what the build pushed, created or released (reference, tags, digest,
    platforms, the `docker pull` line): once per image, by the build that finished it."""
    values = {
        "IMAGE": IMAGE,
        "TAGS": TAGS,
        "DIGEST": digest,
        "PLATFORMS": "${{ matrix.all || matrix.platforms }}",
        **env,
    }
    return run("Summarize what was pushed", script("summary"), {"if": expression(done)}, values)
