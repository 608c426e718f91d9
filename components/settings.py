"""Stack configuration -> typed, validated settings.

This is the only module that reads configuration. It turns the raw Pulumi config (a flat
map of ``namespace:key`` to string, objects as JSON) into frozen dataclasses, applies every
default, and checks every rule before a single resource is registered. All problems are
collected and raised together as one :class:`ConfigError`, whose message names the key, the
value and the rule for each. It makes no cloud calls.

``parse`` is pure (plain dicts in, dataclasses out) so the rules are tested without Pulumi;
``load`` feeds it from the running Pulumi program.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import json
import posixpath
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

PROJECT = "acr-pipeline"

# The pipeline's public contract: the committed workflow reads these names.
REGISTRY_VARIABLE = "ALIYUN_REGISTRY"
USER_SECRET = "ALIYUN_REGISTRY_USER"  # noqa: S105 - a name, not a value
PASSWORD_SECRET = "ALIYUN_REGISTRY_PWD"  # noqa: S105 - a name, not a value
RESERVED_NAMES = (REGISTRY_VARIABLE, USER_SECRET, PASSWORD_SECRET)

WORKFLOWS_DIR = ".github/workflows/"
DEFAULT_IMAGES: tuple[dict[str, Any], ...] = ({"name": "api"},)

EDITIONS = ("enterprise", "personal", "external")
VISIBILITIES = ("PRIVATE", "PUBLIC")
PIN_MODES = ("sha", "tag")
NOTIFY_KINDS = ("dingtalk", "feishu", "slack")
SCAN_TRIGGERS = {"onPush": "AUTO", "manual": "MANUAL"}
SCAN_TYPES = ("VUL", "SBOM")
DEFAULT_NOTIFY_SECRET = "BUILD_NOTIFY_WEBHOOK"  # noqa: S105 - a name, not a value

# --- naming rules -------------------------------------------------------------------------
# Every pattern ends in \Z, not $: Python's $ also matches before a trailing newline.
# Container Registry (Alibaba's docs and the terraform provider's validation):
# - Enterprise Edition namespaces and repositories: 2-120 characters of lowercase letters,
#   digits and the delimiters "_", "-", ".", not starting or ending with a delimiter.
#   Repositories may be multi-tier ("agent/client"), each tier following the same rule.
# - Personal Edition: namespaces 2-30 of lowercase letters, digits, "_" and "-", starting
#   with a letter or digit (no "."); repositories single-tier, 2-30 (the provider's limit).
_ACR_SEGMENT = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
ACR_NAME_RE = re.compile(rf"^{_ACR_SEGMENT}\Z")
ACR_MULTI_TIER_RE = re.compile(rf"^{_ACR_SEGMENT}(?:/{_ACR_SEGMENT})*\Z")
ACR_PERSONAL_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
ACR_LIMITS = {
    "enterprise": {"namespace": 120, "repository": 120},
    "personal": {"namespace": 30, "repository": 30},
    "external": {"namespace": 120, "repository": 120},
}
# GitHub Actions variables and secrets: letters, digits, "_"; not starting with a digit;
# the GITHUB_ prefix is reserved. GitHub compares names case-insensitively.
GITHUB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}\Z")
GITHUB_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\Z")
INSTANCE_ID_RE = re.compile(r"^cri-[a-z0-9]+\Z")
INSTANCE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,28}[a-z0-9])\Z")
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z0-9]+)+\Z")
HOST_RE = re.compile(
    r"^(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::[0-9]{1,5})?\Z"
)
BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
BUILD_STAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?\Z")
WORKFLOW_FILE_RE = re.compile(r"^[A-Za-z0-9._-]+\.ya?ml\Z")
# git check-ref-format, simplified: no spaces, control characters or ~^:?*[\ , no "..",
# no leading "-" or "/", no trailing "/", ".lock" or ".".
BRANCH_RE = re.compile(r"^(?!-|/)(?!.*(?:\.\.|//|@\{))[^\s~^:?*\[\\\x00-\x1f\x7f]+(?<![/.])(?<!\.lock)\Z")


class ConfigError(pulumi.RunError):
    """Every problem in a stack's configuration, one per line.

    A ``pulumi.RunError`` so that `pulumi up` prints the message without a stack trace.
    """

    def __init__(self, problems: list[str], stack: str = "") -> None:
        self.problems = problems
        where = f" of stack '{stack}'" if stack else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid configuration{where} ({count}):\n{lines}")


class Secret:
    """A value that must never be printed: its str and repr are ``[secret]``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "[secret]"

    __str__ = __repr__


@dataclass(frozen=True)
class Image:
    name: str
    context: str
    dockerfile: str
    paths: tuple[str, ...]
    platforms: tuple[str, ...]
    variable: str
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    immutable_tags: bool = False

    @property
    def key(self) -> str:
        """Identifier for job ids, filter names and logical resource names."""
        return image_key(self.name)

    @property
    def job_id(self) -> str:
        return f"{self.key}-build-and-push"


