"""Adoption (`acr-pipeline:adopt: true`): take over a pipeline that was made by hand.

Before anything is registered, the program asks the providers what already exists (one
lookup per kind; the only data-source calls the program makes besides reviewers given by
name) and registers each existing object with the `import` resource option and its
provider's import ID, creating the rest. Since Pulumi 3.174.0 (pulumi/pulumi#19339) the
engine imports and then updates where the program differs, so one `pulumi up` takes over and
converges. Without `adopt`, nothing is looked up.

Import IDs, as the providers parse them (terraform-provider-github v6.13 `parseID2/3` in
github/util.go, a ':' inside a part written as '??'; terraform-provider-alicloud
`ParseResourceId`): variable `<repo>:<NAME>`, environment variable `<repo>:<env>:<NAME>`,
environment `<repo>:<env>`, file `<repo>:<path>:<branch>`, EE namespace `<instance>:<ns>`,
EE repository `<instance>:<ns>:<repo>`, Personal namespace `<ns>`, Personal repository
`<ns>/<repo>`. Secrets are not imported: creating one is a PUT that overwrites it in place,
so there is never a moment without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi_alicloud as alicloud
import pulumi_github as github
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from components.settings import Settings


def _part(value: str) -> str:
    return value.replace(":", "??")  # github/util.go escapeIDPart


def _exactly(*names: str) -> str:
    """A `nameRegex` that matches these names and no other (the providers' is unanchored)."""
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


@dataclass(frozen=True)
class ImportIds:
    """The import ID of each object a stack manages, whether or not it exists (pure)."""

    settings: Settings

    def variable(self, name: str) -> str:
        gh = self.settings.github
        scope = f"{_part(gh.environment)}:" if gh.environment else ""
        return f"{gh.repository}:{scope}{name}"

    def environment(self) -> str:
        gh = self.settings.github
        return f"{gh.repository}:{_part(gh.environment or '')}"

    def workflow_file(self) -> str:
        s = self.settings
        return f"{s.github.repository}:{_part(s.workflow_path)}:{s.github.branch}"

    def namespace(self) -> str:
        reg = self.settings.registry
        return f"{reg.instance_id}:{reg.namespace}" if reg.edition == "enterprise" else reg.namespace

    def repository(self, name: str) -> str:
        reg = self.settings.registry
        if reg.edition == "enterprise":
            return f"{reg.instance_id}:{reg.namespace}:{name}"
        return f"{reg.namespace}/{name}"

    def candidates(self) -> list[tuple[str, str]]:
        """(what, import ID) of every object adoption would import if it exists."""
        s, out = self.settings, []
        out += [(f"variable {name}", self.variable(name)) for name in s.variables]
        if s.github.environment:
            out.append((f"environment {s.github.environment}", self.environment()))
        if not s.workflow.via_pull_request:
            out.append((f"workflow file {s.workflow_path}", self.workflow_file()))
        if s.registry.edition != "external":
            if s.registry.create_namespace:
                out.append((f"namespace {s.registry.namespace}", self.namespace()))
            out += [(f"repository {i.name}", self.repository(i.name)) for i in s.images]
        return out


@dataclass(frozen=True)
class Existing:
    """What already exists of a stack's objects."""

    variables: frozenset[str] = frozenset()
    """Upper-cased names at the stack's scope (GitHub compares them case-insensitively)."""
    environment: bool = False
    workflow: str | None = None
    """The text of the workflow file already committed at the stack's path and branch."""
    namespace: bool = False
    repositories: frozenset[str] = field(default_factory=frozenset)

    @property
    def workflow_name(self) -> str | None:
        """The existing workflow's `name:`, which `workflow_run` chains on it depend on."""
        try:
            doc = YAML(typ="safe").load(self.workflow or "")
        except YAMLError:
            return None
        name = doc.get("name") if isinstance(doc, dict) else None
        return name if isinstance(name, str) and name.strip() else None


NOTHING = Existing()


def look_up(s: Settings) -> Existing:
    """Ask GitHub and ACR what exists: one call per kind, names compared exactly."""
    gh, reg = s.github, s.registry
    environment = bool(gh.environment) and any(
        e.name == gh.environment
        for e in github.get_repository_environments(repository=gh.repository).environments
    )
    if gh.environment:
        listed = (
            github.get_actions_environment_variables(name=gh.repository, environment=gh.environment).variables
            if environment
            else []
        )
    else:
        listed = github.get_actions_variables(name=gh.repository).variables
    file = github.get_repository_file(repository=gh.repository, file=s.workflow_path, branch=gh.branch)
    namespace, repositories = False, frozenset[str]()
    names = [image.name for image in s.images]
    if reg.edition == "enterprise":
        namespace = any(
            n.name == reg.namespace
            for n in alicloud.cs.get_registry_enterprise_namespaces(
                instance_id=reg.instance_id, name_regex=_exactly(reg.namespace)
            ).namespaces
        )
        found = alicloud.cs.get_registry_enterprise_repos(
            instance_id=reg.instance_id, namespace=reg.namespace, name_regex=_exactly(*names)
        ).repos
        repositories = frozenset(r.name for r in found if r.namespace == reg.namespace and r.name in names)
    elif reg.edition == "personal":
        namespace = any(
            n.name == reg.namespace
            for n in alicloud.cr.get_namespaces(name_regex=_exactly(reg.namespace)).namespaces
        )
        found_personal = alicloud.cr.get_repos(namespace=reg.namespace, name_regex=_exactly(*names)).repos
        repositories = frozenset(
            r.name for r in found_personal if r.namespace == reg.namespace and r.name in names
        )
    return Existing(
        variables=frozenset(v.name.upper() for v in listed),
        environment=environment,
        workflow=file.content,  # a missing file comes back empty, not as an error
        namespace=namespace,
        repositories=repositories,
    )


@dataclass(frozen=True)
class Adoption:
    """The `import` option of each resource: its import ID when it exists, else None (create)."""

    ids: ImportIds
    existing: Existing = NOTHING

    def variable(self, name: str) -> str | None:
        return self.ids.variable(name) if name.upper() in self.existing.variables else None

    def environment(self) -> str | None:
        return self.ids.environment() if self.existing.environment else None

    def workflow_file(self) -> str | None:
        pr = self.ids.settings.workflow.via_pull_request  # the file goes to a branch of its own
        return self.ids.workflow_file() if self.existing.workflow is not None and not pr else None

    def namespace(self) -> str | None:
        return self.ids.namespace() if self.existing.namespace else None

    def repository(self, name: str) -> str | None:
        return self.ids.repository(name) if name in self.existing.repositories else None


def adoption(s: Settings) -> Adoption:
    """What the program imports: nothing, with zero lookups, unless the stack says `adopt`."""
    return Adoption(ImportIds(s), look_up(s) if s.adopt else NOTHING)
