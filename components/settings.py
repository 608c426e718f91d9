"""The settings model: every configuration key, declared once.

Each key is a pydantic field with its type, default and description; the JSON Schema for
stack files (`make schema`) and docs/configuration.md are generated from these models. The
rules are validators: naming rules are the pure checks in components/rules.py, and rules that
span fields raise :func:`problems` naming each key. Fields hold what the user wrote (None:
derived); what the program derives from them are properties of :class:`Settings`.
components/config.py turns Pulumi's flat config into these models and their errors into one
message. Nothing here calls a cloud.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from components import rules
from components.contract import (
    GITHUB_FINGERPRINTS,
    INSTANCE_VARIABLE,
    PASSWORD_SECRET,
    PROJECT,
    PROVIDER_VARIABLE,
    REGION_VARIABLE,
    REGISTRY_VARIABLE,
    RESERVED_NAMES,
    ROLE_VARIABLE,
    USER_SECRET,
)
from components.fields import (
    MISSING,
    SECURE,
    Bool,
    BuildArg,
    Empty,
    Given,
    LoginOrId,
    Model,
    NonEmpty,
    Platforms,
    Regex,
    RelPath,
    Rule,
    Secret,
    Text,
    Whole,
    distinct,
    fail,
    problems,
)

SCAN_TRIGGERS = {"onPush": "AUTO", "manual": "MANUAL"}


# --- the registry ------------------------------------------------------------------------------


class AclEntry(Model):
    cidr: Annotated[str, Rule(rules.cidr)]
    """An IPv4 CIDR block allowed in."""
    comment: Text = "acr-pipeline"
    """Shown beside the entry in the console."""


class Retention(Model):
    keep_last_tags: Annotated[int, Whole(1, 10000)]
    """How many tags to keep per repository."""
    keep_tag_pattern: Regex | None = None
    """Tags matching this regular expression are kept as well."""


class Scan(Model):
    trigger: Literal["onPush", "manual"] = "onPush"
    """Scan every pushed tag, or only when asked."""
    type: Literal["VUL", "SBOM"] = "VUL"
    """A vulnerability scan, or an SBOM."""
    tag_pattern: Regex = ".*"
    """Scan the tags matching this regular expression."""


class Registry(Model):
    edition: Literal["enterprise", "personal", "external"] = "enterprise"
    """`enterprise`: an ACR Enterprise Edition instance. `personal`: the Personal Edition, which the
    provider deprecates (a warning). `external`: a registry managed elsewhere; only the GitHub side
    and the workflow are written."""
    instance_id: Annotated[str, Rule(rules.instance_id)] | None = None
    """Enterprise Edition: the existing instance, `cri-...`. Required there."""
    instance_name: Annotated[str, Rule(rules.instance_name)] | None = None
    """Enterprise Edition: the instance's name, from which the endpoint is derived."""
    endpoint: Annotated[str, Rule(rules.host)] | None = None
    """The login host, verbatim. Unset: `<instanceName>-registry.<region>.cr.aliyuncs.com`, or
    `registry.<region>.aliyuncs.com` on Personal Edition (instances created since 2024-09 have
    their own `crpi-<id>.<region>.personal.cr.aliyuncs.com` and must set it). Enterprise Edition
    needs `instanceName` or `endpoint`; `external` needs `endpoint`."""
    namespace: Text
    """The ACR namespace of the images."""
    create_namespace: Bool = True
    """`false`: the namespace is someone else's; it is not created, only used."""
    visibility: Literal["PRIVATE", "PUBLIC"] = "PRIVATE"
    """Of the namespace and the repositories."""
    retain_on_delete: Bool = True
    """The namespace and the repositories outlive `pulumi destroy` (images are data)."""
    public_access: Annotated[
        tuple[AclEntry, ...] | None, Empty("`null`: as unset, the ACL is left alone")
    ] = None
    """Enterprise Edition: entries this stack adds to the instance's internet ACL. Unset: the ACL is
    left alone. At least one entry; `0.0.0.0/0` admits any address."""
    retention: Annotated[Retention | None, Empty("`null`: as unset, no rule")] = None
    """Enterprise Edition: a tag retention rule."""
    scan: Annotated[Scan | None, Empty("`null`: as unset, no rule; `{}`: a rule with the defaults below")] = (
        None
    )
    """Enterprise Edition: a security scan rule for the stack's repositories."""

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str, info: ValidationInfo) -> str:
        edition = info.data.get("edition")  # absent when the edition itself was refused
        if edition and (found := rules.acr_name("namespace", edition)(value)):
            raise fail(found)
        return value

    @model_validator(mode="after")
    def _edition_rules(self) -> Registry:
        found = []
        if self.edition == "enterprise" and self.instance_id is None:
            found.append((("instanceId",), MISSING, "is required"))
        derived = self.edition == "personal" or (self.edition == "enterprise" and self.instance_name)
        if self.endpoint is None and not derived:
            needs = "instanceName or endpoint" if self.edition == "enterprise" else "endpoint"
            found.append((("endpoint",), MISSING, f"edition {self.edition} needs registry.{needs}"))
        for name in ("public_access", "retention", "scan"):
            if self.edition != "enterprise" and getattr(self, name) is not None:
                found.append(
                    ((to_camel(name),), MISSING, "is an Enterprise Edition setting (registry.edition)")
                )
        if self.public_access == ():
            # An endpoint with no entries is open to the whole internet: say so explicitly.
            found.append((("publicAccess",), [], "must list at least one entry; for any address, 0.0.0.0/0"))
        problems(*found)
        return self


