"""The ACR side: a namespace, one repository per image, and the instance's optional
access, retention and scanning rules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.settings import SCAN_TRIGGERS, Image, Registry


@dataclass(frozen=True)
class RegistryArgs:
    registry: Registry
    images: tuple[Image, ...]
    source: str
    """Where the images are built from (`owner/repository`), for the repository summary."""
    stack: str = ""
    """The stack's name, to keep instance-wide rule names apart between stacks."""


class AcrRegistry(pulumi.ComponentResource):
    """Namespace and repositories on Enterprise Edition (or the deprecated Personal Edition).

    `edition: external` registers nothing: the registry is managed elsewhere.
    """

    namespace: pulumi.CustomResource | None
    """The namespace resource, or None when it is adopted (`createNamespace: false`) or external."""
    repositories: dict[str, pulumi.CustomResource]
    """Image name -> repository resource."""
    rules: list[pulumi.CustomResource]
    """Internet endpoint ACL, retention and scan rules (Enterprise Edition, when configured)."""
    internet_endpoint: pulumi.CustomResource | None
    """The internet endpoint ACL, when the stack manages it: runners log in through it."""
    prerequisites: list[pulumi.Resource]
    """What a workflow run needs in place: the repositories and the internet access (not the
    retention and scan rules)."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:registry:AcrRegistry", name, None, opts)
        reg = args.registry
        # Images are data: by default the namespace and repositories outlive `pulumi destroy`.
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=reg.retain_on_delete)

        self.namespace = None
        self.repositories = {}
        self.rules = []
        self.internet_endpoint = None
        self.prerequisites = []
        if reg.edition == "external":
            self.register_outputs({})
            return

        # The namespace name flows from the resource when we create it, so every repository
        # waits for its namespace; an adopted namespace is just its configured name.
        namespace_name: pulumi.Input[str] = reg.namespace
        if reg.edition == "enterprise":
            if reg.create_namespace:
                enterprise_ns = alicloud.cs.RegistryEnterpriseNamespace(
                    f"{name}-namespace",
                    instance_id=reg.instance_id or "",
                    name=reg.namespace,
                    auto_create=False,
                    default_visibility=reg.visibility,
                    opts=child,
                )
                self.namespace, namespace_name = enterprise_ns, enterprise_ns.name
        else:
            pulumi.log.warn(
                "registry.edition 'personal' uses alicloud.cr.Namespace/Repo, which the provider has "
                "deprecated; move to Enterprise Edition (see docs/registry.md, 'Registry editions').",
                resource=self,
            )
            if reg.create_namespace:
                personal_ns = alicloud.cr.Namespace(
                    f"{name}-namespace",
                    name=reg.namespace,
                    auto_create=False,
                    default_visibility=reg.visibility,
                    opts=child,
                )
                self.namespace, namespace_name = personal_ns, personal_ns.name

        for image in args.images:
            summary = f"{image.name}: built and pushed by GitHub Actions from {args.source}"[:80]
            if reg.edition == "enterprise":
                repo: pulumi.CustomResource = alicloud.cs.RegistryEnterpriseRepo(
                    f"{name}-repo-{image.name}",
                    instance_id=reg.instance_id or "",
                    namespace=namespace_name,
                    name=image.name,
                    repo_type=reg.visibility,
                    summary=summary,
                    tag_immutability=image.immutable_tags,
                    opts=child,
                )
            else:
                repo = alicloud.cr.Repo(
                    f"{name}-repo-{image.name}",
                    namespace=namespace_name,
                    name=image.name,
                    repo_type=reg.visibility,
                    summary=summary,
                    opts=child,
                )
            self.repositories[image.name] = repo

        if reg.edition == "enterprise":
            self._enterprise_rules(name, reg, namespace_name, args.stack)

        self.prerequisites = [*self.repositories.values(), *filter(None, [self.internet_endpoint])]
        self.register_outputs({"repositories": {k: r.id for k, r in self.repositories.items()}})

    def _enterprise_rules(
        self, name: str, reg: Registry, namespace_name: pulumi.Input[str], stack: str
    ) -> None:
        instance_id = reg.instance_id or ""
        repos = list(self.repositories.values())
        after_repos = pulumi.ResourceOptions(parent=self, depends_on=repos)

        if reg.public_access is not None:
            # The internet endpoint and its ACL belong to the whole instance: one stack per
            # instance owns this (opt-in; the cross-stack check refuses two). Destroying the
            # stack leaves it as it is, since other stacks' pipelines push through it.
            self.internet_endpoint = alicloud.cr.InternetEndpoint(
                f"{name}-internet-endpoint",
                instance_id=instance_id,
                entries=[
                    alicloud.cr.InternetEndpointEntryArgs(entry=e.cidr, comment=e.comment)
                    for e in reg.public_access
                ],
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            self.rules.append(self.internet_endpoint)

        if reg.retention is not None:
            keep = reg.retention
            # A namespace the stack owns is cleaned as a whole; in an adopted (shared)
            # namespace only the stack's own repositories are touched.
            scopes: list[tuple[str, str | None]] = (
                [("NAMESPACE", None)]
                if reg.create_namespace
                else [("REPO", image_name) for image_name in self.repositories]
            )
            for scope, repo_name in scopes:
                suffix = f"-{repo_name}" if repo_name else ""
                self.rules.append(
                    alicloud.cr.ArtifactLifecycleRule(
                        f"{name}-retention{suffix}",
                        instance_id=instance_id,
                        auto=True,
                        scope=scope,
                        namespace_name=namespace_name,
                        repo_name=repo_name,
                        retention_tag_count=keep.keep_last_tags,
                        tag_regexp=keep.keep_tag_pattern,
                        schedule_time="WEEK",
                        opts=after_repos,
                    )
                )

        if reg.scan is not None:
            self.rules.append(
                alicloud.cr.ScanRule(
                    f"{name}-scan",
                    instance_id=instance_id,
                    # Rule names are unique per instance; stacks may share a namespace.
                    rule_name=f"acr-pipeline-{stack}-{reg.namespace}"[:64],
                    scan_scope="REPO",
                    namespaces=[namespace_name],
                    repo_names=list(self.repositories),
                    scan_type=reg.scan.type,
                    trigger_type=SCAN_TRIGGERS[reg.scan.trigger],
                    repo_tag_filter_pattern=reg.scan.tag_pattern,
                    opts=after_repos,
                )
            )
