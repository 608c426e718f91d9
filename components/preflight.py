"""Preflight (`acr-pipeline:preflight`, on by default): what would make the first build fail,
found at `preview` and `up`, before anything is registered, with two lookups whatever the number
of images:

- the repository's tree at `github.branch` (`github.get_tree`, recursive): each image's
  Dockerfile and context directory is there. A missing one is a warning, naming the image, the
  path, the branch and the repository (infrastructure often lands before the code). A branch
  that does not exist is an error: the workflow file is committed to it.
- Enterprise Edition: the instance (`alicloud.cs.get_registry_enterprise_instances`, by id, in
  the provider's region; without `enable_details`, which would fetch a registry login token).
  Not there, another name than `registry.instanceName`, or endpoints that do not include the one
  the workflow logs in to: an error naming the keys (the workflow would log in to the wrong host).

GitHub cuts a recursive tree past 100,000 entries or 7 MB (its `truncated` flag, which
terraform-provider-github v6.13 does not expose: data_source_github_tree.go): in a repository
that large a Dockerfile may be reported missing that is there; `preflight: false` turns it off.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_alicloud as alicloud
import pulumi_github as github

from components.contract import PROJECT
from components.settings import Settings


class PreflightError(pulumi.RunError):
    """What the first build would trip on, found before anything is created: one clear message."""


def preflight(s: Settings) -> list[str]:
    """The warnings of the checks (their errors raise :class:`PreflightError`)."""
    if not s.preflight:
        return []
    if s.registry.edition == "enterprise":
        _instance(s)
    return _sources(s)


def checks(s: Settings) -> list[str]:
    """What the preflight of this stack looks at (for `make synth`, which checks nothing)."""
    if not s.preflight:
        return ["nothing (preflight: false)"]
    repo = f"{s.owner}/{s.github.repository}"
    out = [
        f"{image.name}: {image.dockerfile} and {image.context}/ on {s.github.branch} of {repo}"
        for image in s.images
    ]
    if s.registry.edition == "enterprise":
        name = f" named {s.registry.instance_name}" if s.registry.instance_name else ""
        out.append(f"instance {s.registry.instance_id} in {s.region}{name}, with the endpoint {s.endpoint}")
    return out


def _sources(s: Settings) -> list[str]:
    gh = s.github
    repo = f"{s.owner}/{gh.repository}"
    try:
        entries = github.get_tree(repository=gh.repository, tree_sha=gh.branch, recursive=True).entries
    except Exception as err:
        if "404" not in str(err) and "409" not in str(err):  # 409: an empty repository
            raise
        raise PreflightError(
            f"{PROJECT}:github.branch = {json.dumps(gh.branch)}: {repo} has no branch {gh.branch!r} "
            "(or the token may not read the repository); the workflow file is committed there and "
            "its pushes build: push it first, or set github.branch"
        ) from None
    blobs = {e.path for e in entries if e.type == "blob"}
    trees = {e.path for e in entries if e.type == "tree"} | {"."}
    found = []
    for image in s.images:
        missing = [f"its Dockerfile {image.dockerfile}"] if image.dockerfile not in blobs else []
        missing += [f"its context {image.context}/"] if image.context not in trees else []
        if missing:
            found.append(
                f"the first build of {image.name} would fail: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not on {gh.branch} of {repo} (yet?); "
                f"push them, or fix images[].context / images[].dockerfile"
            )
    return found


def _instance(s: Settings) -> None:
    reg = s.registry
    instances = alicloud.cs.get_registry_enterprise_instances(ids=[reg.instance_id or ""]).instances
    match = [i for i in instances if i.id == reg.instance_id]
    if not match:
        raise PreflightError(
            f"{PROJECT}:registry.instanceId = {json.dumps(reg.instance_id)}: no Container Registry "
            f"Enterprise Edition instance of that id in {s.region} (alicloud:region), for these "
            "credentials: check the id in the console (Instances), and the region"
        )
    (instance,) = match
    endpoints = [*instance.public_endpoints, *instance.vpc_endpoints]
    if reg.instance_name and instance.name != reg.instance_name:
        raise PreflightError(
            f"{PROJECT}:registry.instanceName = {json.dumps(reg.instance_name)}: instance "
            f"{reg.instance_id} is named {instance.name!r}, so the workflow would log in to {s.endpoint}, "
            f"which is not its host ({', '.join(endpoints) or 'no endpoint enabled'}): set "
            f"instanceName: {instance.name}"
        )
    if s.endpoint not in endpoints:
        key = "registry.endpoint" if reg.endpoint else "registry.instanceName"
        off = "" if instance.public_endpoints else " (its internet endpoint is off: enable it in the console)"
        raise PreflightError(
            f"{PROJECT}:{key}: the workflow would log in to {s.endpoint}, which is not an endpoint of "
            f"instance {reg.instance_id}{off}; its endpoints: {', '.join(endpoints) or 'none enabled'}"
        )
