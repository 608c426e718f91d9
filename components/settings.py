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

# --- naming rules -------------------------------------------------------------------------
# Container Registry: lowercase letters, digits and the delimiters "_", "-", ".", not at
# either end. Enterprise Edition allows 2-120 characters for namespaces and repositories;
# Personal Edition 2-30 for namespaces and 2-64 for repositories.
_ACR_NAME = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
ACR_NAME_RE = re.compile(rf"^{_ACR_NAME}$")
ACR_LIMITS = {
    "enterprise": {"namespace": 120, "repository": 120},
    "personal": {"namespace": 30, "repository": 64},
    "external": {"namespace": 120, "repository": 120},
}
# GitHub Actions variables and secrets: letters, digits, "_"; not starting with a digit;
# the GITHUB_ prefix is reserved. GitHub compares names case-insensitively.
GITHUB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
GITHUB_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
INSTANCE_ID_RE = re.compile(r"^cri-[a-z0-9]+$")
INSTANCE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,28}[a-z0-9])$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z0-9]+)+$")
HOST_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::[0-9]{1,5})?$"
)
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
WORKFLOW_FILE_RE = re.compile(r"^[A-Za-z0-9._-]+\.ya?ml$")
# git check-ref-format, simplified: no spaces, control characters or ~^:?*[\ , no "..",
# no leading "-" or "/", no trailing "/", ".lock" or ".".
BRANCH_RE = re.compile(r"^(?!-|/)(?!.*(?:\.\.|//|@\{))[^\s~^:?*\[\\\x00-\x1f\x7f]+(?<![/.])(?<!\.lock)$")


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Image:
    name: str
    context: str
    dockerfile: str
    paths: tuple[str, ...]
    platforms: tuple[str, ...]
    variable: str

    @property
    def key(self) -> str:
        """Identifier for job ids, filter names and logical resource names."""
        return image_key(self.name)

    @property
    def job_id(self) -> str:
        return f"{self.key}-build-and-push"


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


@dataclass(frozen=True)
class GitHub:
    owner: str
    repository: str
    environment: str | None
    branch: str


@dataclass(frozen=True)
class Workflow:
    path: str
    tags: tuple[str, ...]
    cache: bool
    pin_actions: str
    attestations: bool


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
    def secret_names(self) -> tuple[str, ...]:
        return (USER_SECRET, PASSWORD_SECRET)


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


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


