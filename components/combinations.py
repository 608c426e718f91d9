"""The rules that span sections of the settings (images and the registry's edition, promotion and
the images' paths, the environment and the triggers, credentials and the login mode, release
tags and the push role): each returns its problems, naming each key; `across_sections` gives
them all, for components/config.py to report with the rest, once the sections themselves are
valid. Pure. (This module reads the settings; the settings model does not know of it.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components import rules
from components.contract import PROJECT, RESERVED_NAMES
from components.fields import MISSING
from components.settings import Image, Settings

Found = list[tuple[tuple[str | int, ...], Any, str]]

# Two images may not share these: (field reported, what must differ, the rule).
UNIQUE: tuple[tuple[str, Callable[[Image], str], str], ...] = (
    ("name", lambda image: image.name, "two images with the same name"),
    ("name", lambda image: image.key, "two images whose names give the same job id"),
    (
        "variable",
        lambda image: image.variable.upper(),
        "two images write the same GitHub variable (names are case-insensitive)",
    ),
)


def image_rules(s: Settings) -> Found:
    at, found = f"{PROJECT}:images", Found()
    reserved = (*RESERVED_NAMES, *([s.workflow.notify.secret] if s.workflow.notify else []))
    for i, image in enumerate(s.images):
        if image.immutable_tags and s.registry.edition != "enterprise":
            found.append(
                ((at, i, "immutableTags"), True, "is an Enterprise Edition setting (registry.edition)")
            )
        if rule := rules.taken(image.variable, reserved):
            found.append(((at, i, "variable"), image.variable, rule))
    for field, same, rule in UNIQUE:
        first: dict[str, int] = {}
        for i, image in enumerate(s.images):
            if (j := first.setdefault(same(image), i)) != i:
                found.append(((at, i, field), getattr(image, field), f"{rule} as images[{j}]"))
    return found


def promote_rules(s: Settings) -> Found:
    """Other stacks' namespaces on this registry, and image paths git can compare."""
    found, promote = Found(), s.workflow.promote
    if promote is None:
        return found
    at = (f"{PROJECT}:workflow", "promote", "fromNamespaces")
    check = rules.acr_name("namespace", s.registry.edition)
    for i, namespace in enumerate(promote.from_namespaces):
        if rule := check(namespace):
            found.append(((*at, i), namespace, rule))
    if s.registry.namespace in promote.from_namespaces:
        rule = "names the stack's own namespace, which a release always looks in first"
        found.append((at, list(promote.from_namespaces), rule))
    for i, image in enumerate(s.images):
        for j, path in enumerate(image.paths or ()):
            if path.startswith("!"):
                rule = (
                    "a leading '!' excludes what earlier patterns matched, which git reads differently, "
                    "and a release compares the image's paths with git (workflow.promote): list each path"
                )
                found.append(((f"{PROJECT}:images", i, "paths", j), path, rule))
    return found


def environment_admits_builds(s: Settings) -> Found:
    """Builds run in the environment: its deployment rules must let in the branch (for branch
    builds) and some tag (for release tags)."""
    gh, found = s.github, Found()
    if not (gh.environment and (gh.deployment_branches or gh.deployment_tags)):
        return found
    if s.workflow.tags and not gh.deployment_tags:
        rule = (
            f"release tags build in environment '{gh.environment}', whose deployment rules admit no "
            "tag: add github.deploymentTags (e.g. the patterns of workflow.tags)"
        )
        found.append(((f"{PROJECT}:github", "deploymentTags"), [], rule))
    for tag in (p for p in s.workflow.tags if gh.deployment_tags and not p.startswith("!")):
        # GitHub's filter (`+` repeats) against the deployment rule's glob (`+` is itself).
        if all(
            rules.common_name(rules.filter_regex(tag), rules.github_glob(g)) is None
            for g in gh.deployment_tags
        ):
            rule = (
                f"admits no tag that workflow.tags '{tag}' builds, so environment '{gh.environment}' "
                f"would refuse every such release run: add '{rules.filter_string_like(tag)}' (deployment "
                "rules are globs, where `+` is itself), or the pattern of the tags you release"
            )
            found.append(((f"{PROJECT}:github", "deploymentTags"), list(gh.deployment_tags), rule))
    if s.workflow.branch_builds and not any(
        rules.github_glob(p).match(gh.branch) for p in gh.deployment_branches
    ):
        rule = (
            f"pushes to github.branch '{gh.branch}' build in environment '{gh.environment}', which would "
            "refuse them: add the branch, or set workflow.branchBuilds: false"
        )
        found.append(((f"{PROJECT}:github", "deploymentBranches"), list(gh.deployment_branches), rule))
    return found


def workflow_files(s: Settings) -> Found:
    if s.workflow.pull_requests and s.workflow.pull_request_path == s.workflow_path:
        rule = (
            f"is the build-push workflow's path ({s.workflow_path}) too: give each workflow a file of its own"
        )
        return [((f"{PROJECT}:workflow", "pullRequestPath"), s.workflow.pull_request_path, rule)]
    return []


def credentials(s: Settings) -> Found:
    found: Found = []
    if s.auth.mode == "oidc":
        if s.registry.edition != "enterprise":
            rule = "oidc needs registry.edition: enterprise (its temporary tokens are per instance)"
            found.append(((f"{PROJECT}:auth", "mode"), "oidc", rule))
        for key, value in (
            ("registryUsername", s.registry_username),
            ("registryPassword", s.registry_password),
        ):
            if value is not None:
                rule = (
                    "is not used with auth.mode: oidc (no password anywhere): remove it with "
                    f"`pulumi config rm {key} --stack {s.stack}`"
                )
                found.append(((f"{PROJECT}:{key}",), MISSING, rule))
    if s.notify_webhook_url is not None and s.workflow.notify is None:
        rule = "is set but workflow.notify is not: add workflow.notify.kind"
        found.append(((f"{PROJECT}:notifyWebhookUrl",), MISSING, rule))
    if s.auth.mode == "oidc":
        return found
    if s.registry_username is None:
        found.append(((f"{PROJECT}:registryUsername",), MISSING, "is required"))
    if s.registry_password is None:
        rule = "is required; set it with `pulumi config set --secret registryPassword`"
        found.append(((f"{PROJECT}:registryPassword",), MISSING, rule))
    return found


def release_tags(s: Settings) -> Found:
    """A push role that trusts release tags without a reviewed environment is only as safe as
    who may push those tags: the ruleset, or the refusal of the stack."""
    at, found = f"{PROJECT}:github", Found()
    trusts_tags = (
        s.auth.mode == "oidc"
        and not s.github.environment
        and any(not p.startswith("!") for p in s.workflow.tags)
    )
    if trusts_tags and not s.github.protect_release_tags:
        found.append(
            (
                (at, "protectReleaseTags"),
                False,
                "the push role trusts the runs of release tags (workflow.tags), which anyone who may "
                "push a tag could create: keep the tag ruleset (protectReleaseTags: true), or build "
                "releases in an environment with reviewers (github.environment and github.reviewers)",
            )
        )
    if s.github.releasers is not None and not s.release_tag_ruleset:
        found.append(
            (
                (at, "releasers"),
                s.github.releasers.model_dump(),
                "is for the release-tag ruleset, which this stack does not create (it protects the "
                "release tags of a keyless stack without an environment): remove it",
            )
        )
    return found


def across_sections(s: Settings) -> Found:
    """Every rule that spans sections, in the order a reader meets the keys."""
    return [
        *image_rules(s),
        *promote_rules(s),
        *environment_admits_builds(s),
        *credentials(s),
        *workflow_files(s),
        *release_tags(s),
    ]
