"""A simulated world: one GitHub repository and Alibaba Cloud Container Registry, holding what
exists before `pulumi up`, answering the way the real providers do.

Mocks that accept everything prove little: creating a variable that exists is a 409, an ACR
namespace that exists refuses to be created again, an environment is silently overwritten.
The world runs the real `__main__.py` on Pulumi's mock engine (tools/mock_engine.py), answers
its data-source calls from what exists, then plays the deployment the way the engine does
(each resource created, imported, updated, replaced or left as it is, against the stack's
state, in dependency order; deletions last) and applies each step to its objects with the
provider's semantics. Each behaviour cites the provider source it mirrors:
terraform-provider-github v6.13.0 (bridged by pulumi-github 6.15; paths under github/) and
terraform-provider-alicloud (bridged by pulumi-alicloud 4.0; paths under alicloud/).

A failed step fails the resources that depend on it and leaves the others to run (like
`pulumi up --continue-on-error`), so one deployment shows every failure at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.mock_engine import (
    ACCOUNT,
    FailedLookupError,
    Hidden,
    OfflineMocks,
    RecordingMonitor,
    Registered,
    Run,
    run_program,
)
from tools.tokens import (
    ACL_ENTRY,
    BRANCH,
    DEPLOYMENT_POLICY,
    EE_NAMESPACE,
    EE_REPO,
    ENV_SECRET,
    ENV_VARIABLE,
    ENVIRONMENT,
    FILE,
    OIDC_PROVIDER,
    PERSONAL_NAMESPACE,
    PERSONAL_REPO,
    PULL_REQUEST,
    RAM_POLICY,
    RETENTION_RULE,
    ROLE,
    RULESET,
    SECRET,
    VARIABLE,
)


class WorldError(FailedLookupError):
    """What the provider answers when it refuses a step (or a lookup)."""


def blob_sha(content: str) -> str:
    """Git's blob id, which GitHub's contents API calls `sha`."""
    data = content.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Hidden):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _parts(import_id: str, count: int, sep: str = ":") -> list[str]:
    """github/util.go parseID: SplitN on ':', the last part keeps any further ':'; a ':'
    inside an earlier part is written '??'. (alicloud/common.go ParseResourceId splits on
    every ':', which for these IDs comes to the same.)"""
    parts = import_id.split(sep, count - 1)
    if len(parts) != count:
        raise WorldError(f'unexpected ID format ("{import_id}"); expected {count} parts separated by "{sep}"')
    return [p.replace("??", ":") for p in parts]


# --- what exists -------------------------------------------------------------------------------


@dataclass
class Environment:
    """github/resource_github_repository_environment.go: protections, and what lives in it."""

    reviewers: list[dict[str, Any]] = field(default_factory=list)
    wait_timer: int = 0
    can_admins_bypass: bool = True
    prevent_self_review: bool = False
    branch_policy: dict[str, Any] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    policies: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class File:
    content: str

    @property
    def sha(self) -> str:
        return blob_sha(self.content)


@dataclass
class Pull:
    head: str
    base: str
    state: str = "open"


@dataclass
class Registry:
    """An ACR instance (or the account's Personal Edition registry): its namespaces (name ->
    repository names), internet ACL_ENTRY entries, name and endpoints."""

    namespaces: dict[str, set[str]] = field(default_factory=dict)
    acl: dict[str, str] = field(default_factory=dict)
    """CIDR -> comment."""
    name: str = "acme"
    region: str = "cn-hangzhou"
    internet: bool = True
    """Whether its internet endpoint is enabled (data_source_alicloud_cr_ee_instances.go lists
    only enabled endpoints)."""
    vpc: bool = True
    """Whether a VPC is bound to it (a new instance has none until one is added)."""
    tags: dict[str, list[str]] = field(default_factory=dict)
    """`namespace/repository` -> its image tags, newest first (what the builds pushed)."""
    retention: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Rule id -> the tag retention rule (scope, namespace, repository, count, pattern)."""

    def clean(self) -> list[str]:
        """One run of the retention rules, as ACR documents them ("a tag retention policy keeps
        image tags that match the policy and deletes all others"): in each repository a rule
        covers, the newest `retention_tag_count` tags are kept, and every tag its `tag_regexp`
        matches; the others are deleted (CreateArtifactLifecycleRule, EnableDeleteTag: true, as
        resource_alicloud_cr_artifact_lifecycle_rule.go sends it). Returns the tags deleted.
        (Whether the count includes the tags the pattern keeps is not documented: the pattern
        keeps them either way.)"""
        deleted = []
        for rule in self.retention.values():
            for path, tags in self.tags.items():
                namespace, _, repository = path.partition("/")
                if namespace != rule["namespace"] or rule["repository"] not in (None, repository):
                    continue
                pattern = re.compile(rule["pattern"]) if rule["pattern"] else None
                kept = [t for n, t in enumerate(tags) if n < rule["count"] or (pattern and pattern.search(t))]
                deleted += [f"{path}:{t}" for t in tags if t not in kept]
                self.tags[path] = kept
        return deleted

    @property
    def endpoints(self) -> tuple[list[str], list[str]]:
        """(public, VPC) endpoints, as the instance data source lists them."""
        host = f"{self.name}-registry.{self.region}.cr.aliyuncs.com"
        vpc = f"{self.name}-registry-vpc.{self.region}.cr.aliyuncs.com"
        return ([host] if self.internet else []), ([vpc] if self.vpc else [])


