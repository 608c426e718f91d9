"""The ACR side: a namespace, one repository per image, and the instance's optional
access, retention and scanning rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_alicloud as alicloud

from components.adoption import Adoption
from components.settings import SCAN_TRIGGERS, Image, Registry, Settings


@dataclass(frozen=True)
class RegistryArgs:
    registry: Registry
    images: tuple[Image, ...]
    source: str
    """Where the images are built from (`owner/repository`), for the repository summary."""
    stack: str
    """The stack's name, to keep instance-wide rule names apart between stacks."""
    adoption: Adoption
    """Which of the namespace and repositories already exist, and their import IDs."""
    signed: bool = False
    """The workflow signs the images (`workflow.sign`): retention keeps their signatures."""


SIGNATURE_TAG = r"^sha256-[0-9a-f]{64}\.sig$"
"""The tag under which cosign stores an image's signature in its repository (cosign, pkg/oci/remote:
`sha256-<digest hex>.sig`, the form the workflow asks for, --new-bundle-format=false)."""


def kept_tags(pattern: str | None, signed: bool) -> str | None:
    """The retention rule's `tag_regexp` (tags that match are kept, ACR's "tag retention policy"):
    the stack's pattern, and with signing every signature tag, so that cleaning never takes the
    signature of an image it keeps (nor of one it removes: a signature is a few hundred bytes)."""
    if not signed:
        return pattern
    return f"({pattern})|({SIGNATURE_TAG})" if pattern else SIGNATURE_TAG


class AcrRegistry(pulumi.ComponentResource):
    """Namespace and repositories on Enterprise Edition (or the deprecated Personal Edition).

    `edition: external` registers nothing: the registry is managed elsewhere.
    """

    namespace: pulumi.CustomResource | None
    """The namespace resource, or None when it is someone else's (`createNamespace: false`) or external."""
    repositories: dict[str, pulumi.CustomResource]
    """Image name -> repository resource."""
    acl: list[pulumi.CustomResource]
    """The internet ACL entries the stack adds (Enterprise Edition, `publicAccess`)."""
    rules: list[pulumi.CustomResource]
    """Retention and scan rules (Enterprise Edition, when configured)."""
    prerequisites: list[pulumi.Resource]
    """What a workflow run needs in place: the repositories and the internet ACL entries it logs
    in through (not the retention and scan rules)."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:registry:AcrRegistry", name, None, opts)
        reg, adopt = args.registry, args.adoption
        self.namespace, self.repositories, self.acl, self.rules, self.prerequisites = None, {}, [], [], []
        if reg.edition == "external":
            self.register_outputs({})
            return

        def kept(import_id: str | None) -> pulumi.ResourceOptions:
            # Images are data: by default the namespace and repositories outlive `pulumi
            # destroy`, adopted ones as well. An existing one is imported, never re-created.
            return pulumi.ResourceOptions(
                parent=self, retain_on_delete=reg.retain_on_delete, import_=import_id
            )

        # The namespace name flows from the resource when we create it, so every repository
        # waits for its namespace; someone else's namespace is just its configured name.
        namespace_name: pulumi.Input[str] = reg.namespace
        enterprise = reg.edition == "enterprise"
        if not enterprise:
            pulumi.log.warn(
                "registry.edition 'personal' uses alicloud.cr.Namespace/Repo, which the provider has "
                "deprecated; move to Enterprise Edition (see docs/registry.md, 'Registry editions').",
                resource=self,
            )
        if reg.create_namespace:
            kind = alicloud.cs.RegistryEnterpriseNamespace if enterprise else alicloud.cr.Namespace
            where = {"instance_id": reg.instance_id} if enterprise else {}
            namespace = kind(
                f"{name}-namespace",
                name=reg.namespace,
                auto_create=False,
                default_visibility=reg.visibility,
                opts=kept(adopt.namespace()),
                **where,
            )
            self.namespace, namespace_name = namespace, namespace.name

        for image in args.images:
            summary = f"{image.name}: built and pushed by GitHub Actions from {args.source}"[:80]
            common = {
                "namespace": namespace_name,
                "name": image.name,
                "repo_type": reg.visibility,
                "summary": summary,
            }
            options = kept(adopt.repository(image.name))
            if enterprise:
                repo: pulumi.CustomResource = alicloud.cs.RegistryEnterpriseRepo(
                    f"{name}-repo-{image.name}",
                    instance_id=reg.instance_id,
                    tag_immutability=image.immutable_tags,
                    opts=options,
                    **common,
                )
            else:
                repo = alicloud.cr.Repo(f"{name}-repo-{image.name}", opts=options, **common)
            self.repositories[image.name] = repo

        if enterprise:
            self._enterprise_rules(name, reg, namespace_name, args, adopt)
        self.prerequisites = [*self.repositories.values(), *self.acl]
        self.register_outputs({"repositories": {k: r.id for k, r in self.repositories.items()}})

    def _enterprise_rules(
        self,
        name: str,
        reg: Registry,
        namespace_name: pulumi.Input[str],
        args: RegistryArgs,
        adoption: Adoption,
    ) -> None:
        stack = args.stack
        instance_id = reg.instance_id or ""
        after_repos = pulumi.ResourceOptions(parent=self, depends_on=list(self.repositories.values()))
        for entry in reg.public_access or ():
            # One policy per entry: the stack adds and removes its own entries and never touches
            # the others (alicloud.cr.InternetEndpoint would reconcile the whole ACL to this list
            # and delete entries made elsewhere: resource_alicloud_cr_internet_endpoint.go,
            # resourceAlicloudCrInternetEndpointUpdate). The endpoint itself must be enabled.
            import_id = adoption.acl_entry(entry.cidr)
            self.acl.append(
                alicloud.cr.EndpointAclPolicy(
                    f"{name}-acl-{entry.cidr}",
                    instance_id=instance_id,
                    endpoint_type="internet",
                    module_name="Registry",
                    entry=entry.cidr,
                    description=entry.comment,
                    # Every field is ForceNew: a new comment replaces the entry, and the same CIDR
                    # cannot be added twice, so the old entry goes first. An adopted entry keeps
                    # its comment, and its module: Read never sets `module_name`
                    # (resource_alicloud_cr_endpoint_acl_policy.go), so the import would
                    # otherwise replace it, cutting the runners off meanwhile.
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        delete_before_replace=True,
                        import_=import_id,
                        ignore_changes=["description", "module_name"] if import_id else None,
                    ),
                )
            )

        if reg.retention is not None:
            keep = reg.retention
            # A namespace the stack owns is cleaned as a whole; in someone else's (shared)
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
                        tag_regexp=kept_tags(keep.keep_tag_pattern, args.signed),
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
                    # A replacement keeps the name: the old rule goes first.
                    opts=pulumi.ResourceOptions.merge(
                        after_repos, pulumi.ResourceOptions(delete_before_replace=True)
                    ),
                )
            )


def registry_summary(s: Settings) -> dict[str, Any]:
    """The registry-wide settings a stack manages, for the stack outputs (no secrets here)."""
    reg = s.registry
    return {
        "edition": reg.edition,
        "namespace": reg.namespace,
        "publicAccess": [e.cidr for e in reg.public_access] if reg.public_access is not None else None,
        "retention": reg.retention.model_dump(by_alias=True) if reg.retention else None,
        "scan": {"trigger": SCAN_TRIGGERS[reg.scan.trigger], "type": reg.scan.type} if reg.scan else None,
        "immutableTags": [i.name for i in s.images if i.immutable_tags],
    }