# --- images ------------------------------------------------------------------------------------


def image_key(name: str) -> str:
    """An image name (lower case, by the repository name rule) as a GitHub job/output identifier:
    ``web.app`` -> ``web-app``, ``agent/client`` -> ``agent-client``, ``2d`` -> ``image-2d``."""
    key = re.sub(r"[^a-z0-9_-]", "-", name)
    return key if re.match(r"[a-z_]", key) else f"image-{key}"


def platform_key(platform: str) -> str:
    """`linux/arm/v7` -> `arm-v7`, `windows/amd64` -> `windows-amd64`: the platform's part of a
    job id (linux, the usual case, is left out; any other OS is kept, so two stay apart)."""
    os_, _, arch = platform.partition("/")
    return re.sub(r"[^a-z0-9]+", "-", arch if os_ == "linux" else platform)


def default_variable(name: str) -> str:
    """The image's key upper-cased, `-` as `_`: ``api`` -> ``API_IMAGE_NAME``, ``web.app`` ->
    ``WEB_APP_IMAGE_NAME``, ``2d`` -> ``IMAGE_2D_IMAGE_NAME`` (like a job id, a GitHub variable's
    name may not start with a digit)."""
    return image_key(name).upper().replace("-", "_") + "_IMAGE_NAME"


def _dockerfile(data: dict[str, Any]) -> str:
    return "Dockerfile" if data["context"] == "." else f"{data['context']}/Dockerfile"


PathFilters = Annotated[
    tuple[Annotated[RelPath, Rule(rules.paths_pattern)], ...], NonEmpty("path"), AfterValidator(distinct)
]
"""An image's path filters: GitHub's glob patterns, at least one, each once."""


class Image(Model):
    name: Annotated[str, Rule()]
    """The repository's name; Enterprise Edition allows tiers (`agent/client`)."""
    context: Annotated[RelPath, AfterValidator(posixpath.normpath)] = Field(
        default_factory=lambda d: d.get("name")
    )
    """The build context, relative to the repository root. Default: the image's name."""
    dockerfile: RelPath = Field(default_factory=_dockerfile)
    """Default: `<context>/Dockerfile`."""
    paths: Annotated[PathFilters | None, Empty("`null`: as unset, the default paths")] = None
    """Path filters whose changes rebuild the image. Default: `<context>/**` (`**` for context `.`),
    the Dockerfile when it lies outside the context, and the workflow file."""
    platforms: Platforms = ("linux/amd64",)
    """Target platforms, `os/arch[/variant]`; more than one builds a multi-arch image."""
    variable: Annotated[str, Rule(rules.github_name)] = Field(
        default_factory=lambda d: default_variable(d["name"])
    )
    """The GitHub variable that holds `namespace/name`. Default: `<NAME>_IMAGE_NAME`, NAME being the
    name upper-cased with every character other than a letter or digit turned into `_` (and
    `IMAGE_` before it when the name starts with a digit)."""
    build_args: Annotated[dict[Annotated[str, Rule(rules.build_arg)], BuildArg], Empty("`{}`: none")] = Field(
        default_factory=dict
    )
    """Build arguments: plain text in the workflow, so never secrets."""
    target: Annotated[str, Rule(rules.build_stage)] | None = None
    """The Dockerfile stage to build."""
    labels: Annotated[
        dict[Annotated[str, Rule(rules.label)], Text], Empty("`{}`: only metadata-action's")
    ] = Field(default_factory=dict)
    """Extra OCI labels, e.g. `org.opencontainers.image.vendor: ACME`, beside those
    docker/metadata-action sets (title, source, revision, created, version)."""
    immutable_tags: Bool = False
    """Enterprise Edition: tags never move; only `sha-` and full-version tags are pushed."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str:
        """The repository name rule of the stack's own edition (components/config.py hands it
        over as the validation context; Enterprise Edition's, the widest, without one)."""
        edition = (info.context or {}).get("edition", "enterprise")
        if found := rules.acr_name("repository", edition)(value):
            raise fail(found)
        return value

    @property
    def key(self) -> str:
        """Identifier for job ids, filter names and logical resource names."""
        return image_key(self.name)