@dataclass
class StateEntry:
    type: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    retain_on_delete: bool
    import_id: str


@dataclass
class Step:
    op: str
    """create, import, update, replace, delete, forget (retained), same, failed, skipped."""
    type: str
    name: str
    detail: str = ""


@dataclass
class Deployment:
    run: Run
    steps: list[Step]
    errors: list[str]

    def named(self, *ops: str) -> list[str]:
        return [s.name for s in self.steps if s.op in ops]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.op != "same"]


@dataclass
class World:
    """GitHub `owner/repository` and Container Registry, as they exist."""

    repository: str = "shop"
    branches: set[str] = field(default_factory=lambda: {"main"})
    files: dict[tuple[str, str], File] = field(default_factory=dict)
    """(branch, path) -> file: the workflow files (what the stacks write and read)."""
    sources: dict[str, set[str]] = field(
        default_factory=lambda: {"main": {f"{d}/Dockerfile" for d in ("api", "web", "worker", "frontend")}}
    )
    """Branch -> the other files on it (Dockerfiles, ...), for the preflight's tree lookup."""
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Ruleset id -> what it is: name, target, the refs it includes, its rules and bypass actors."""
    private_on_free: bool = False
    """A private repository of an owner on GitHub Free: no rulesets (GitHub answers 403)."""
    pulls: list[Pull] = field(default_factory=list)
    instances: dict[str, Registry] = field(default_factory=dict)
    """Enterprise Edition instances by id."""
    personal: Registry = field(default_factory=Registry)
    """The account's Personal Edition registry in the region."""
    ram: dict[str, set[str]] = field(
        default_factory=lambda: {"oidc-provider": set(), "role": set(), "policy": set()}
    )
    """RAM entities of the account by kind: names."""
    refusing: dict[str, str] = field(default_factory=dict)
    """Lookups (by function name, `getTree`) the provider refuses, and what it says."""
    state: dict[str, StateEntry] = field(default_factory=dict)
    """What Pulumi manages, by URN (which names the stack)."""
    log: list[str] = field(default_factory=list)
    """Every write the providers made, in order (`POST variable API_IMAGE_NAME`, ...)."""
    overwritten: list[str] = field(default_factory=list)
    """What a create replaced without a word (PUT upserts)."""

    # --- changes by hand -----------------------------------------------------------------------

    def edit_file(self, path: str, content: str, branch: str = "main") -> None:
        self.files[(branch, path)] = File(content)

    def merge(self, pull: Pull, delete_branch: bool = True) -> None:
        """Merge a pull request as GitHub does, and delete its head branch (the common setting)."""
        for (branch, path), file in list(self.files.items()):
            if branch == pull.head:
                self.files[(pull.base, path)] = File(file.content)
        pull.state = "merged"
        if delete_branch:
            self.branches.discard(pull.head)
            self.files = {k: v for k, v in self.files.items() if k[0] != pull.head}

    # --- the program against the world ---------------------------------------------------------

    def up(self, config: Mapping[str, str], secret_keys: Collection[str], stack: str = "dev") -> Deployment:
        """`pulumi up`: the program runs against what exists, then each step is applied."""
        run = run_program(config, secret_keys, stack=stack, monitor=RecordingMonitor(WorldMocks(self)))
        steps, errors = self._steps(run, stack)
        return Deployment(run, steps, errors)

    def preview(
        self, config: Mapping[str, str], secret_keys: Collection[str], stack: str = "dev"
    ) -> Deployment:
        """`pulumi preview`: the same steps, played on a copy, so nothing here changes."""
        return copy.deepcopy(self).up(config, secret_keys, stack)

    def refresh(self) -> None:
        """`pulumi refresh`: the state reads what exists (a file's content and sha, above all)."""
        for urn, entry in list(self.state.items()):
            kind = KINDS.get(entry.type)
            if kind is None:
                continue
            try:
                entry.inputs.update(kind.read(self, entry.id))
                entry.outputs.update(kind.outputs(self, entry.id))
            except WorldError:
                del self.state[urn]  # gone: Read removes it from state (d.SetId(""))

    def destroy(self) -> list[Step]:
        steps = []
        for urn, entry in reversed(list(self.state.items())):
            name = urn.rsplit("::", 1)[-1]
            if entry.retain_on_delete:
                steps.append(Step("forget", entry.type, name))
            elif (kind := KINDS.get(entry.type)) is not None:
                kind.delete(self, entry.id, entry.inputs, entry.outputs)
                steps.append(Step("delete", entry.type, name))
            del self.state[urn]
        return steps

    def _steps(self, run: Run, stack: str) -> tuple[list[Step], list[str]]:
        steps: list[Step] = []
        errors: list[str] = []
        failed: set[str] = set()
        later: list[tuple[str, StateEntry]] = []  # replaced (create-before-delete): deleted last
        registered = {r.urn for r in run.resources}
        for r in run.custom():
            if failed & set(r.dependencies):
                steps.append(Step("skipped", r.type, r.name, "a resource it needs failed"))
                failed.add(r.urn)
                continue
            try:
                step = self._step(r, later)
            except WorldError as err:
                steps.append(Step("failed", r.type, r.name, str(err)))
                errors.append(f"{r.type} ({r.name}): {err}")
                failed.add(r.urn)
                continue
            steps.append(step)
        if errors:
            return steps, errors  # the engine does not delete after a failed update
        for name, entry in later:
            steps.append(self._remove(name, entry))
        ours = f"urn:pulumi:{stack}::"  # the state holds every stack's resources
        for urn, entry in reversed(
            [(u, e) for u, e in self.state.items() if u.startswith(ours) and u not in registered]
        ):
            steps.append(self._remove(urn.rsplit("::", 1)[-1], entry))
            del self.state[urn]
        return steps, errors

    def _step(self, r: Registered, later: list[tuple[str, StateEntry]]) -> Step:
        kind = KINDS.get(r.type, Kind())
        inputs = _plain(r.inputs)
        old = self.state.get(r.urn)
        if old is None and r.import_id:
            # Import, then update where the program differs (pulumi/pulumi#19339, Pulumi 3.174.0).
            imported = kind.read(self, r.import_id)
            self.log.append(f"IMPORT {r.type.rsplit(':', 1)[-1]} {r.import_id}")
            self.state[r.urn] = StateEntry(
                r.type,
                r.import_id,
                imported,
                kind.outputs(self, r.import_id),
                r.retain_on_delete,
                r.import_id,
            )
            changed = kind.diff(imported, inputs) - set(r.ignore_changes)
            if changed & (kind.force_new | set(r.replace_on_changes)):
                raise WorldError(f"importing would replace it ({', '.join(sorted(changed))} differ)")
            if changed:
                entry = self.state[r.urn]
                kind.update(self, r.import_id, imported, inputs, entry.outputs)
                entry.inputs, entry.outputs = inputs, kind.outputs(self, r.import_id)
            return Step("import", r.type, r.name, ", ".join(sorted(changed)))
        if old is None:
            object_id = kind.create(self, inputs)
            self.state[r.urn] = StateEntry(
                r.type, object_id, inputs, kind.outputs(self, object_id), r.retain_on_delete, ""
            )
            return Step("create", r.type, r.name)
        changed = kind.diff(old.inputs, inputs) - set(r.ignore_changes)
        old.retain_on_delete = r.retain_on_delete
        if not changed:
            return Step("same", r.type, r.name)
        if changed & (kind.force_new | set(r.replace_on_changes)):
            if r.delete_before_replace:
                self._remove(r.name, old)
            else:
                later.append((r.name, old))
            object_id = kind.create(self, inputs)
            self.state[r.urn] = StateEntry(
                r.type, object_id, inputs, kind.outputs(self, object_id), r.retain_on_delete, ""
            )
            return Step("replace", r.type, r.name, ", ".join(sorted(changed)))
        kind.update(self, old.id, old.inputs, inputs, old.outputs)
        old.inputs = inputs
        old.outputs = kind.outputs(self, old.id)
        return Step("update", r.type, r.name, ", ".join(sorted(changed)))

    def _remove(self, name: str, entry: StateEntry) -> Step:
        if entry.retain_on_delete:
            return Step("forget", entry.type, name)
        KINDS.get(entry.type, Kind()).delete(self, entry.id, entry.inputs, entry.outputs)
        return Step("delete", entry.type, name)

    # --- GitHub's objects ----------------------------------------------------------------------

    def scope(self, environment: str | None) -> tuple[dict[str, str], dict[str, str]]:
        """The variables and secrets of the repository, or of one of its environments."""
        if environment is None:
            return self.variables, self.secrets
        if environment not in self.environments:
            raise WorldError(f"404 Not Found: environment {environment}")
        env = self.environments[environment]
        return env.variables, env.secrets