@dataclass(frozen=True)
class AclEntry:
    cidr: str
    comment: str


@dataclass(frozen=True)
class Retention:
    keep_last: int
    keep_pattern: str | None


@dataclass(frozen=True)
class Scan:
    trigger: str  # "AUTO" (on push) or "MANUAL"
    scan_type: str  # "VUL" or "SBOM"
    tag_pattern: str


@dataclass(frozen=True)
class Registry:
    edition: str
    endpoint: str
    namespace: str
    instance_id: str | None
    instance_name: str | None
    create_namespace: bool
    visibility: str
    retain_on_delete: bool
    public_access: tuple[AclEntry, ...] | None = None
    """None: the stack leaves the instance's internet endpoint alone."""
    retention: Retention | None = None
    scan: Scan | None = None


@dataclass(frozen=True)
class Reviewers:
    users: tuple[int | str, ...] = ()
    """GitHub user ids, or logins looked up at deploy time."""
    teams: tuple[int | str, ...] = ()
    """GitHub team ids, or slugs looked up at deploy time."""


@dataclass(frozen=True)
class GitHub:
    owner: str
    repository: str
    environment: str | None
    branch: str
    reviewers: Reviewers = Reviewers()
    wait_timer: int | None = None
    deployment_branches: tuple[str, ...] = ()
    deployment_tags: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """Where variables and secrets live: `repository` or `environment:<name>`."""
        return f"environment:{self.environment}" if self.environment else "repository"


@dataclass(frozen=True)
class Notify:
    kind: str  # dingtalk, feishu or slack
    secret: str
    """GitHub secret holding the webhook URL."""


@dataclass(frozen=True)
class Workflow:
    path: str
    tags: tuple[str, ...]
    cache: bool
    pin_actions: str
    attestations: bool
    branch_builds: bool = True
    """False: pushes to github.branch do not build; only tags and manual runs do."""
    notify: Notify | None = None
    via_pull_request: bool = False


@dataclass(frozen=True)
class Settings:
    stack: str
    region: str
    registry: Registry
    images: tuple[Image, ...]
    github: GitHub
    workflow: Workflow
    registry_username: str
    registry_password: Secret
    notify_webhook_url: Secret | None = None
    """When set, the stack writes the notification webhook's GitHub secret too."""

    def image_path(self, image: Image) -> str:
        """``namespace/name``: the value of the image's GitHub variable."""
        return f"{self.registry.namespace}/{image.name}"

    def image_reference(self, image: Image) -> str:
        return f"{self.registry.endpoint}/{self.image_path(image)}"

    @property
    def variables(self) -> dict[str, str]:
        """GitHub Actions variables, name -> value, in a stable order."""
        values = {REGISTRY_VARIABLE: self.registry.endpoint}
        values.update({i.variable: self.image_path(i) for i in self.images})
        return values

    @property
    def secrets(self) -> dict[str, Secret]:
        """The login secrets, name -> value, at the stack's scope (repository or environment)."""
        return {USER_SECRET: Secret(self.registry_username), PASSWORD_SECRET: self.registry_password}

    @property
    def repository_secrets(self) -> dict[str, Secret]:
        """Secrets always at repository scope: the notification webhook, which the notify job
        reads without entering the environment (so a failure notice never waits for approval)."""
        if self.notify_webhook_url is not None and self.workflow.notify is not None:
            return {self.workflow.notify.secret: self.notify_webhook_url}
        return {}

    @property
    def secret_names(self) -> tuple[str, ...]:
        return (*self.secrets, *self.repository_secrets)


def image_key(name: str) -> str:
    """An image name as a GitHub job/output identifier: ``web.app`` -> ``web-app``."""
    key = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return key if re.match(r"^[A-Za-z_]", key) else f"image-{key}"