# --- GitHub ------------------------------------------------------------------------------------


NO_REVIEWER = (
    "names no reviewer, which would leave the environment unprotected (admins could bypass it, "
    "anyone could approve their own run): list users or teams (e.g. teams: [platform]), or remove "
    "github.reviewers"
)
ONE_KIND = Empty("`[]`: none of this kind (the other list must name someone)")


class Reviewers(Model):
    users: Annotated[tuple[LoginOrId, ...], ONE_KIND] = ()
    """User ids, or logins (looked up at deploy time)."""
    teams: Annotated[tuple[LoginOrId, ...], ONE_KIND] = ()
    """Team ids, or slugs (looked up at deploy time)."""

    @model_validator(mode="after")
    def _one_to_six_reviewers(self) -> Reviewers:
        count = len(self.users) + len(self.teams)
        if count == 0:
            problems(((), self.model_dump(), NO_REVIEWER))
        if count > 6:
            problems(((), self.model_dump(), "GitHub allows at most 6 required reviewers"))
        return self


class Releasers(Model):
    users: Annotated[tuple[LoginOrId, ...], ONE_KIND] = ()
    """User ids, or logins (looked up at deploy time)."""
    teams: Annotated[tuple[LoginOrId, ...], ONE_KIND] = ()
    """Team ids, or slugs (looked up at deploy time)."""

    @model_validator(mode="after")
    def _someone(self) -> Releasers:
        if not self.users and not self.teams:
            problems(((), self.model_dump(), "names no one: list users or teams, or remove the key (admins)"))
        return self


# Branch or tag patterns (GitHub's globs, never regexes).
RefPattern = Annotated[str, Rule(rules.ref_pattern)]
# A list of patterns that restricts something: written empty, it would restrict nothing.
Patterns = Annotated[
    tuple[RefPattern, ...],
    NonEmpty("pattern", ": an empty list would restrict nothing; list the patterns, or remove the key"),
    AfterValidator(distinct),
]


class GitHub(Model):
    repository: Annotated[str, Rule(rules.repository)]
    """The repository's name (its owner is `github:owner`)."""
    environment: Annotated[str, Rule(rules.environment)] | None = None
    """A GitHub Environment (created) that the variables and secrets are scoped to; build jobs run
    in it."""
    branch: Annotated[str, Rule(rules.branch)] = "main"
    """The branch whose pushes build, and that the workflow file is committed to."""
    reviewers: Annotated[Reviewers | None, Given(NO_REVIEWER)] = None
    """The environment's required reviewers: at most 6, by numeric id, or by login or team slug
    (looked up at deploy time)."""
    wait_timer: Annotated[
        Annotated[int, Whole(0, 43200)] | None,
        Given("is empty: give minutes (0 for none), or remove the key"),
    ] = None
    """Minutes the environment waits before a job may start."""
    deployment_branches: Patterns = ()
    """Branch patterns that may deploy to the environment. Unset, with `deploymentTags` unset too:
    any branch or tag may."""
    deployment_tags: Patterns = ()
    """Tag patterns that may deploy to the environment."""
    protect_release_tags: Bool = True
    """With `auth.mode: oidc`, release tags (`workflow.tags`) and no environment, the push role
    trusts the runs of those tags, which anyone who may push a tag could create: the stack then
    creates a tag ruleset (creation, update and deletion restricted to `releasers`). `false` is
    refused there: build releases in an environment with reviewers instead."""
    releasers: Annotated[
        Releasers | None, Given("names no one: list users or teams, or remove the key (admins)")
    ] = None
    """Who may create, move and delete the release tags the stack's ruleset protects: users and
    teams, by id or by login or slug. Default: the repository's admins."""

    @model_validator(mode="after")
    def _protection_needs_environment(self) -> GitHub:
        if not self.environment:
            rule = "protects a GitHub Environment: set github.environment too"
            found = [
                k
                for k in ("reviewers", "wait_timer", "deployment_branches", "deployment_tags")
                if k in self.model_fields_set
            ]
            problems(*(((to_camel(k),), getattr(self, k), rule) for k in found))
        return self