class WorldMocks(OfflineMocks):
    """The program's data-source calls, answered from what exists."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def answer(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        w, name = self.world, token.rsplit(":", 1)[-1]
        if name in w.refusing:
            raise WorldError(w.refusing[name])
        # The GitHub data sources name the repository (`name`, or `repository`): another is a 404.
        repository = args.get("repository", args.get("name")) if token.startswith("github:") else None
        if (
            token.startswith("github:")
            and name not in ("getUser", "getTeam", "getRestApi")
            and repository != w.repository
        ):
            raise WorldError(f"GET repos/acme/{repository}: 404 Not Found []")
        if name == "getRestApi":
            # data_source_github_rest_api.go: a GET whose body is kept as text; the one endpoint
            # the program asks is "List repository rulesets".
            if not re.fullmatch(rf"repos/[^/]+/{re.escape(w.repository)}/rulesets", args["endpoint"]):
                raise WorldError(f"GET {args['endpoint']}: 404 Not Found []")
            listed = [{"id": i, "name": r["name"], "target": r["target"]} for i, r in w.rulesets.items()]
            return {"body": json.dumps(listed), "code": 200, "status": "200 OK", "headers": "{}"}
        if name == "getActionsVariables":
            return {"variables": [{"name": k, "value": v} for k, v in w.variables.items()]}
        if name == "getActionsEnvironmentVariables":
            # ListEnvVariables of an environment that does not exist: GitHub's 404.
            variables, _ = w.scope(args["environment"])
            return {"variables": [{"name": k, "value": v} for k, v in variables.items()]}
        if name == "getActionsSecrets":
            return {"secrets": [{"name": k} for k in w.secrets]}  # names only, never values
        if name == "getActionsEnvironmentSecrets":
            _, secrets = w.scope(args["environment"])
            return {"secrets": [{"name": k} for k in secrets]}
        if name == "getEndpointAclPolicies":
            # data_source_alicloud_cr_endpoint_acl_policies.go: endpoint_type is required, and
            # `internet` is its one valid value (the ACL the stack's entries belong to).
            if args.get("endpointType") != "internet":
                raise WorldError(f"endpoint_type: expected internet, got {args.get('endpointType')!r}")
            acl = w.instances[args["instanceId"]].acl
            return {
                "policies": [
                    {"id": f"{args['instanceId']}:internet:{cidr}", "entry": cidr, "description": comment}
                    for cidr, comment in acl.items()
                ]
            }
        if name == "getRepositoryFile":
            # data_source_github_repository_file.go: a missing file is no error, an empty result.
            found = w.files.get((args.get("branch") or "main", args["file"]))
            return {"content": found.content, "sha": found.sha, "file": args["file"]} if found else {}
        # alicloud/data_source_alicloud_cr_*: nameRegex is Go's regexp.MatchString: unanchored.
        matches = re.compile(args.get("nameRegex") or "").search
        if name == "getRegistryEnterpriseNamespaces":
            spaces = w.instances[args["instanceId"]].namespaces
            return {
                "namespaces": [{"id": f"{args['instanceId']}:{n}", "name": n} for n in spaces if matches(n)]
            }
        if name == "getRegistryEnterpriseRepos":
            spaces = w.instances[args["instanceId"]].namespaces
            repos = [(n, r) for n, rs in spaces.items() if n == args.get("namespace", n) for r in sorted(rs)]
            return {
                "repos": [{"id": f"crr-{n}-{r}", "namespace": n, "name": r} for n, r in repos if matches(r)]
            }
        if name == "getTree":
            # data_source_github_tree.go: GetTree of the ref; a branch that does not exist is a 404.
            branch = args["treeSha"]
            if branch not in w.branches:
                raise WorldError(f"GET repos/acme/{w.repository}/git/trees/{branch}: 404 Not Found []")
            paths = {path for (b, path) in w.files if b == branch} | w.sources.get(branch, set())
            trees = {p.rsplit("/", n)[0] for p in paths for n in range(1, p.count("/") + 1)}
            entries = [{"path": p, "type": "blob"} for p in sorted(paths)]
            return {"entries": entries + [{"path": t, "type": "tree"} for t in sorted(trees)]}
        if name == "getRegistryEnterpriseInstances":
            # data_source_alicloud_cr_ee_instances.go: the region's instances, filtered by id.
            instances = []
            for instance_id, reg in w.instances.items():
                if instance_id in (args.get("ids") or [instance_id]):
                    public, vpc = reg.endpoints
                    instances.append(
                        {
                            "id": instance_id,
                            "name": reg.name,
                            "region": reg.region,
                            "publicEndpoints": public,
                            "vpcEndpoints": vpc,
                        }
                    )
            return {"instances": instances}
        if name == "getOidcProviders":
            # data_source_alicloud_ims_oidc_providers.go: every provider of the account, filtered
            # by nameRegex (Go's regexp, unanchored).
            return {
                "providers": [
                    {"oidcProviderName": p, "arn": f"acs:ram::{ACCOUNT}:oidc-provider/{p}"}
                    for p in sorted(w.ram["oidc-provider"])
                    if matches(p)
                ]
            }
        if name == "getNamespaces":
            return {"namespaces": [{"name": n} for n in w.personal.namespaces if matches(n)]}
        if name == "getRepos":
            names = sorted(w.personal.namespaces.get(args["namespace"], ()))
            return {"repos": [{"namespace": args["namespace"], "name": r} for r in names if matches(r)]}
        return super().answer(token, args)


# --- how each provider answers ---------------------------------------------------------------


class Kind:
    """A resource type's create, read (import and refresh), update and delete in the world.
    The default accepts everything (types whose existing-object behaviour no test needs)."""

    force_new: frozenset[str] = frozenset()
    compared: tuple[str, ...] | None = None
    """The inputs a diff looks at (None: all the program gives)."""

    def diff(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
        keys = self.compared or tuple({*old, *new})
        return {k for k in keys if (old.get(k) or None) != (new.get(k) or None)}

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        return f"{inputs.get('name', 'object')}-{len(world.log)}"

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        raise WorldError(f"cannot import {object_id}")

    def outputs(self, world: World, object_id: str) -> dict[str, Any]:
        return {}

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        pass

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        pass


class VariableKind(Kind):
    """github/resource_github_actions_variable.go (and ..._environment_variable.go)."""

    force_new = frozenset({"variableName", "environment"})
    compared = ("repository", "environment", "variableName", "value")

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        env, name = inputs.get("environment"), inputs["variableName"]
        variables, _ = world.scope(env)
        # resourceGithubActionsVariableCreate: a POST (go-github postVariable), no 409 handling.
        if name.upper() in (v.upper() for v in variables):
            where = f"environments/{env}/variables" if env else "actions/variables"
            url = f"repos/acme/{world.repository}/{where}"
            raise WorldError(f"POST {url}: 409 Already exists - Variable already exists []")
        variables[name.upper()] = inputs["value"]
        world.log.append(f"POST variable {name}")
        return f"{inputs['repository']}:{env + ':' if env else ''}{name}"

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        # ...Import: parseID2 / parseID3, then GET the variable (an error fails the import).
        env_scoped = object_id.count(":") >= 2
        repo, *rest = _parts(object_id, 3 if env_scoped else 2)
        env, name = (rest[0], rest[1]) if env_scoped else (None, rest[0])
        variables, _ = world.scope(env)
        if repo != world.repository or name.upper() not in variables:
            raise WorldError(f"GET variable {name}: 404 Not Found")
        found = {"repository": repo, "variableName": name, "value": variables[name.upper()]}
        return {**found, "environment": env} if env else found

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        variables, _ = world.scope(new.get("environment"))
        variables[new["variableName"].upper()] = new["value"]  # ...Update: a PATCH
        world.log.append(f"PATCH variable {new['variableName']}")

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        variables, _ = world.scope(inputs.get("environment"))
        if variables.pop(inputs["variableName"].upper(), None) is None:
            raise WorldError("DELETE variable: 404 Not Found")  # ...Delete returns the 404
        world.log.append(f"DELETE variable {inputs['variableName']}")


class SecretKind(Kind):
    """github/resource_github_actions_secret.go (and ..._environment_secret.go): create and
    update are the same PUT (CreateOrUpdateRepoSecret), which overwrites without a word."""

    force_new = frozenset({"secretName", "environment"})
    compared = ("repository", "environment", "secretName", "value")

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        env, name = inputs.get("environment"), inputs["secretName"]
        _, secrets = world.scope(env)
        if name.upper() in secrets:
            world.overwritten.append(f"secret {name}" + (f" of environment {env}" if env else ""))
        secrets[name.upper()] = inputs["value"]
        world.log.append(f"PUT secret {name}")
        return f"{inputs['repository']}:{env + ':' if env else ''}{name}"

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        self.create(world, new)

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        _, secrets = world.scope(inputs.get("environment"))
        secrets.pop(inputs["secretName"].upper(), None)
        world.log.append(f"DELETE secret {inputs['secretName']}")


class EnvironmentKind(Kind):
    """github/resource_github_repository_environment.go."""

    force_new = frozenset({"environment"})
    compared = (
        "environment",
        "reviewers",
        "waitTimer",
        "canAdminsBypass",
        "preventSelfReview",
        "deploymentBranchPolicy",
    )

    @staticmethod
    def protections(inputs: Mapping[str, Any]) -> dict[str, Any]:
        # go-github CreateUpdateEnvironment has no omitempty: what is unset is sent as null, so
        # it clears; a nil wait timer is 0, a nil canAdminsBypass is true (the schema defaults).
        return {
            "reviewers": inputs.get("reviewers") or [],
            "wait_timer": int(inputs.get("waitTimer") or 0),
            "can_admins_bypass": inputs.get("canAdminsBypass", True),
            "prevent_self_review": bool(inputs.get("preventSelfReview", False)),
            "branch_policy": inputs.get("deploymentBranchPolicy"),
        }

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        # ...Create: a PUT with no existence check: an existing environment is taken as it is
        # and its protections are overwritten (its secrets and variables stay).
        name, after = inputs["environment"], self.protections(inputs)
        if name in world.environments:
            before = self.protections(self.read(world, f"{inputs['repository']}:{name}"))
            if lost := [k for k in before if before[k] != after[k]]:
                world.overwritten.append(f"environment {name}: {', '.join(lost)}")
        self._write(world.environments.setdefault(name, Environment()), after)
        world.log.append(f"PUT environment {name}")
        return f"{inputs['repository']}:{name}"

    def _write(self, env: Environment, p: dict[str, Any]) -> None:
        env.reviewers, env.wait_timer, env.branch_policy = p["reviewers"], p["wait_timer"], p["branch_policy"]
        env.can_admins_bypass, env.prevent_self_review = p["can_admins_bypass"], p["prevent_self_review"]

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        repo, name = _parts(object_id, 2)  # ...Import: "<repository>:<environment>"
        env = world.environments.get(name)
        if repo != world.repository or env is None:
            raise WorldError(f"GET environment {name}: 404 Not Found")
        return {
            "repository": repo,
            "environment": name,
            "reviewers": env.reviewers or None,
            "waitTimer": env.wait_timer,
            "canAdminsBypass": env.can_admins_bypass,
            "preventSelfReview": env.prevent_self_review,
            "deploymentBranchPolicy": env.branch_policy,
        }

    def diff(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
        a, b = self.protections(old), self.protections(new)
        return {k for k in a if a[k] != b[k]} | (
            {"environment"} if old.get("environment") != new.get("environment") else set()
        )

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        self._write(world.environments[new["environment"]], self.protections(new))
        world.log.append(f"PUT environment {new['environment']}")

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        # ...Delete; GitHub deletes the environment's secrets and variables with it.
        world.environments.pop(inputs["environment"], None)
        world.log.append(f"DELETE environment {inputs['environment']}")


class PolicyKind(Kind):
    """..._repository_environment_deployment_policy.go: a POST per pattern."""

    force_new = frozenset({"environment"})

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        env = world.environments.get(inputs["environment"])
        if env is None:
            raise WorldError("404 Not Found: environment")
        policy = (
            "branch" if inputs.get("branchPattern") else "tag",
            inputs.get("branchPattern") or inputs["tagPattern"],
        )
        world.log.append(f"POST deployment policy {policy}")
        if policy in env.policies:
            # GitHub answers a pattern that exists with 303 See Other and the existing policy,
            # which go-github's client follows: the resource takes that policy as it is
            # ("Create a deployment branch policy": 303; ...Create sets no CheckRedirect).
            return f"{inputs['repository']}:{inputs['environment']}:{env.policies.index(policy) + 1}"
        env.policies.append(policy)
        return f"{inputs['repository']}:{inputs['environment']}:{len(env.policies)}"


class RulesetKind(Kind):
    """github/resource_github_repository_ruleset.go: Create POSTs `repos/{owner}/{repo}/rulesets`
    (client.Repositories.CreateRuleset); the id GitHub gives is the resource's. GitHub refuses a
    second ruleset of one name in a repository (422 "Name must be unique"), and rulesets on a
    private repository of GitHub Free (403 "Upgrade to GitHub Pro or make this repository public
    to enable this feature")."""

    @staticmethod
    def ruleset(inputs: Mapping[str, Any]) -> dict[str, Any]:
        conditions = inputs.get("conditions") or {}
        refs = (conditions.get("refName") or {}).get("includes") or []
        return {
            "name": inputs["name"],
            "target": inputs["target"],
            "enforcement": inputs["enforcement"],
            "include": list(refs),
            "rules": dict(inputs.get("rules") or {}),
            "bypass": [dict(actor) for actor in inputs.get("bypassActors") or []],
        }

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        world.log.append(f"POST ruleset {inputs['name']}")
        if world.private_on_free:
            raise WorldError(
                "POST https://api.github.com/repos/acme/shop/rulesets: 403 Upgrade to GitHub Pro or make "
                "this repository public to enable this feature. []"
            )
        if any(r["name"] == inputs["name"] for r in world.rulesets.values()):
            raise WorldError(
                "POST https://api.github.com/repos/acme/shop/rulesets: 422 Validation Failed "
                "[{Resource:Ruleset Field:name Code:custom Message:Name must be unique}]"
            )
        ruleset_id = max(world.rulesets, default=100) + 1
        world.rulesets[ruleset_id] = self.ruleset(inputs)
        return str(ruleset_id)

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        found = world.rulesets.get(int(object_id.rpartition(":")[2]))
        if found is None:
            raise WorldError("404 Not Found: ruleset")
        return {"name": found["name"]}

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        world.log.append(f"PUT ruleset {new['name']}")
        world.rulesets[int(object_id.rpartition(":")[2])] = self.ruleset(new)

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        world.log.append(f"DELETE ruleset {inputs['name']}")
        world.rulesets.pop(int(object_id.rpartition(":")[2]), None)


class RetentionKind(Kind):
    """alicloud/resource_alicloud_cr_artifact_lifecycle_rule.go: a rule of an instance, on a
    namespace (scope NAMESPACE) or one repository (REPO); run by ACR on its schedule
    (`Registry.clean` plays one run)."""

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        registry = world.instances[inputs["instanceId"]]
        rule_id = f"{inputs['instanceId']}:crlc-{len(registry.retention) + 1}"
        registry.retention[rule_id] = self.rule(inputs)
        return rule_id

    @staticmethod
    def rule(inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "namespace": inputs["namespaceName"],
            "repository": inputs.get("repoName"),
            "count": int(inputs["retentionTagCount"]),
            "pattern": inputs.get("tagRegexp"),
        }

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        world.instances[new["instanceId"]].retention[object_id] = self.rule(new)

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        world.instances[inputs["instanceId"]].retention.pop(object_id, None)


class FileKind(Kind):
    """github/resource_github_repository_file.go."""

    force_new = frozenset({"file", "branch"})
    compared = ("repository", "file", "branch", "content")

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        branch, path = inputs.get("branch") or "main", inputs["file"]
        if branch not in world.branches:  # checkRepositoryBranchExists
            where = f"acme/{world.repository}"
            raise WorldError(f"branch {branch} not found in repository {where} or repository is not readable")
        if (branch, path) in world.files and not inputs.get("overwriteOnCreate"):
            raise WorldError(
                "refusing to overwrite existing file: configure `overwrite_on_create` to `true` to override"
            )
        world.files[(branch, path)] = File(inputs["content"])
        world.log.append(f"PUT file {path} on {branch}")
        return f"{inputs['repository']}:{path}:{branch}"

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        repo, path, branch = _parts(object_id, 3)  # ...Import: parseID3
        found = world.files.get((branch or "main", path))
        if repo != world.repository or found is None:
            raise WorldError(
                f"filePath {path} is not a file in repository acme/{repo} or repository is not readable"
            )
        return {"repository": repo, "file": path, "branch": branch or "main", "content": found.content}

    def outputs(self, world: World, object_id: str) -> dict[str, Any]:
        _, path, branch = _parts(object_id, 3)
        found = world.files.get((branch or "main", path))
        return {"sha": found.sha} if found else {}

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        # ...Update sends the blob sha recorded in state; GitHub refuses a stale one.
        key = (new.get("branch") or "main", new["file"])
        current = world.files.get(key)
        if current is not None and current.sha != outputs.get("sha"):
            raise WorldError(
                f"PUT contents/{new['file']}: 409 {new['file']} does not match {outputs.get('sha')}"
            )
        world.files[key] = File(new["content"])
        world.log.append(f"PUT file {new['file']} on {key[0]}")

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        world.files.pop((inputs.get("branch") or "main", inputs["file"]), None)
        world.log.append(f"DELETE file {inputs['file']}")


class BranchKind(Kind):
    """github/resource_github_branch.go: `branch` is not ForceNew; a new name is a rename."""

    force_new = frozenset({"repository", "sourceBranch"})
    compared = ("repository", "branch", "sourceBranch")

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        # ...Create swallows "422 Reference already exists" and takes the branch as it is.
        name, source = inputs["branch"], inputs.get("sourceBranch") or "main"
        if name not in world.branches:
            world.branches.add(name)
            for (branch, path), file in list(world.files.items()):
                if branch == source:
                    world.files[(name, path)] = File(file.content)
            world.log.append(f"POST branch {name}")
        return f"{inputs['repository']}:{name}"

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        if old["branch"] not in world.branches:  # ...Update: Repositories.RenameBranch
            raise WorldError(f"POST branches/{old['branch']}/rename: 404 Branch not found")
        world.branches.discard(old["branch"])
        world.branches.add(new["branch"])

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if inputs["branch"] not in world.branches:
            raise WorldError("DELETE git/refs: 422 Reference does not exist")  # ...Delete returns it
        world.branches.discard(inputs["branch"])


class PullKind(Kind):
    """github/resource_github_repository_pull_request.go: `head_ref` is ForceNew."""

    force_new = frozenset({"headRef", "baseRepository"})

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        world.pulls.append(Pull(inputs["headRef"], inputs["baseRef"]))
        world.log.append(f"POST pull request {inputs['headRef']} -> {inputs['baseRef']}")
        return str(len(world.pulls))


class NamespaceKind(Kind):
    """alicloud/resource_alicloud_cr_ee_namespace.go (Enterprise) and ..._cr_namespace.go."""

    force_new = frozenset({"instanceId", "name"})
    compared: tuple[str, ...] = ("instanceId", "name", "defaultVisibility")

    def __init__(self, enterprise: bool) -> None:
        self.enterprise = enterprise

    def registry(self, world: World, instance_id: str | None) -> Registry:
        if not self.enterprise:
            return world.personal
        if instance_id not in world.instances:
            raise WorldError(f"INSTANCE_NOT_EXIST: {instance_id}")
        return world.instances[instance_id]

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        reg, name = self.registry(world, inputs.get("instanceId")), inputs["name"]
        # ...Create: no special case for a namespace that exists; the API refuses it and the
        # provider wraps the answer in DefaultErrorMsg (alicloud/errors.go).
        if name in reg.namespaces:
            resource = "alicloud_cr_ee_namespace" if self.enterprise else "alicloud_cr_namespace"
            raise WorldError(
                f"Resource {resource} CreateNamespace Failed!!! {{Code: NAMESPACE_ALREADY_EXIST}}"
            )
        reg.namespaces[name] = set()
        world.log.append(f"CreateNamespace {name}")
        return f"{inputs['instanceId']}:{name}" if self.enterprise else name

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        instance, name = _parts(object_id, 2) if self.enterprise else (None, object_id)
        if ":" in name or name not in self.registry(world, instance).namespaces:
            raise WorldError(f"NAMESPACE_NOT_EXIST: {object_id}")
        return {"name": name, **({"instanceId": instance} if instance else {})}

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        self.registry(world, inputs.get("instanceId")).namespaces.pop(inputs["name"], None)
        world.log.append(f"DeleteNamespace {inputs['name']}")


class RepoKind(NamespaceKind):
    """alicloud/resource_alicloud_cr_ee_repo.go (Enterprise) and ..._cr_repo.go."""

    force_new = frozenset({"instanceId", "namespace", "name"})
    compared = ("instanceId", "namespace", "name", "repoType", "summary", "tagImmutability")

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        reg, ns, name = self.registry(world, inputs.get("instanceId")), inputs["namespace"], inputs["name"]
        if ns not in reg.namespaces:
            raise WorldError(
                f"Resource alicloud_cr_ee_repo CreateRepository Failed!!! {{Code: NAMESPACE_NOT_EXIST: {ns}}}"
            )
        if name in reg.namespaces[ns]:
            resource, action = (
                ("alicloud_cr_ee_repo", "CreateRepository")
                if self.enterprise
                else ("alicloud_cr_repo", "CreateRepo")
            )
            raise WorldError(f"Resource {resource} {action} Failed!!! {{Code: REPO_ALREADY_EXIST}}")
        reg.namespaces[ns].add(name)
        world.log.append(f"CreateRepository {ns}/{name}")
        return f"{inputs['instanceId']}:{ns}:{name}" if self.enterprise else f"{ns}/{name}"

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        if self.enterprise:
            instance, ns, name = _parts(object_id, 3)  # ParseResourceId(id, 3)
        else:
            instance, (ns, name) = None, _parts(object_id, 2, "/")  # SLASH_SEPARATED
        if ":" in name or name not in self.registry(world, instance).namespaces.get(ns, ()):
            raise WorldError(f"REPO_NOT_EXIST: {object_id}")
        return {"namespace": ns, "name": name, **({"instanceId": instance} if instance else {})}

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        self.registry(world, inputs.get("instanceId")).namespaces.get(inputs["namespace"], set()).discard(
            inputs["name"]
        )
        world.log.append(f"DeleteRepository {inputs['namespace']}/{inputs['name']}")


class AclKind(Kind):
    """alicloud/resource_alicloud_cr_endpoint_acl_policy.go: one entry; every field ForceNew;
    delete removes that entry only."""

    force_new = frozenset({"instanceId", "entry", "endpointType", "description", "moduleName"})

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        acl = world.instances[inputs["instanceId"]].acl
        if inputs["entry"] in acl:
            raise WorldError(
                "Resource alicloud_cr_instance_endpoint_acl_policy CreateInstanceEndpointAclPolicy Failed!!!"
            )
        acl[inputs["entry"]] = inputs.get("description") or ""
        world.log.append(f"CreateInstanceEndpointAclPolicy {inputs['entry']}")
        return f"{inputs['instanceId']}:internet:{inputs['entry']}"

    def read(self, world: World, object_id: str) -> dict[str, Any]:
        # The ID split on ':' into exactly 3 parts; Read sets every field but `module_name`.
        instance, endpoint_type, entry = _parts(object_id, 3)
        acl = world.instances.get(instance, Registry()).acl
        if entry not in acl:
            raise WorldError(f"ListInstanceEndpoint: entry {entry} not found")
        return {
            "instanceId": instance,
            "endpointType": endpoint_type,
            "entry": entry,
            "description": acl[entry],
        }

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        world.instances[inputs["instanceId"]].acl.pop(inputs["entry"], None)
        world.log.append(f"DeleteInstanceEndpointAclPolicy {inputs['entry']}")


class RamKind(Kind):
    """RAM entities named by the stack (alicloud/resource_alicloud_ims_oidc_provider.go,
    resource_alicloud_ram_role.go, resource_alicloud_ram_policy.go): a name is unique in the
    account, and creating one that exists is refused (EntityAlreadyExists)."""

    def __init__(self, entity: str, name_field: str, document: str = "", trust: bool = False) -> None:
        self.entity, self.name_field = entity, name_field
        # The input holding the entity's policy document, if any, and whether it is a role's
        # trust policy (Principal, no Resource) or a permission policy (Resource, no Principal).
        self.document, self.trust = document, trust
        self.force_new = frozenset({name_field})

    def create(self, world: World, inputs: dict[str, Any]) -> str:
        names, name = world.ram[self.entity], inputs[self.name_field]
        if name in names:
            raise WorldError(f"EntityAlreadyExists.{self.entity}: {name}")
        self.check_document(inputs)
        names.add(name)
        world.log.append(f"Create {self.entity} {name}")
        return str(name)

    def update(
        self, world: World, object_id: str, old: dict[str, Any], new: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        self.check_document(new)

    def check_document(self, inputs: dict[str, Any]) -> None:
        """RAM refuses a document outside its policy grammar (MalformedPolicyDocument; Alibaba's
        "Policy structure and syntax" and "Policy elements"): Version "1", a non-empty Statement
        list whose elements have Effect "Allow" or "Deny" and an Action, and a Principal (trust
        policy) or a Resource (permission policy). Key names and values are case-sensitive."""
        if not self.document:
            return
        doc = json.loads(inputs[self.document])
        statements = doc.get("Statement")
        problems = [] if doc.get("Version") == "1" else ['Version must be "1"']
        if not isinstance(statements, list) or not statements:
            problems.append("Statement must be a non-empty list")
        for st in statements if isinstance(statements, list) else []:
            if st.get("Effect") not in ("Allow", "Deny"):
                problems.append(f"Effect must be Allow or Deny: {st.get('Effect')!r}")
            if not st.get("Action"):
                problems.append("a statement needs an Action")
            if self.trust and ("Principal" not in st or "Resource" in st):
                problems.append("a trust policy's statement names a Principal and no Resource")
            if not self.trust and ("Resource" not in st or "Principal" in st):
                problems.append("a permission policy's statement names a Resource and no Principal")
        if problems:
            raise WorldError(f"MalformedPolicyDocument: {'; '.join(problems)}")

    def delete(self, world: World, object_id: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        world.ram[self.entity].discard(inputs[self.name_field])
        world.log.append(f"Delete {self.entity} {inputs[self.name_field]}")


KINDS: dict[str, Kind] = {
    VARIABLE: VariableKind(),
    ENV_VARIABLE: VariableKind(),
    SECRET: SecretKind(),
    ENV_SECRET: SecretKind(),
    ENVIRONMENT: EnvironmentKind(),
    DEPLOYMENT_POLICY: PolicyKind(),
    FILE: FileKind(),
    BRANCH: BranchKind(),
    PULL_REQUEST: PullKind(),
    RULESET: RulesetKind(),
    RETENTION_RULE: RetentionKind(),
    EE_NAMESPACE: NamespaceKind(enterprise=True),
    EE_REPO: RepoKind(enterprise=True),
    PERSONAL_NAMESPACE: NamespaceKind(enterprise=False),
    PERSONAL_REPO: RepoKind(enterprise=False),
    ACL_ENTRY: AclKind(),
    OIDC_PROVIDER: RamKind("oidc-provider", "oidcProviderName"),
    ROLE: RamKind("role", "roleName", "assumeRolePolicyDocument", trust=True),
    RAM_POLICY: RamKind("policy", "policyName", "policyDocument"),
}


def handmade(world: World, edition: str = "enterprise", instance: str = "cri-abc123def456") -> World:
    """The pipeline of the original request, made by hand: the namespace and `api` repository,
    the two variables, the two secrets, and a `build-push.yml` named "Build and Push"."""
    registry = world.instances.setdefault(instance, Registry()) if edition == "enterprise" else world.personal
    registry.namespaces["acme-dev"] = {"api"}
    endpoint = (
        "acme-registry.cn-hangzhou.cr.aliyuncs.com"
        if edition == "enterprise"
        else "registry.cn-hangzhou.aliyuncs.com"
    )
    world.variables.update({"ALIYUN_REGISTRY": endpoint, "API_IMAGE_NAME": "acme-dev/api"})
    world.secrets.update({"ALIYUN_REGISTRY_USER": "old-user", "ALIYUN_REGISTRY_PWD": "old-password"})
    world.edit_file(".github/workflows/build-push.yml", HANDMADE_WORKFLOW)
    return world


HANDMADE_WORKFLOW = """\
name: Build and Push
on:
  push:
    branches: [main]
jobs:
  api-build-and-push:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""
