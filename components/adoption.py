"""Adoption (`acr-pipeline:adopt: true`): take over a pipeline that was made by hand.

Before anything is registered, the program asks the providers what already exists (one
lookup per kind) and registers each existing object with the `import` resource option and its
provider's import ID, creating the rest. Since Pulumi 3.174.0 (pulumi/pulumi#19339) the
engine imports and then updates where the program differs, so one `pulumi up` takes over and
converges. Without `adopt`, nothing is looked up.

Import IDs, as the providers parse them (terraform-provider-github v6.13 `parseID2/3` in
github/util.go, a ':' inside a part written as '??'; terraform-provider-alicloud
`ParseResourceId`): variable `<repo>:<NAME>`, environment variable `<repo>:<env>:<NAME>`,
environment `<repo>:<env>`, file `<repo>:<path>:<branch>`, EE namespace `<instance>:<ns>`,
EE repository `<instance>:<ns>:<repo>`, Personal namespace `<ns>`, Personal repository
`<ns>/<repo>`, internet ACL entry `<instance>:internet:<cidr>`.

Not imported, because creating them again is harmless: secrets (a PUT that overwrites in
place, so there is never a moment without one), and an environment's deployment policies (a
POST of a pattern that exists answers 303 See Other with the existing policy, which the client
follows: resource_github_repository_environment_deployment_policy.go, Create, and GitHub's
"Create a deployment branch policy").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi_alicloud as alicloud
import pulumi_github as github
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from components.contract import PASSWORD_SECRET, USER_SECRET
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

    def file(self, path: str) -> str:
        s = self.settings
        return f"{s.github.repository}:{_part(path)}:{s.github.branch}"

    def namespace(self) -> str:
        reg = self.settings.registry
        return f"{reg.instance_id}:{reg.namespace}" if reg.edition == "enterprise" else reg.namespace

    def repository(self, name: str) -> str:
        reg = self.settings.registry
        if reg.edition == "enterprise":
            return f"{reg.instance_id}:{reg.namespace}:{name}"
        return f"{reg.namespace}/{name}"

    def acl_entry(self, cidr: str) -> str:
        # resource_alicloud_cr_endpoint_acl_policy.go: the ID is <instance>:<endpoint type>:<entry>.
        return f"{self.settings.registry.instance_id}:internet:{cidr}"

    def candidates(self) -> list[tuple[str, str]]:
        """(what, import ID) of every object adoption would import if it exists."""
        s = self.settings
        out = [(f"variable {name}", self.variable(name)) for name in s.variables]
        if s.github.environment:
            out.append((f"environment {s.github.environment}", self.environment()))
        if not s.workflow.via_pull_request:
            out += [(f"workflow file {path}", self.file(path)) for path in s.workflow_paths]
        if s.registry.edition != "external":
            if s.registry.create_namespace:
                out.append((f"namespace {s.registry.namespace}", self.namespace()))
            out += [(f"repository {i.name}", self.repository(i.name)) for i in s.images]
        out += [
            (f"internet ACL entry {e.cidr}", self.acl_entry(e.cidr)) for e in s.registry.public_access or ()
        ]
        return out


@dataclass(frozen=True)
class Existing:
    """What already exists of a stack's objects."""

    variables: frozenset[str] = frozenset()
    """Upper-cased names at the stack's scope (GitHub compares them case-insensitively)."""
    environment: bool = False
    files: Mapping[str, str] = field(default_factory=dict)
    """Path -> text of each of the stack's workflow files already committed on its branch."""
    namespace: bool = False
    repositories: frozenset[str] = field(default_factory=frozenset)
    acl_entries: frozenset[str] = field(default_factory=frozenset)
    """CIDRs already in the instance's internet ACL (of those the stack adds)."""
    ruleset: int | None = None
    """The id of the release-tag ruleset of the stack's name, when it exists."""
    login_secrets: tuple[tuple[str, str], ...] = ()
    """(environment, name) of each long-lived registry login secret left in the repository when
    the stack adopts into OIDC; the environment is "" for a repository secret."""

    def workflow_name(self, path: str) -> str | None:
        """The `name:` of the workflow at `path`, which `workflow_run` chains on it depend on."""
        try:
            doc = YAML(typ="safe").load(self.files.get(path) or "")
        except YAMLError:
            return None
        name = doc.get("name") if isinstance(doc, dict) else None
        return name if isinstance(name, str) and name.strip() else None


