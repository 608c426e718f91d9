"""The ACR side: a namespace and one repository per image."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud

from components.settings import Image, Registry


@dataclass(frozen=True)
class RegistryArgs:
    registry: Registry
    images: tuple[Image, ...]
    source: str
    """Where the images are built from (`owner/repository`), for the repository summary."""


class AcrRegistry(pulumi.ComponentResource):
    """Namespace and repositories on Enterprise Edition (or the deprecated Personal Edition).

    `edition: external` registers nothing: the registry is managed elsewhere.
    """

    namespace: pulumi.CustomResource | None
    """The namespace resource, or None when it is adopted (`createNamespace: false`) or external."""
    repositories: dict[str, pulumi.CustomResource]
    """Image name -> repository resource."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:registry:AcrRegistry", name, None, opts)
        reg = args.registry
        # Images are data: by default the namespace and repositories outlive `pulumi destroy`.
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=reg.retain_on_delete)

        self.namespace = None
        self.repositories = {}
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
                "deprecated; move to Enterprise Edition (see README, 'Registry editions').",
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

        self.register_outputs({"repositories": {k: r.id for k, r in self.repositories.items()}})