class _Reader:
    """Collects problems while reading raw values; every read returns a usable value."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, rule: str) -> None:
        if value is _MISSING:
            self.problems.append(f"{PROJECT}:{key}: {rule}" if ":" not in key else f"{key}: {rule}")
            return
        full = key if ":" in key else f"{PROJECT}:{key}"
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
                self.problem(
                    f"{key}.{name}", raw[name], f"unknown key{maybe}; known keys: {', '.join(allowed)}"
                )
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


# --- rules ---------------------------------------------------------------------------------


def _pattern(regex: re.Pattern[str], rule: str) -> Callable[[str], str | None]:
    return lambda value: None if regex.match(value) else rule


def _acr_name(kind: str, edition: str) -> Callable[[str], str | None]:
    limit = ACR_LIMITS[edition][kind]

    def check(value: str) -> str | None:
        if ACR_NAME_RE.match(value) and 2 <= len(value) <= limit:
            return None
        return (
            f"an ACR {kind} name must be 2-{limit} characters of lowercase letters, digits, "
            "'_', '-' and '.', and start and end with a letter or digit"
        )

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
    if not GITHUB_REPO_RE.match(value) or value in (".", ".."):
        return "a GitHub repository name is 1-100 characters of letters, digits, '.', '-' and '_'"
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
)
IMAGE_KEYS = ("name", "context", "dockerfile", "paths", "platforms", "variable")
GITHUB_KEYS = ("repository", "environment", "branch")
WORKFLOW_KEYS = ("path", "tags", "cache", "pinActions", "attestations")
PROJECT_KEYS = ("registry", "images", "github", "workflow", "registryUsername", "registryPassword")


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
    r = _Reader()
    ns = f"{PROJECT}:"

    for full_key in values:
        if full_key.startswith(ns) and full_key[len(ns) :] not in PROJECT_KEYS:
            name = full_key[len(ns) :]
            hint = difflib.get_close_matches(name, PROJECT_KEYS, n=1)
            maybe = f" (did you mean '{hint[0]}'?)" if hint else ""
            shown = _MISSING if full_key in secret_keys else values[full_key]
            r.problem(full_key, shown, f"unknown key{maybe}; known keys: {', '.join(PROJECT_KEYS)}")

    def project(key: str) -> Any:
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

    # registry
    raw_registry = project("registry")
    if raw_registry is _MISSING:
        r.problem("registry", _MISSING, "is required (at least registry.namespace)")
    reg = r.obj("registry", raw_registry, REGISTRY_KEYS)
    edition = r.choice("registry.edition", reg.get("edition", _MISSING), EDITIONS, "enterprise")
    namespace = (
        r.string(
            "registry.namespace",
            reg.get("namespace", _MISSING),
            required=True,
            check=_acr_name("namespace", edition),
        )
        or ""
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
    )
    endpoint = endpoint or derived_endpoint(edition, region or "", instance_name)
    if endpoint is None and raw_endpoint is _MISSING:
        needs = "instanceName or endpoint" if edition == "enterprise" else "endpoint"
        r.problem("registry.endpoint", _MISSING, f"edition {edition} needs registry.{needs}")
    registry = Registry(
        edition=edition,
        endpoint=endpoint or "",
        namespace=namespace,
        instance_id=instance_id,
        instance_name=instance_name,
        create_namespace=r.boolean("registry.createNamespace", reg.get("createNamespace", _MISSING), True),
        visibility=r.choice("registry.visibility", reg.get("visibility", _MISSING), VISIBILITIES, "PRIVATE"),
        retain_on_delete=r.boolean("registry.retainOnDelete", reg.get("retainOnDelete", _MISSING), True),
    )

    # github
    raw_github = project("github")
    if raw_github is _MISSING:
        r.problem("github", _MISSING, "is required (at least github.repository)")
    gh = r.obj("github", raw_github, GITHUB_KEYS)
    environment = r.string(
        "github.environment",
        gh.get("environment", _MISSING),
        check=lambda v: (
            None
            if len(v) <= 255 and v.isprintable()
            else "an environment name is at most 255 printable characters"
        ),
    )
    github = GitHub(
        owner=owner or "",
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
    )

    # workflow
    wf = r.obj("workflow", project("workflow"), WORKFLOW_KEYS)
    workflow = Workflow(
        path=r.string(
            "workflow.path",
            wf.get("path", _MISSING),
            default=default_workflow_path(environment),
            check=_workflow_path,
        )
        or default_workflow_path(environment),
        tags=r.strings("workflow.tags", wf.get("tags", _MISSING), ()),
        cache=r.boolean("workflow.cache", wf.get("cache", _MISSING), True),
        pin_actions=r.choice("workflow.pinActions", wf.get("pinActions", _MISSING), PIN_MODES, "sha"),
        attestations=r.boolean("workflow.attestations", wf.get("attestations", _MISSING), False),
    )

    images = _images(r, project("images"), edition, workflow.path)

    # credentials
    username = r.string(
        "registryUsername",
        project("registryUsername"),
        required=True,
        check=lambda v: None if v.isprintable() else "must be a single line",
    )
    password_key = ns + "registryPassword"
    if password_key not in values or values[password_key] == "":
        r.problem(
            "registryPassword",
            _MISSING,
            "is required; set it with `pulumi config set --secret registryPassword`",
        )
    elif password_key not in secret_keys:
        r.problem(
            "registryPassword",
            _MISSING,
            "is stored in plaintext; encrypt it with "
            "`pulumi config set --secret registryPassword` (the value is not shown here)",
        )

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
        registry_password=Secret(values[password_key]),
    )


def _images(r: _Reader, raw: Any, edition: str, workflow_path: str) -> tuple[Image, ...]:
    if raw is _MISSING or raw is None:
        raw = [dict(i) for i in DEFAULT_IMAGES]
    if not isinstance(raw, list):
        r.problem("images", raw, "must be a list of objects, e.g. [{name: api}]")
        return ()
    if not raw:
        r.problem("images", raw, "must list at least one image")
        return ()
    images: list[tuple[int, Image]] = []
    for i, item in enumerate(raw):
        key = f"images[{i}]"
        if not isinstance(item, dict):
            r.problem(key, item, "must be an object with at least a name, e.g. {name: api}")
            continue
        obj = r.obj(key, item, IMAGE_KEYS)
        name = r.string(
            f"{key}.name", obj.get("name", _MISSING), required=True, check=_acr_name("repository", edition)
        )
        if name is None:
            continue
        context = (
            r.string(f"{key}.context", obj.get("context", _MISSING), default=name, check=_relative_path)
            or name
        )
        context = posixpath.normpath(context)
        default_dockerfile = posixpath.join(context, "Dockerfile") if context != "." else "Dockerfile"
        dockerfile = (
            r.string(
                f"{key}.dockerfile",
                obj.get("dockerfile", _MISSING),
                default=default_dockerfile,
                check=_relative_path,
            )
            or default_dockerfile
        )
        default_paths = ("**" if context == "." else f"{context}/**", workflow_path)
        images.append(
            (
                i,
                Image(
                    name=name,
                    context=context,
                    dockerfile=dockerfile,
                    paths=r.strings(
                        f"{key}.paths",
                        obj.get("paths", _MISSING),
                        default_paths,
                        _relative_path,
                        allow_empty=False,
                    ),
                    platforms=r.strings(
                        f"{key}.platforms",
                        obj.get("platforms", _MISSING),
                        ("linux/amd64",),
                        _pattern(
                            PLATFORM_RE, "a platform is os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
                        ),
                        allow_empty=False,
                    ),
                    variable=r.string(
                        f"{key}.variable",
                        obj.get("variable", _MISSING),
                        default=default_variable(name),
                        check=_github_name,
                    )
                    or default_variable(name),
                ),
            )
        )
    _unique(r, images, "name", lambda im: im.name, "two images with the same name")
    _unique(r, images, "name", lambda im: im.key, "two images whose names give the same job id")
    _unique(
        r,
        images,
        "variable",
        lambda im: im.variable.upper(),
        "two images write the same GitHub variable (names are case-insensitive)",
    )
    for i, image in images:
        if image.variable.upper() in RESERVED_NAMES:
            r.problem(
                f"images[{i}].variable",
                image.variable,
                "is reserved for the registry login; choose another name",
            )
    return tuple(image for _, image in images)


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


def load() -> Settings:
    """Settings from the running Pulumi program's configuration."""
    from pulumi.runtime.config import CONFIG, is_config_secret

    values: dict[str, str] = dict(CONFIG.get())
    secret_keys = {k for k in values if is_config_secret(k)}
    return parse(values, secret_keys, pulumi.get_stack())