NOTHING = Existing()
LOGIN_SECRETS = (USER_SECRET, PASSWORD_SECRET)


def look_up(s: Settings) -> Existing:
    """Ask GitHub and ACR what exists: one call per kind, names compared exactly."""
    gh = s.github
    environment, variables = _variables(s)
    files = {
        path: github.get_repository_file(repository=gh.repository, file=path, branch=gh.branch).content
        for path in s.workflow_paths
    }
    namespace, repositories = _registry(s)
    return Existing(
        variables=frozenset(name.upper() for name in variables),
        environment=environment,
        # A missing file comes back empty, not as an error (data_source_github_repository_file.go).
        files={path: content for path, content in files.items() if content is not None},
        namespace=namespace,
        repositories=repositories,
        acl_entries=_acl_entries(s),
        ruleset=_ruleset(s),
        login_secrets=_login_secrets(s, environment) if s.auth.mode == "oidc" else (),
    )


def _variables(s: Settings) -> tuple[bool, list[str]]:
    """(whether the stack's environment exists, the variables at the stack's scope).

    An environment's variables answer both: listing them is a 404 when there is no such
    environment (data_source_github_actions_environment_variables.go, ListEnvVariables). Not
    `get_repository_environments`: in v6.13 its loop rebuilds the list options on every pass
    (data_source_github_repository_environments.go, dataSourceGithubRepositoryEnvironmentsRead),
    so past 30 environments it asks for page 1 forever."""
    gh = s.github
    if not gh.environment:
        return False, [v.name for v in github.get_actions_variables(name=gh.repository).variables]
    try:
        found = github.get_actions_environment_variables(name=gh.repository, environment=gh.environment)
    except Exception as err:
        if "404" not in str(err):
            raise
        return False, []
    return True, [v.name for v in found.variables]


def _registry(s: Settings) -> tuple[bool, frozenset[str]]:
    """(whether the namespace exists, which of the stack's repositories do). Repositories are
    listed only in a namespace that exists: the listing fails on one that does not
    (data_source_alicloud_cr_ee_repos.go, ListCrEERepos)."""
    reg, names = s.registry, [image.name for image in s.images]
    if reg.edition == "external":
        return False, frozenset()
    enterprise = reg.edition == "enterprise"
    if enterprise:
        namespaces = alicloud.cs.get_registry_enterprise_namespaces(
            instance_id=reg.instance_id, name_regex=_exactly(reg.namespace)
        ).namespaces
    else:
        namespaces = alicloud.cr.get_namespaces(name_regex=_exactly(reg.namespace)).namespaces
    if not any(n.name == reg.namespace for n in namespaces):
        return False, frozenset()
    if enterprise:
        repos = alicloud.cs.get_registry_enterprise_repos(
            instance_id=reg.instance_id, namespace=reg.namespace, name_regex=_exactly(*names)
        ).repos
    else:
        repos = alicloud.cr.get_repos(namespace=reg.namespace, name_regex=_exactly(*names)).repos
    return True, frozenset(r.name for r in repos if r.namespace == reg.namespace and r.name in names)


def _acl_entries(s: Settings) -> frozenset[str]:
    """The stack's CIDRs already in the instance's internet ACL: creating one that exists fails
    (CreateInstanceEndpointAclPolicy), so they are imported."""
    reg = s.registry
    if not reg.public_access or reg.edition != "enterprise":
        return frozenset()
    policies = alicloud.cr.get_endpoint_acl_policies(instance_id=reg.instance_id, endpoint_type="internet")
    wanted = {entry.cidr for entry in reg.public_access}
    return frozenset(p.entry for p in policies.policies if p.entry in wanted)