# --- the workflow ------------------------------------------------------------------------------


def _not_reserved(value: str) -> str:
    if rule := rules.taken(value, RESERVED_NAMES):
        raise fail(rule)
    return value


class Notify(Model):
    kind: Literal["dingtalk", "feishu", "slack"]
    """The webhook's kind."""
    secret: Annotated[str, Rule(rules.github_name), AfterValidator(_not_reserved)] = "BUILD_NOTIFY_WEBHOOK"  # noqa: S105
    """The repository secret that holds the webhook's URL."""


# GitHub-hosted runners by platform: a platform with one builds natively there; any other
# builds under QEMU on the linux/amd64 runner (docs.github.com: "GitHub-hosted runners").
DEFAULT_RUNNERS: dict[str, Any] = {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04-arm"}
Minutes = Annotated[int, Whole(1, 360)]


class Timeouts(Model):
    changes: Minutes = 10
    """The job that detects which images changed."""
    build: Minutes = 60
    """Each build job (one per image and runner: per platform of a multi-arch image), including
    the creation of the image by its last build and a release's promotion."""
    merge: Minutes = 15
    """Unused: a multi-arch image is created, and a release promoted, within its builds' jobs
    (`build`). Kept so that a stack file that sets it stays valid; setting it warns."""
    notify: Minutes = 5
    """The failure notice, and the refusal of a tags-only stack's manual run from a branch."""
    verify: Minutes = 10
    """A verify run's job (a manual run with `verify: true`)."""


class Promote(Model):
    from_namespaces: Annotated[
        tuple[Text, ...], AfterValidator(distinct), Empty("`[]`: only this stack's own repository")
    ] = ()
    """Namespaces of other stacks on the same registry (e.g. staging's) whose `sha-<commit>` image
    a release may take, after this stack's own repository."""
    build: Bool = True
    """When no image of the tagged commit exists: build it, or (`false`) fail the run."""


class Workflow(Model):
    name: Text | None = None
    """The workflow's `name:`, which `workflow_run` chains on it depend on. Default:
    `build-push (<stack>)`; with `adopt`, the name of the workflow file it takes over."""
    path: Annotated[str, Rule(rules.workflow_path)] | None = None
    """Where the workflow is committed. Default: `.github/workflows/build-push.yml`, or
    `build-push-<environment>.yml` with an environment."""
    tags: Annotated[
        tuple[RefPattern, ...], AfterValidator(distinct), Empty("`[]`: as unset, no tag builds")
    ] = ()
    """Tag patterns whose pushes also build, e.g. `["v*"]` (GitHub's filter pattern syntax)."""
    branch_builds: Bool = True
    """`false`: pushes to `github.branch` do not build, only `workflow.tags` and manual runs do
    (release stacks)."""
    cache: Bool | None = Field(None, json_schema_extra={"default": "true; false with github.reviewers"})
    """BuildKit's cache in the GitHub Actions cache, in scopes of this stack's own (`<stack>-<image>`,
    per platform too). Off by default where the environment has reviewers: a reviewed release
    must not restore what unreviewed branch runs wrote (see docs/workflow.md, "Build cache")."""
    pin_actions: Literal["sha", "tag"] = "sha"
    """`uses:` by full commit SHA (the version as a comment), or by major version tag."""
    attestations: Bool = False
    """Push provenance and SBOM attestations, in the form ACR accepts."""
    sign: Bool = False
    """Sign every image a build pushes, by digest, with cosign keyless (the job's GitHub OIDC
    token, no key to keep): anyone can then check that an image was built by this repository's
    workflow, and promotion and the verify run check it. Off by default: a keyless signature is
    recorded in Sigstore's public transparency log (Rekor), with the repository's and the
    workflow's names, and the commit; for a private repository that is a disclosure to choose."""
    notify: Annotated[Notify | None, Empty("`null`: as unset, no notice")] = None
    """A job that posts to a webhook when a build fails."""
    runners: Annotated[
        dict[Annotated[str, Rule(rules.platform)], Annotated[str, Rule(rules.runner_label)] | None],
        Empty("`{}`: the defaults shown"),
    ] = Field(default_factory=dict, json_schema_extra={"default": dict(DEFAULT_RUNNERS)})
    """Runner label per platform, over the defaults shown: each platform with a runner builds in a job
    of its own there, natively; `null` (or a platform not listed) builds under QEMU on the
    `linux/amd64` runner, which also runs every other job."""
    emulate: Bool = False
    """`true`: every image builds all its platforms in one job under QEMU, as before native runners."""
    timeout_minutes: Annotated[Timeouts, Empty("`{}`: the defaults")] = Field(
        default_factory=lambda: Timeouts.model_validate({})
    )
    """Every job's `timeout-minutes`, by kind."""
    promote: Annotated[
        Promote | None, Empty("`null`: as unset, releases build; `{}`: promotion with the defaults below")
    ] = None
    """On a release tag, retag the image already built from the commit's files (`sha-<commit>` of
    it, or of an earlier commit with the same files under the image's paths) instead of building
    it again, so the release is the very image that was tested."""
    via_pull_request: Bool = False
    """Commit the workflow to the branch `acr-pipeline/<stack>-<hash of the file>` and open a pull
    request, instead of pushing to `github.branch` (for protected branches)."""
    pull_requests: Bool = False
    """Also commit a workflow that builds, on each pull request to `github.branch`, every image
    whose files it changes, for every platform, and pushes nothing: no registry login, no secret,
    no `id-token`. One stack per repository owns it (make check-stacks)."""
    pull_request_path: Annotated[str, Rule(rules.workflow_path)] = ".github/workflows/only-build.yml"
    """Where the pull-request workflow is committed (`workflow.pullRequests`)."""

    @property
    def runner_of(self) -> dict[str, str | None]:
        """Platform -> runner label (None: QEMU on the linux/amd64 runner), defaults included."""
        return {**DEFAULT_RUNNERS, **self.runners}

    @property
    def runner(self) -> str:
        """The runner of every job that is not a native build: the linux/amd64 one."""
        return self.runner_of["linux/amd64"] or DEFAULT_RUNNERS["linux/amd64"]

    @model_validator(mode="after")
    def _amd64_has_a_runner(self) -> Workflow:
        if "linux/amd64" in self.runners and self.runners["linux/amd64"] is None:
            problems((("runners", "linux/amd64"), None, "is the runner of every other job: give it a label"))
        return self

    @model_validator(mode="after")
    def _promotion_has_release_tags(self) -> Workflow:
        if self.promote is not None and not self.tags:
            promote = self.promote.model_dump(by_alias=True)
            problems((("promote",), promote, "promotes on release tags: set workflow.tags too"))
        return self

    @model_validator(mode="after")
    def _pushes_build_or_tags_do(self) -> Workflow:
        if not self.branch_builds and not self.tags:
            rule = 'with no workflow.tags, only manual runs would build: add tags (e.g. ["v*"]) or remove it'
            problems((("branchBuilds",), False, rule))
        return self


# --- how the workflow logs in -------------------------------------------------------------------


class Auth(Model):
    mode: Literal["password", "oidc"] = "password"
    """`password`: a registry login kept in two GitHub secrets. `oidc`: no password anywhere; each
    build trades GitHub's OIDC token for a temporary ACR token through a RAM role that admits this
    repository only (Enterprise Edition). See docs/oidc.md."""
    oidc_provider: Annotated[str, Rule(rules.oidc_provider)] = "create"
    """`create`: this stack creates the account's GitHub OIDC provider (there is one per issuer per
    account). Otherwise the provider another stack created (or someone, by hand): its name, e.g.
    `github-actions`, whose ARN is looked up in the account at deploy time (no account id in the
    stack file), or its ARN, which is checked against the account's."""
    provider_name: Annotated[str, Rule(rules.ram_name)] = "github-actions"
    """The name of the OIDC provider this stack creates."""
    fingerprints: Annotated[
        tuple[Annotated[str, Rule(rules.fingerprint)], ...], NonEmpty("fingerprint"), AfterValidator(distinct)
    ] = GITHUB_FINGERPRINTS
    """SHA-1 fingerprints of the issuer's certificates, for the provider this stack creates (1-5)."""
    session_seconds: Annotated[int, Whole(900, 43200)] = 3600
    """How long a build's temporary credentials last."""

    @property
    def named_provider(self) -> str | None:
        """With OIDC, the name of the provider another stack creates (given by name or by ARN)."""
        if self.mode != "oidc" or self.oidc_provider == "create":
            return None
        return self.oidc_provider.rpartition("/")[2]

    @model_validator(mode="after")
    def _provider_settings_need_a_provider(self) -> Auth:
        found = [
            (
                (to_camel(k),),
                getattr(self, k),
                "is for a provider this stack creates (auth.oidcProvider: create)",
            )
            for k in ("provider_name", "fingerprints")
            if k in self.model_fields_set and self.oidc_provider != "create"
        ]
        if len(self.fingerprints) > 5:
            found.append((("fingerprints",), list(self.fingerprints), "RAM keeps at most 5 fingerprints"))
        problems(*found)
        return self


# --- the whole stack -----------------------------------------------------------------------------


class Settings(Model):
    """A stack's configuration as Pulumi hands it to the program: `namespace:key` -> value."""

    model_config = ConfigDict(alias_generator=lambda name: f"{PROJECT}:{to_camel(name)}")

    stack: SkipJsonSchema[str] = Field("", alias="stack", exclude=True)
    region: Annotated[str, Rule(rules.region_id)] = Field(alias="alicloud:region")
    """The registry's Alibaba Cloud region, e.g. `cn-hangzhou`."""
    owner: Annotated[str, Rule(rules.github_owner)] = Field(alias="github:owner")
    """The GitHub user or organization that owns the repository."""
    github_token: Secret | None = Field(None, alias="github:token")
    """A GitHub token for the provider; or export `GITHUB_TOKEN`."""
    registry: Registry
    """The ACR side."""
    images: Annotated[tuple[Image, ...], NonEmpty("image")] = Field(
        default_factory=lambda: (Image.model_validate({"name": "api"}),),
        json_schema_extra={"default": [{"name": "api"}]},
    )
    """One repository, and one `<NAME>_IMAGE_NAME` variable, per image."""
    github: GitHub
    """The GitHub side."""
    workflow: Annotated[Workflow, Empty("`{}`: every default")] = Field(
        default_factory=lambda: Workflow.model_validate({})
    )
    """The committed workflow."""
    auth: Annotated[Auth, Empty("`{}`: the defaults (a password)")] = Field(
        default_factory=lambda: Auth.model_validate({})
    )
    """How the workflow logs in to the registry."""
    preflight: Bool = True
    """At `preview` and `up`, before anything is created: each image's Dockerfile and context are
    on `github.branch` (one tree lookup; a missing one is a warning), and an Enterprise instance
    exists in the region with the configured name (else an error). `false`: no such lookup."""
    adopt: Bool = False
    """Take over what already exists (variables, the environment, the workflow file, the namespace
    and repositories): look each up and import it instead of creating it. See docs/adopt.md."""
    registry_username: Text | None = Field(None, json_schema_extra={"anyOf": [{"type": "string"}, SECURE]})
    """The registry login, stored as the ALIYUN_REGISTRY_USER secret. Required with `auth.mode:
    password`, unused with `oidc`. May be a secret."""
    registry_password: Secret | None = None
    """The registry password, stored as the ALIYUN_REGISTRY_PWD secret. Required with `auth.mode:
    password`, unused with `oidc`; a plaintext value is refused."""
    notify_webhook_url: Secret | None = None
    """With `workflow.notify`: the webhook's URL, which the stack writes into that secret (else set
    the secret yourself)."""

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if hint := rules.region_typo(value):
            raise fail(f"is not a Container Registry region (did you mean '{hint}'?)")
        return value

    # --- what the program derives ------------------------------------------------------------

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """(full key, message) of each thing that is allowed but probably not meant."""
        found = []
        if self.region not in rules.ACR_REGIONS:
            near = rules.suggest(self.region, rules.ACR_REGIONS)
            hint = f" (did you mean {near!r}?)" if near else ""
            found.append(
                (
                    "alicloud:region",
                    f"alicloud:region {self.region!r} is not a Container Registry region we know{hint}; "
                    "if it is new, add it to ACR_REGIONS in components/rules.py",
                )
            )
        if "merge" in self.workflow.timeout_minutes.model_fields_set:
            found.append(
                (
                    f"{PROJECT}:workflow.timeoutMinutes.merge",
                    "acr-pipeline:workflow.timeoutMinutes.merge is no longer used: a multi-arch image is "
                    "created, and a release promoted, within its builds' jobs (timeoutMinutes.build); "
                    "remove it",
                )
            )
        if self.workflow.cache and self.reviewed:
            found.append(
                (
                    f"{PROJECT}:workflow.cache",
                    f"acr-pipeline:workflow.cache is true in environment '{self.github.environment}', whose "
                    "builds need a reviewer: anyone who can push to a branch can write the build cache "
                    "there, and the reviewed release builds restore it (GitHub lets a tag run read the "
                    "default branch's caches); remove the key to build releases from scratch",
                )
            )
        return found

    @property
    def reviewed(self) -> bool:
        """Whether a reviewer must approve each build (the environment has reviewers)."""
        return bool(self.github.environment and self.github.reviewers)

    @property
    def protected(self) -> bool:
        """Whether the stack's credentials are behind a rule that unreviewed code cannot pass: an
        environment with reviewers, or with deployment branch or tag rules. At repository scope,
        or in an environment without rules, any workflow of any branch can read them."""
        github = self.github
        return bool(
            github.environment and (github.reviewers or github.deployment_branches or github.deployment_tags)
        )

    @property
    def trust(self) -> str:
        """Who can read the stack's registry login, in words: for the stacks-together check."""
        if not self.github.environment:
            return "at repository scope (any workflow of any branch can read it)"
        if not self.protected:
            env = self.github.environment
            return f"in environment {env}, which has no protection rule (any branch can use it)"
        return f"in environment {self.github.environment}, which only reviewed or admitted runs use"

    @property
    def release_tag_ruleset(self) -> tuple[str, ...]:
        """The tag refs the stack's ruleset protects (`refs/tags/...`, GitHub's fnmatch with
        FNM_PATHNAME), or () when it creates none: with OIDC and no environment, the role trusts
        every release tag's run, `refs/tags/<pattern>` of RAM's StringLike, where `*` crosses `/`.
        So each pattern is protected as written and, for the names with a `/`, as any name that
        starts as it does and holds a `/` (`v*` -> `refs/tags/v*`, `refs/tags/v*/**/*`)."""
        if self.auth.mode != "oidc" or self.github.environment or not self.github.protect_release_tags:
            return ()
        out: list[str] = []
        for pattern in self.workflow.tags:
            if pattern.startswith("!"):
                continue  # an exclusion adds no subject to the role
            like = rules.filter_string_like(pattern)
            prefix = like.split("*", 1)[0]
            for ref in (f"refs/tags/{like}", f"refs/tags/{prefix}*/**/*"):
                if ref not in out:
                    out.append(ref)
        return tuple(out)

    @property
    def release_tag_ruleset_name(self) -> str:
        """The name of the stack's tag ruleset, by which adoption finds one that exists."""
        return f"acr-pipeline release tags ({self.stack})"

    @property
    def registry_key(self) -> str:
        """The registry a login opens: the Enterprise instance, else the endpoint (a Personal
        Edition registry is the account's, one per region; an external one, its host)."""
        return self.registry.instance_id or self.endpoint

    @property
    def cache(self) -> bool:
        """Whether builds use the GitHub Actions cache: `workflow.cache`, else on unless reviewed."""
        return self.workflow.cache if self.workflow.cache is not None else not self.reviewed

    def cache_scope(self, image: Image, platform: str | None = None) -> str:
        """The stack's own cache scope of an image (and platform), `dev+api+linux/arm64`: no stack
        restores by accident what another stack's runs wrote. The parts are joined by `+`, which
        no stack, image or platform name holds, so that two scopes are never one (`prod` with
        image `eu-api` and `prod-eu` with image `api` would both be `prod-eu-api` joined by `-`).
        GitHub's cache keys take any character but `,`, up to 512 (actions/toolkit,
        packages/cache/src/cache.ts, checkKey)."""
        return "+".join([self.stack, image.name, *([platform] if platform else [])])

    @property
    def endpoint(self) -> str:
        reg = self.registry
        if reg.endpoint:
            return reg.endpoint
        if reg.edition == "personal":
            return f"registry.{self.region}.aliyuncs.com"
        return f"{reg.instance_name}-registry.{self.region}.cr.aliyuncs.com"

    @property
    def workflow_path(self) -> str:
        if self.workflow.path:
            return self.workflow.path
        env = self.github.environment
        suffix = "-" + re.sub(r"[^A-Za-z0-9._-]", "-", env) if env else ""
        return f"{rules.WORKFLOWS_DIR}build-push{suffix}.yml"

    @property
    def workflow_paths(self) -> tuple[str, ...]:
        """Every workflow file the stack commits: build-push, and the pull-request one if any."""
        return (
            self.workflow_path,
            *((self.workflow.pull_request_path,) if self.workflow.pull_requests else ()),
        )

    @property
    def trusted_subjects(self) -> tuple[str, ...]:
        """With OIDC, the `sub` claims the push role admits: GitHub sets `...:environment:<env>`
        for a job that runs in an environment, else `...:ref:<ref>`: the branch when pushes to
        it build, and the release tags. Never a wildcard owner or repository."""
        repo = f"repo:{self.owner}/{self.github.repository}"
        if self.github.environment:
            return (f"{repo}:environment:{self.github.environment}",)
        # `!pattern` entries only exclude tags, so they add no subject.
        tags = [rules.filter_string_like(p) for p in self.workflow.tags if not p.startswith("!")]
        branch = [f"{repo}:ref:refs/heads/{self.github.branch}"] if self.workflow.branch_builds else []
        return (*branch, *dict.fromkeys(f"{repo}:ref:refs/tags/{t}" for t in tags))

    @property
    def scope(self) -> str:
        """Where variables and secrets live: `repository` or `environment:<name>`."""
        return f"environment:{self.github.environment}" if self.github.environment else "repository"

    def paths(self, image: Image) -> tuple[str, ...]:
        """What rebuilds an image: its files, its Dockerfile (when outside them), the workflow."""
        if image.paths is not None:
            return image.paths
        glob = "**" if image.context == "." else f"{image.context}/**"
        outside = image.context != "." and not image.dockerfile.startswith(f"{image.context}/")
        return (glob, *((image.dockerfile,) if outside else ()), self.workflow_path)

    def image_path(self, image: Image) -> str:
        """``namespace/name``: the value of the image's GitHub variable."""
        return f"{self.registry.namespace}/{image.name}"

    def image_reference(self, image: Image) -> str:
        return f"{self.endpoint}/{self.image_path(image)}"

    @property
    def variables(self) -> dict[str, str]:
        """GitHub Actions variables known from settings, name -> value, in a stable order (with
        OIDC, the ARNs of the role and of the provider come from the RAM resources)."""
        values = {REGISTRY_VARIABLE: self.endpoint, **{i.variable: self.image_path(i) for i in self.images}}
        if self.auth.mode == "oidc":
            values.update({REGION_VARIABLE: self.region, INSTANCE_VARIABLE: self.registry.instance_id or ""})
        return values

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Every variable the stack writes, those from resource outputs included."""
        late = (ROLE_VARIABLE, PROVIDER_VARIABLE) if self.auth.mode == "oidc" else ()
        return tuple(dict.fromkeys((*self.variables, *late)))

    @property
    def secrets(self) -> dict[str, Secret]:
        """The login secrets, name -> value, at the stack's scope (repository or environment):
        none with OIDC, which is the point."""
        if self.auth.mode == "oidc":
            return {}
        return {
            USER_SECRET: Secret(self.registry_username or ""),
            PASSWORD_SECRET: self.registry_password or Secret(""),
        }

    @property
    def repository_secrets(self) -> dict[str, Secret]:
        """Secrets at repository scope always: the notification webhook, which the notify job reads
        without entering the environment (so a failure notice never waits for approval)."""
        if self.notify_webhook_url is not None and self.workflow.notify is not None:
            return {self.workflow.notify.secret: self.notify_webhook_url}
        return {}

    @property
    def secret_names(self) -> tuple[str, ...]:
        return (*self.secrets, *self.repository_secrets)
