"""What a job that holds registry credentials is made of: its environment and permissions, the
login (the only steps that see a credential), the image's metadata and tags, the push with its
one retry, the immutable-repository check, and the job summary of what it pushed."""

from __future__ import annotations

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
from components.settings import Image, Settings
from components.workflow_render.parts import block, expression, run, script, step, var

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
NOT_ALL_PUSHED = "${{ steps.pushed.outputs.all != 'true' }}"
"""The condition of the steps that push, where `already_pushed` runs first."""
DIGEST = "${{ steps.push.outputs.digest || steps.retry.outputs.digest }}"
"""The digest the push (or its retry) gave the image."""


def image(image: Image) -> str:
    """The image's name in the registry, from the stack's variables."""
    return f"{var(REGISTRY_VARIABLE)}/{var(image.variable)}"


def holds_credentials(settings: Settings, job: CommentedMap) -> None:
    """What a job that logs in has: the environment (whose secrets, protections and OIDC
    subject it gets), and with OIDC the right to an ID token (these jobs, and only they)."""
    if settings.github.environment:
        job["environment"] = settings.github.environment
    job["permissions"] = CommentedMap(contents="read")
    if settings.auth.mode == "oidc":
        job["permissions"]["id-token"] = "write"


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


def metadata(settings: Settings, image_: Image) -> CommentedMap:
    labels = {"labels": block([f"{k}={v}" for k, v in image_.labels.items()])} if image_.labels else {}
    tags: tuple[str, ...] = IMMUTABLE_TAG_RULES if image_.immutable_tags else TAG_RULES
    if not settings.workflow.branch_builds and not image_.immutable_tags:
        # No branch run owns `sha-`: the tag runs push it, so a release can be promoted from it.
        # (Not into an immutable repository: a second release tag of the commit would push it
        # again, as another image, and be refused.)
        tags = tuple("type=sha" if rule == SHA_ON_BRANCHES else rule for rule in tags)
    meta = {
        "images": image(image_),
        # Only the rules above decide `latest` (the default would add it on tags too).
        "flavor": "latest=false",
        "tags": block(tags),
        **labels,
    }
    return step(
        "Extract image metadata",
        "docker/metadata-action",
        settings.workflow.pin_actions,
        meta,
        {"id": "meta"},
    )


TAGS = "${{ steps.meta.outputs.tags }}"


def already_pushed(image_: Image) -> list[CommentedMap]:
    """An immutable repository refuses a tag it has, so a re-run (or a manual run of a commit
    already built) pushes nothing and succeeds."""
    if not image_.immutable_tags:
        return []
    name = "Skip tags already pushed (the repository's tags are immutable)"
    return [run(name, script("already-pushed"), {"id": "pushed"}, {"TAGS": TAGS})]


def build_push(
    settings: Settings, image_: Image, platforms: tuple[str, ...], scope: str, by_digest: bool
) -> list[CommentedMap]:
    """docker/build-push-action, and one retry after a pause (the BuildKit cache makes the second
    attempt cheap)."""
    build: dict[str, Any] = {
        "context": image_.context,
        "file": image_.dockerfile,
        "platforms": ",".join(platforms),
    }
    if by_digest:
        # Pushed by digest, with no tag: the multi-arch image gets the tags.
        build["tags"] = image(image_)
        build["outputs"] = "type=image,push-by-digest=true,name-canonical=true,push=true"
    else:
        build["push"] = True
        build["tags"] = TAGS
    build["labels"] = "${{ steps.meta.outputs.labels }}"
    build.update(build_options(settings, image_, scope, write_cache=True))
    fields: dict[str, Any] = {}
    if settings.workflow.attestations:
        # ACR refuses the OCI-artifact form of attestation manifests that BuildKit pushes by
        # default; buildx's opt-out stores them the older way, which ACR accepts.
        fields["env"] = CommentedMap(BUILDX_NO_DEFAULT_OCI_ARTIFACT="true")
    mode = settings.workflow.pin_actions
    skip = image_.immutable_tags and not by_digest
    first = {"id": "push", "continue-on-error": True, **({"if": NOT_ALL_PUSHED} if skip else {}), **fields}
    failed = "${{ steps.push.outcome == 'failure' }}"
    return [
        step("Build and push", "docker/build-push-action", mode, build, first),
        run("Pause before the retry", f"sleep {RETRY_PAUSE}", {"if": failed}),
        step(
            "Build and push (retry)",
            "docker/build-push-action",
            mode,
            build,
            {"id": "retry", "if": failed, **fields},
        ),
    ]


def build_options(settings: Settings, image_: Image, scope: str, write_cache: bool) -> dict[str, Any]:
    """The inputs of a build beyond where it goes: build arguments, target, cache, attestations."""
    out: dict[str, Any] = {}
    if image_.build_args:
        # Plain text in the workflow: build arguments are never secrets.
        out["build-args"] = block([f"{name}={value}" for name, value in image_.build_args.items()])
    if image_.target:
        out["target"] = image_.target
    if settings.cache:
        out["cache-from"] = f"type=gha,scope={scope}"
        if write_cache:
            out["cache-to"] = f"type=gha,mode=max,scope={scope}"
    if settings.workflow.attestations and write_cache:
        out["provenance"] = "mode=max"
        out["sbom"] = True
    else:
        # ACR refuses the OCI attestation manifests BuildKit pushes by default
        # ("unknown manifest class"), after the layers are already up.
        out["provenance"] = False
        out["sbom"] = False
    return out


def summary(
    image_: Image, platforms: tuple[str, ...], digest: str, condition: str, **env: str
) -> CommentedMap:
    """The job summary of what the job pushed: reference, tags, digest, platforms, pull line."""
    values = {
        "IMAGE": image(image_),
        "TAGS": TAGS,
        "DIGEST": digest,
        "PLATFORMS": ", ".join(platforms),
        **env,
    }
    return run("Summarize what was pushed", script("summary"), {"if": condition}, values)