def _ruleset(s: Settings) -> int | None:
    """The id of the repository's ruleset of the stack's release-tag ruleset name, if any (one
    lookup, only for a stack that protects its release tags). pulumi-github has no ruleset data
    source: GitHub's REST API through `github_rest_api` (data_source_github_rest_api.go, a GET
    whose body is kept; "List repository rulesets" answers id, name, target per ruleset)."""
    if not s.release_tag_ruleset:
        return None
    answer = github.get_rest_api(endpoint=f"repos/{s.owner}/{s.github.repository}/rulesets")
    try:
        listed = json.loads(answer.body or "[]")
    except json.JSONDecodeError:
        return None
    wanted = s.release_tag_ruleset_name
    found = [r.get("id") for r in listed if isinstance(r, dict) and r.get("name") == wanted]
    return int(found[0]) if found and isinstance(found[0], int) else None


def _login_secrets(s: Settings, environment: bool) -> tuple[tuple[str, str], ...]:
    """The password pipeline's login secrets still stored, one lookup per scope: the repository,
    and the stack's environment when it exists (data_source_github_actions_secrets.go,
    ..._environment_secrets.go; names only, never values)."""
    gh = s.github
    scopes = [("", github.get_actions_secrets(name=gh.repository).secrets)]
    if environment and gh.environment:
        listed = github.get_actions_environment_secrets(name=gh.repository, environment=gh.environment)
        scopes.append((gh.environment, listed.secrets))
    return tuple(
        (scope, secret.name)
        for scope, secrets in scopes
        for secret in secrets
        if secret.name in LOGIN_SECRETS
    )


def leftover_secrets_warning(s: Settings, existing: Existing) -> str | None:
    """What to do about the long-lived login a hand-made password pipeline left behind, once
    the stack pushes with OIDC: nothing reads it now, but it still works until revoked."""
    if not existing.login_secrets:
        return None
    repo = f"{s.owner}/{s.github.repository}"
    where, commands = [], []
    for environment, name in existing.login_secrets:
        where.append(f"{name} ({'environment ' + environment if environment else 'repository'})")
        commands.append(
            f"`gh secret delete {name} -R {repo}" + (f" --env {environment}`" if environment else "`")
        )
    return (
        f"adopting into auth.mode: oidc: {repo} still stores the hand-made pipeline's registry login, "
        f"{', '.join(where)}; nothing reads it once the new workflow is committed, but it works until "
        f"revoked. After `pulumi up`: {'; '.join(commands)}; then revoke the RAM user's password "
        "(docs/adopt.md, 'Adopting straight into OIDC')"
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

    def file(self, path: str) -> str | None:
        pr = self.ids.settings.workflow.via_pull_request  # the files go to a branch of their own
        return self.ids.file(path) if path in self.existing.files and not pr else None

    def workflow_name(self, path: str) -> str | None:
        return self.existing.workflow_name(path)

    def namespace(self) -> str | None:
        return self.ids.namespace() if self.existing.namespace else None

    def repository(self, name: str) -> str | None:
        return self.ids.repository(name) if name in self.existing.repositories else None

    def acl_entry(self, cidr: str) -> str | None:
        return self.ids.acl_entry(cidr) if cidr in self.existing.acl_entries else None

    def ruleset(self) -> str | None:
        """`<repository>:<ruleset id>` (resource_github_repository_ruleset.go, Import: parseID2)."""
        found = self.existing.ruleset
        return f"{self.ids.settings.github.repository}:{found}" if found is not None else None


def adoption(s: Settings) -> Adoption:
    """What the program imports: nothing, with zero lookups, unless the stack says `adopt`."""
    return Adoption(ImportIds(s), look_up(s) if s.adopt else NOTHING)