def default_variable(name: str) -> str:
    """``api`` -> ``API_IMAGE_NAME``; ``web-app`` -> ``WEB_APP_IMAGE_NAME``."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_IMAGE_NAME"


def default_workflow_path(environment: str | None) -> str:
    if environment:
        return f"{WORKFLOWS_DIR}build-push-{re.sub(r'[^A-Za-z0-9._-]', '-', environment)}.yml"
    return f"{WORKFLOWS_DIR}build-push.yml"


def derived_endpoint(edition: str, region: str, instance_name: str | None) -> str | None:
    if edition == "enterprise" and instance_name:
        return f"{instance_name}-registry.{region}.cr.aliyuncs.com"
    if edition == "personal":
        return f"registry.{region}.aliyuncs.com"
    return None


# --- the reader ---------------------------------------------------------------------------

_MISSING: Any = object()
# An unknown key with a name like this may hold a credential: its value is never shown.
CREDENTIAL_NAME_RE = re.compile(r"pass|pwd|secret|token|key|cred|url|hook", re.IGNORECASE)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


class _Reader:
    """Collects problems while reading raw values; every read returns a usable value."""

    def __init__(self, hidden: Collection[str] = ()) -> None:
        self.problems: list[str] = []
        self.hidden = set(hidden)
        """Full keys holding secrets: a problem under one of them never shows its value."""

    def problem(self, key: str, value: Any, rule: str) -> None:
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is not _MISSING and any(
            full == h or full.startswith((f"{h}.", f"{h}[")) for h in self.hidden
        ):
            self.problems.append(f"{full}: {rule} (the value is not shown)")
            return
        if value is _MISSING:
            self.problems.append(f"{full}: {rule}")
            return
        self.problems.append(f"{full} = {_show(value)}: {rule}")

    def obj(self, key: str, raw: Any, allowed: Collection[str]) -> dict[str, Any]:
        if raw is _MISSING or raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(key, raw, "must be an object (a YAML map)")
            return {}
        for name in raw:
            if name not in allowed:
                hint = difflib.get_close_matches(name, list(allowed), n=1)
                maybe = f" (did you mean '{hint[0]}'?)" if hint else ""
                shown = _MISSING if CREDENTIAL_NAME_RE.search(name) else raw[name]
                self.problem(f"{key}.{name}", shown, f"unknown key{maybe}; known keys: {', '.join(allowed)}")
        return raw

    def string(
        self,
        key: str,
        raw: Any,
        *,
        required: bool = False,
        default: str | None = None,
        check: Callable[[str], str | None] | None = None,
    ) -> str | None:
        if raw is _MISSING or raw is None:
            if required:
                self.problem(key, _MISSING, "is required")
            return default
        if not isinstance(raw, str):
            self.problem(key, raw, "must be a string")
            return default
        if raw.strip() == "":
            self.problem(key, raw, "must not be empty")
            return default
        if not raw.isprintable():
            self.problem(key, raw, "must be a single line of printable characters")
            return default
        if "${{" in raw:
            self.problem(key, raw, "must not contain '${{' (GitHub would evaluate it as an expression)")
            return default
        if check is not None:
            rule = check(raw)
            if rule:
                self.problem(key, raw, rule)
                return default
        return raw

    def boolean(self, key: str, raw: Any, default: bool) -> bool:
        if raw is _MISSING or raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw in ("true", "false"):
            return raw == "true"
        self.problem(key, raw, "must be true or false")
        return default

    def choice(self, key: str, raw: Any, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, raw, default=default)
        if value is not None and value not in choices:
            self.problem(key, value, f"must be one of {', '.join(choices)}")
            return default
        return value or default

    def strings(
        self,
        key: str,
        raw: Any,
        default: tuple[str, ...],
        check: Callable[[str], str | None] | None = None,
        *,
        allow_empty: bool = True,
    ) -> tuple[str, ...]:
        if raw is _MISSING or raw is None:
            return default
        if not isinstance(raw, list):
            self.problem(key, raw, "must be a list")
            return default
        if not raw and not allow_empty:
            self.problem(key, raw, "must not be an empty list")
            return default
        values = [self.string(f"{key}[{i}]", v, required=True, check=check) for i, v in enumerate(raw)]
        seen: set[str] = set()
        for i, v in enumerate(values):
            if v is not None and v in seen:
                self.problem(f"{key}[{i}]", v, "is listed twice")
            seen.add(v or "")
        return tuple(v for v in values if v is not None)

    def integer(self, key: str, raw: Any, default: int | None, lo: int, hi: int) -> int | None:
        if raw is _MISSING or raw is None:
            return default
        value: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"-?[0-9]+", raw):
            value = int(raw)
        if value is None or not lo <= value <= hi:
            self.problem(key, raw, f"must be a whole number from {lo} to {hi}")
            return default
        return value

    def objects(self, key: str, raw: Any, rule: str) -> list[tuple[int, dict[str, Any]]]:
        """A list of objects, each with its index (for messages)."""
        if raw is _MISSING or raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(key, raw, f"must be a list; {rule}")
            return []
        items = []
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                items.append((i, item))
            else:
                self.problem(f"{key}[{i}]", item, f"must be an object; {rule}")
        return items


# --- rules ---------------------------------------------------------------------------------


def _pattern(regex: re.Pattern[str], rule: str) -> Callable[[str], str | None]:
    return lambda value: None if regex.match(value) else rule


def _acr_name(kind: str, edition: str) -> Callable[[str], str | None]:
    limit = ACR_LIMITS[edition][kind]
    if edition == "personal" and kind == "namespace":
        pattern, chars = (
            ACR_PERSONAL_NAMESPACE_RE,
            "lowercase letters, digits, '_' and '-', starting with a letter or digit",
        )
    elif edition != "personal" and kind == "repository":
        pattern, chars = (
            ACR_MULTI_TIER_RE,
            (
                "lowercase letters, digits, '_', '-' and '.' (tiers separated by '/'), "
                "each tier starting and ending with a letter or digit"
            ),
        )
    else:
        pattern, chars = (
            ACR_NAME_RE,
            "lowercase letters, digits, '_', '-' and '.', starting and ending with a letter or digit",
        )

    def check(value: str) -> str | None:
        if pattern.match(value) and 2 <= len(value) <= limit:
            return None
        return f"an ACR {edition} {kind} name must be 2-{limit} characters of {chars}"

    return check


def _github_name(value: str) -> str | None:
    if not GITHUB_NAME_RE.match(value):
        return (
            "a GitHub variable name may contain only letters, digits and '_', and must not start with a digit"
        )
    if value.upper().startswith("GITHUB_"):
        return "the GITHUB_ prefix is reserved by GitHub"
    return None


def _relative_path(value: str) -> str | None:
    if value.startswith("/") or value.startswith("\\"):
        return "must be a path relative to the repository root"
    if ".." in value.replace("\\", "/").split("/"):
        return "must stay inside the repository (no '..')"
    return None


def _repository_name(value: str) -> str | None:
    if "/" in value:
        return (
            "give the repository name only; the owner comes from github:owner "
            f"(e.g. repository: {value.rsplit('/', 1)[-1]!r})"
        )
    if not GITHUB_REPO_RE.match(value) or value in (".", "..") or value.lower().endswith(".git"):
        return (
            "a GitHub repository name is 1-100 characters of letters, digits, '.', '-' and '_', "
            "not ending in .git"
        )
    return None


def _workflow_path(value: str) -> str | None:
    if not value.startswith(WORKFLOWS_DIR):
        return f"must lie under {WORKFLOWS_DIR} (GitHub runs workflows only from there)"
    rest = value[len(WORKFLOWS_DIR) :]
    if "/" in rest:
        return f"must be a file directly in {WORKFLOWS_DIR} (GitHub ignores subdirectories)"
    if not WORKFLOW_FILE_RE.match(rest):
        return "must be a .yml or .yaml file name of letters, digits, '.', '-' and '_'"
    return None


def _cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "must be an IPv4 CIDR block such as 203.0.113.0/24 (host bits zero)"
    return None if ":" not in value else "must be an IPv4 CIDR block (ACR ACLs take IPv4)"


def _regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as err:
        return f"must be a regular expression ({err})"
    return None


def _build_arg_name(value: str) -> str | None:
    return None if BUILD_ARG_RE.match(value) else "a build argument name is letters, digits and '_'"


# --- parse ---------------------------------------------------------------------------------

REGISTRY_KEYS = (
    "edition",
    "instanceId",
    "instanceName",
    "endpoint",
    "namespace",
    "createNamespace",
    "visibility",
    "retainOnDelete",
    "publicAccess",
    "retention",
    "scan",
)
IMAGE_KEYS = (
    "name",
    "context",
    "dockerfile",
    "paths",
    "platforms",
    "variable",
    "buildArgs",
    "target",
    "immutableTags",
)
GITHUB_KEYS = (
    "repository",
    "environment",
    "branch",
    "reviewers",
    "waitTimer",
    "deploymentBranches",
    "deploymentTags",
)
WORKFLOW_KEYS = (
    "path",
    "tags",
    "branchBuilds",
    "cache",
    "pinActions",
    "attestations",
    "notify",
    "viaPullRequest",
)
SECRET_PROJECT_KEYS = ("registryPassword", "notifyWebhookUrl", "registryUsername")
PROJECT_KEYS = (
    "registry",
    "images",
    "github",
    "workflow",
    "registryUsername",
    "registryPassword",
    "notifyWebhookUrl",
)


def _decode(key: str, raw: str | None, r: _Reader) -> Any:
    """Pulumi hands objects and lists over as JSON text."""
    if raw is None:
        return _MISSING
    stripped = raw.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            r.problem(key, raw, "is not valid JSON/YAML")
            return _MISSING
    return raw


def parse(values: Mapping[str, str], secret_keys: Collection[str], stack: str) -> Settings:
    """Validate raw stack config (``namespace:key`` -> string) into :class:`Settings`.

    Raises :class:`ConfigError` listing every problem found.
    """
    r = _Reader(hidden=secret_keys)
    ns = f"{PROJECT}:"

    for full_key in values:
        if full_key.startswith(ns) and full_key[len(ns) :] not in PROJECT_KEYS:
            name = full_key[len(ns) :]
            hint = difflib.get_close_matches(name, PROJECT_KEYS, n=1)
            maybe = f" (did you mean '{hint[0]}'?)" if hint else ""
            r.problem(
                full_key, values[full_key], f"unknown key{maybe}; known keys: {', '.join(PROJECT_KEYS)}"
            )

    # Only these may be secrets. Any other project key set with --secret (for example
    # `--secret --path registry.password`) is refused, and its value never shown.
    masked = {k for k in PROJECT_KEYS if ns + k in secret_keys and k not in SECRET_PROJECT_KEYS}
    for key in sorted(masked):
        r.problem(
            key,
            _MISSING,
            "is stored as a secret, but only registryPassword, notifyWebhookUrl and registryUsername "
            "may be (a credential inside it belongs in registryPassword); its value is not shown",
        )

    def project(key: str) -> Any:
        if key in masked:
            return None  # already reported; read as unset so no value reaches a message
        return _decode(key, values.get(ns + key), r)

    region = r.string(
        "alicloud:region",
        values.get("alicloud:region", _MISSING),
        required=True,
        check=_pattern(REGION_RE, "must be an Alibaba Cloud region id such as cn-hangzhou"),
    )
    owner = r.string(
        "github:owner",
        values.get("github:owner", _MISSING),
        required=True,
        check=_pattern(GITHUB_OWNER_RE, "must be a GitHub user or organization login"),
    )
    if "github:token" in values and "github:token" not in secret_keys:
        r.problem(
            "github:token",
            _MISSING,
            "is stored in plaintext; run `pulumi config set --secret github:token` "
            "(or leave it unset and export GITHUB_TOKEN)",
        )

    registry = _registry(r, project("registry"), region or "")
    github = _github(r, project("github"), owner or "")
    workflow = _workflow(r, project("workflow"), github.environment)
    images = _images(r, project("images"), registry, workflow)

    username = r.string("registryUsername", project("registryUsername"), required=True)
    password = _secret(r, values, secret_keys, "registryPassword", required=True)
    webhook = _secret(r, values, secret_keys, "notifyWebhookUrl", required=False)
    if webhook is not None and workflow.notify is None:
        r.problem("notifyWebhookUrl", _MISSING, "is set but workflow.notify is not: add workflow.notify.kind")

    _environment_admits_branch(r, github, workflow)

    if r.problems:
        raise ConfigError(r.problems, stack)
    return Settings(
        stack=stack,
        region=region or "",
        registry=registry,
        images=images,
        github=github,
        workflow=workflow,
        registry_username=username or "",
        registry_password=password or Secret(""),
        notify_webhook_url=webhook,
    )


def _environment_admits_branch(r: _Reader, github: GitHub, workflow: Workflow) -> None:
    """Branch builds run in the environment: its deployment rules must let the branch in."""
    restricted = github.deployment_branches or github.deployment_tags
    if not (github.environment and restricted and workflow.branch_builds):
        return
    if not any(fnmatch.fnmatchcase(github.branch, p) for p in github.deployment_branches):
        r.problem(
            "github.deploymentBranches",
            list(github.deployment_branches),
            f"pushes to github.branch '{github.branch}' build in environment '{github.environment}', "
            "which would refuse them: add the branch, or set workflow.branchBuilds: false",
        )


def _secret(
    r: _Reader, values: Mapping[str, str], secret_keys: Collection[str], key: str, *, required: bool
) -> Secret | None:
    """A secret config value. Its value is never shown, not even when refused."""
    full = f"{PROJECT}:{key}"
    if full not in values or values[full] == "":
        if required:
            r.problem(key, _MISSING, f"is required; set it with `pulumi config set --secret {key}`")
        return None
    if full not in secret_keys:
        r.problem(
            key,
            _MISSING,
            f"is stored in plaintext; encrypt it with `pulumi config set --secret {key}` "
            "(the value is not shown here)",
        )
        return None
    return Secret(values[full])


def _registry(r: _Reader, raw: Any, region: str) -> Registry:
    if raw is _MISSING:
        r.problem("registry", _MISSING, "is required (at least registry.namespace)")
    reg = r.obj("registry", raw, REGISTRY_KEYS)
    edition = r.choice("registry.edition", reg.get("edition", _MISSING), EDITIONS, "enterprise")
    namespace = r.string(
        "registry.namespace",
        reg.get("namespace", _MISSING),
        required=True,
        check=_acr_name("namespace", edition),
    )
    instance_id = r.string(
        "registry.instanceId",
        reg.get("instanceId", _MISSING),
        required=edition == "enterprise",
        check=_pattern(INSTANCE_ID_RE, "must be an instance id of the form cri-xxxxxxxx"),
    )
    instance_name = r.string(
        "registry.instanceName",
        reg.get("instanceName", _MISSING),
        check=_pattern(INSTANCE_NAME_RE, "an instance name is 3-30 lowercase letters, digits and '-'"),
    )
    raw_endpoint = reg.get("endpoint", _MISSING)
    endpoint = r.string(
        "registry.endpoint",
        raw_endpoint,
        check=_pattern(
            HOST_RE,
            "must be a registry host name such as registry.cn-hangzhou.aliyuncs.com (no scheme, no path)",
        ),
    ) or derived_endpoint(edition, region, instance_name)
    if endpoint is None and raw_endpoint is _MISSING:
        needs = "instanceName or endpoint" if edition == "enterprise" else "endpoint"
        r.problem("registry.endpoint", _MISSING, f"edition {edition} needs registry.{needs}")

    enterprise_only = [k for k in ("publicAccess", "retention", "scan") if k in reg]
    if edition != "enterprise":
        for key in enterprise_only:
            r.problem(f"registry.{key}", reg[key], "is an Enterprise Edition setting (registry.edition)")

    return Registry(
        edition=edition,
        endpoint=endpoint or "",
        namespace=namespace or "",
        instance_id=instance_id,
        instance_name=instance_name,
        create_namespace=r.boolean("registry.createNamespace", reg.get("createNamespace", _MISSING), True),
        visibility=r.choice("registry.visibility", reg.get("visibility", _MISSING), VISIBILITIES, "PRIVATE"),
        retain_on_delete=r.boolean("registry.retainOnDelete", reg.get("retainOnDelete", _MISSING), True),
        public_access=_public_access(r, reg.get("publicAccess", _MISSING)),
        retention=_retention(r, reg.get("retention", _MISSING)),
        scan=_scan(r, reg.get("scan", _MISSING)),
    )


def _public_access(r: _Reader, raw: Any) -> tuple[AclEntry, ...] | None:
    if raw is _MISSING or raw is None:
        return None
    rule = "e.g. {cidr: 203.0.113.0/24, comment: office egress}"
    if raw == []:
        # An endpoint with no entries is open to the whole internet: say so explicitly.
        r.problem(
            "registry.publicAccess", raw, f"must list at least one entry ({rule}); for any address, 0.0.0.0/0"
        )
        return None
    entries = []
    for i, item in r.objects("registry.publicAccess", raw, rule):
        key = f"registry.publicAccess[{i}]"
        obj = r.obj(key, item, ("cidr", "comment"))
        cidr = r.string(f"{key}.cidr", obj.get("cidr", _MISSING), required=True, check=_cidr)
        comment = r.string(f"{key}.comment", obj.get("comment", _MISSING), default="acr-pipeline")
        if cidr:
            entries.append(AclEntry(cidr, comment or "acr-pipeline"))
    return tuple(entries)


def _retention(r: _Reader, raw: Any) -> Retention | None:
    if raw is _MISSING or raw is None:
        return None
    obj = r.obj("registry.retention", raw, ("keepLastTags", "keepTagPattern"))
    keep = r.integer("registry.retention.keepLastTags", obj.get("keepLastTags", _MISSING), None, 1, 10000)
    if "keepLastTags" not in obj:
        r.problem("registry.retention.keepLastTags", _MISSING, "is required: how many tags to keep")
    pattern = r.string("registry.retention.keepTagPattern", obj.get("keepTagPattern", _MISSING), check=_regex)
    return Retention(keep_last=keep or 1, keep_pattern=pattern)


def _scan(r: _Reader, raw: Any) -> Scan | None:
    if raw is _MISSING or raw is None:
        return None
    obj = r.obj("registry.scan", raw, ("trigger", "type", "tagPattern"))
    trigger = r.choice("registry.scan.trigger", obj.get("trigger", _MISSING), tuple(SCAN_TRIGGERS), "onPush")
    return Scan(
        trigger=SCAN_TRIGGERS[trigger],
        scan_type=r.choice("registry.scan.type", obj.get("type", _MISSING), SCAN_TYPES, "VUL"),
        tag_pattern=r.string(
            "registry.scan.tagPattern", obj.get("tagPattern", _MISSING), default=".*", check=_regex
        )
        or ".*",
    )


def _github(r: _Reader, raw: Any, owner: str) -> GitHub:
    if raw is _MISSING:
        r.problem("github", _MISSING, "is required (at least github.repository)")
    gh = r.obj("github", raw, GITHUB_KEYS)
    environment = r.string(
        "github.environment",
        gh.get("environment", _MISSING),
        check=lambda v: (
            None
            if len(v) <= 255 and v.isprintable()
            else "an environment name is at most 255 printable characters"
        ),
    )
    protection = [k for k in ("reviewers", "waitTimer", "deploymentBranches", "deploymentTags") if k in gh]
    if protection and not environment:
        for key in protection:
            r.problem(f"github.{key}", gh[key], "protects a GitHub Environment: set github.environment too")
    return GitHub(
        owner=owner,
        repository=r.string(
            "github.repository", gh.get("repository", _MISSING), required=True, check=_repository_name
        )
        or "",
        environment=environment,
        branch=r.string(
            "github.branch",
            gh.get("branch", _MISSING),
            default="main",
            check=_pattern(BRANCH_RE, "must be a valid git branch name"),
        )
        or "main",
        reviewers=_reviewers(r, gh.get("reviewers", _MISSING)),
        wait_timer=r.integer("github.waitTimer", gh.get("waitTimer", _MISSING), None, 0, 43200),
        deployment_branches=r.strings(
            "github.deploymentBranches", gh.get("deploymentBranches", _MISSING), ()
        ),
        deployment_tags=r.strings("github.deploymentTags", gh.get("deploymentTags", _MISSING), ()),
    )


def _reviewers(r: _Reader, raw: Any) -> Reviewers:
    obj = r.obj("github.reviewers", raw, ("users", "teams"))
    found: dict[str, tuple[int | str, ...]] = {}
    for kind in ("users", "teams"):
        key = f"github.reviewers.{kind}"
        items = obj.get(kind, [])
        if not isinstance(items, list):
            r.problem(key, items, "must be a list of names or numeric ids")
            continue
        ok: list[int | str] = []
        for i, item in enumerate(items):
            if isinstance(item, int) and not isinstance(item, bool) and item > 0:
                ok.append(item)
            elif isinstance(item, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", item):
                ok.append(int(item) if item.isdigit() else item)
            else:
                r.problem(f"{key}[{i}]", item, "must be a GitHub login/team slug or a numeric id")
        found[kind] = tuple(ok)
    if len(found.get("users", ())) + len(found.get("teams", ())) > 6:
        r.problem("github.reviewers", raw, "GitHub allows at most 6 required reviewers")
    return Reviewers(users=found.get("users", ()), teams=found.get("teams", ()))


def _workflow(r: _Reader, raw: Any, environment: str | None) -> Workflow:
    wf = r.obj("workflow", raw, WORKFLOW_KEYS)
    default_path = default_workflow_path(environment)
    tags = r.strings("workflow.tags", wf.get("tags", _MISSING), ())
    branch_builds = r.boolean("workflow.branchBuilds", wf.get("branchBuilds", _MISSING), True)
    if not branch_builds and not tags:
        r.problem(
            "workflow.branchBuilds",
            False,
            'with no workflow.tags, only manual runs would build: add tags (e.g. ["v*"]) or remove it',
        )
    return Workflow(
        path=r.string("workflow.path", wf.get("path", _MISSING), default=default_path, check=_workflow_path)
        or default_path,
        tags=tags,
        cache=r.boolean("workflow.cache", wf.get("cache", _MISSING), True),
        pin_actions=r.choice("workflow.pinActions", wf.get("pinActions", _MISSING), PIN_MODES, "sha"),
        attestations=r.boolean("workflow.attestations", wf.get("attestations", _MISSING), False),
        branch_builds=branch_builds,
        notify=_notify(r, wf.get("notify", _MISSING)),
        via_pull_request=r.boolean("workflow.viaPullRequest", wf.get("viaPullRequest", _MISSING), False),
    )


def _notify(r: _Reader, raw: Any) -> Notify | None:
    if raw is _MISSING or raw is None:
        return None
    obj = r.obj("workflow.notify", raw, ("kind", "secret"))
    if "kind" not in obj:
        r.problem("workflow.notify.kind", _MISSING, f"is required: one of {', '.join(NOTIFY_KINDS)}")
    secret = r.string(
        "workflow.notify.secret",
        obj.get("secret", _MISSING),
        default=DEFAULT_NOTIFY_SECRET,
        check=_github_name,
    )
    if secret and secret.upper() in RESERVED_NAMES:
        r.problem("workflow.notify.secret", secret, "is reserved for the registry login; choose another name")
    return Notify(
        kind=r.choice("workflow.notify.kind", obj.get("kind", _MISSING), NOTIFY_KINDS, "slack"),
        secret=secret or DEFAULT_NOTIFY_SECRET,
    )


def _images(r: _Reader, raw: Any, registry: Registry, workflow: Workflow) -> tuple[Image, ...]:
    if raw is _MISSING or raw is None:
        raw = [dict(i) for i in DEFAULT_IMAGES]
    if isinstance(raw, list) and not raw:
        r.problem("images", raw, "must list at least one image")
        return ()
    images: list[tuple[int, Image]] = []
    for i, item in r.objects("images", raw, "each image needs at least a name, e.g. {name: api}"):
        image = _image(r, f"images[{i}]", item, registry, workflow)
        if image is not None:
            images.append((i, image))
    _unique(r, images, "name", lambda im: im.name, "two images with the same name")
    _unique(r, images, "name", lambda im: im.key, "two images whose names give the same job id")
    _unique(
        r,
        images,
        "variable",
        lambda im: im.variable.upper(),
        "two images write the same GitHub variable (names are case-insensitive)",
    )
    notify_secret = workflow.notify.secret.upper() if workflow.notify else None
    for i, image in images:
        if image.variable.upper() in (*RESERVED_NAMES, notify_secret):
            r.problem(
                f"images[{i}].variable",
                image.variable,
                "is reserved for another setting; choose another name",
            )
    return tuple(image for _, image in images)


def _image(
    r: _Reader, key: str, item: dict[str, Any], registry: Registry, workflow: Workflow
) -> Image | None:
    obj = r.obj(key, item, IMAGE_KEYS)
    name = r.string(
        f"{key}.name",
        obj.get("name", _MISSING),
        required=True,
        check=_acr_name("repository", registry.edition),
    )
    if name is None:
        return None
    context = (
        r.string(f"{key}.context", obj.get("context", _MISSING), default=name, check=_relative_path) or name
    )
    context = posixpath.normpath(context)
    default_dockerfile = posixpath.join(context, "Dockerfile") if context != "." else "Dockerfile"
    context_glob = "**" if context == "." else f"{context}/**"
    dockerfile = (
        r.string(
            f"{key}.dockerfile",
            obj.get("dockerfile", _MISSING),
            default=default_dockerfile,
            check=_relative_path,
        )
        or default_dockerfile
    )
    # A change to the image's files, to its Dockerfile (when it lives outside the context),
    # or to the workflow itself rebuilds it.
    outside = context != "." and not dockerfile.startswith(f"{context}/")
    default_paths = (context_glob, *((dockerfile,) if outside else ()), workflow.path)
    immutable = r.boolean(f"{key}.immutableTags", obj.get("immutableTags", _MISSING), False)
    if immutable and registry.edition != "enterprise":
        r.problem(f"{key}.immutableTags", True, "is an Enterprise Edition setting (registry.edition)")
    return Image(
        name=name,
        context=context,
        dockerfile=dockerfile,
        paths=r.strings(
            f"{key}.paths", obj.get("paths", _MISSING), default_paths, _relative_path, allow_empty=False
        ),
        platforms=r.strings(
            f"{key}.platforms",
            obj.get("platforms", _MISSING),
            ("linux/amd64",),
            _pattern(PLATFORM_RE, "a platform is os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"),
            allow_empty=False,
        ),
        variable=r.string(
            f"{key}.variable",
            obj.get("variable", _MISSING),
            default=default_variable(name),
            check=_github_name,
        )
        or default_variable(name),
        build_args=_build_args(r, f"{key}.buildArgs", obj.get("buildArgs", _MISSING)),
        target=r.string(
            f"{key}.target",
            obj.get("target", _MISSING),
            check=_pattern(BUILD_STAGE_RE, "a build stage name is letters, digits, '.', '_' and '-'"),
        ),
        immutable_tags=immutable,
    )


def _build_args(r: _Reader, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is _MISSING or raw is None:
        return ()
    obj = r.obj(key, raw, ()) if not isinstance(raw, dict) else raw
    args = []
    for name, value in obj.items():
        if _build_arg_name(name):
            r.problem(f"{key}.{name}", value, "a build argument name is letters, digits and '_'")
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            r.problem(
                f"{key}.{name}", value, "must be a string (build arguments are plain text, never secrets)"
            )
            continue
        text = r.string(
            f"{key}.{name}",
            str(value),
            check=lambda v: None if "\n" not in v else "must be a single line",
        )
        if text is not None:
            args.append((name, text))
    return tuple(args)


def _unique(
    r: _Reader, images: list[tuple[int, Image]], field: str, value: Callable[[Image], str], rule: str
) -> None:
    seen: dict[str, int] = {}
    for i, image in images:
        v = value(image)
        if v in seen:
            r.problem(f"images[{i}].{field}", getattr(image, field), f"{rule} as images[{seen[v]}]")
        else:
            seen[v] = i


def registry_summary(s: Settings) -> dict[str, Any]:
    """The registry-wide settings a stack manages, for the stack outputs (no secrets here)."""
    reg = s.registry
    return {
        "edition": reg.edition,
        "namespace": reg.namespace,
        "publicAccess": [e.cidr for e in reg.public_access] if reg.public_access is not None else None,
        "retention": (
            {"keepLastTags": reg.retention.keep_last, "keepTagPattern": reg.retention.keep_pattern}
            if reg.retention
            else None
        ),
        "scan": {"trigger": reg.scan.trigger, "type": reg.scan.scan_type} if reg.scan else None,
        "immutableTags": [i.name for i in s.images if i.immutable_tags],
    }


def load() -> Settings:
    """Settings from the running Pulumi program's configuration."""
    from pulumi.runtime.config import CONFIG, is_config_secret

    values: dict[str, str] = dict(CONFIG.get())
    secret_keys = {k for k in values if is_config_secret(k)}
    return parse(values, secret_keys, pulumi.get_stack())
