"""Run the real `__main__.py` on Pulumi's in-process mock engine and record what it registers.

Used by `make synth` and by the tests. Nothing here talks to a cloud or to GitHub: the mock
monitor answers every registration with the inputs as outputs, and records each resource's
type, name, parent, inputs (secrets marked), dependencies and resource options.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import runpy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import ROOT

from tools.tokens import OIDC_PROVIDER, ROLE

ROOT_DIR = Path(__file__).resolve().parent.parent
MAIN = ROOT_DIR / "__main__.py"
PROJECT = "acr-pipeline"


class Hidden:
    """Stands in for a secret value in recorded inputs; compares equal to nothing else."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[secret]"


def _mark_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return Hidden(_mark_secrets(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _mark_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_secrets(v) for v in value]
    return value


@dataclass
class Registered:
    """One resource as the engine saw it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    """Inputs with every secret wrapped in :class:`Hidden`."""
    dependencies: list[str]
    delete_before_replace: bool
    retain_on_delete: bool
    protect: bool
    import_id: str = ""
    """The `import` option: the ID of an existing object to take over ("" to create)."""
    replace_on_changes: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()

    def plain(self, key: str) -> Any:
        """An input's value, with any secret wrapper removed."""
        value = self.inputs.get(key)
        return value.value if isinstance(value, Hidden) else value

    def is_secret(self, key: str) -> bool:
        return isinstance(self.inputs.get(key), Hidden)


# The data-source calls the program may make: reviewers given by name, and with `adopt` the
# lookups of components/adoption.py. Offline, nothing exists yet: each adoption lookup lists
# nothing, so every object is created (the real preview decides). Anything else is a design
# change (the endpoint is computed, never looked up).
REVIEWER_LOOKUPS = {
    "github:index/getUser:getUser": "username",
    "github:index/getTeam:getTeam": "slug",
}
ADOPTION_LOOKUPS: dict[str, dict[str, Any]] = {
    "github:index/getActionsVariables:getActionsVariables": {"variables": []},
    "github:index/getRepositoryFile:getRepositoryFile": {},
    "github:index/getActionsSecrets:getActionsSecrets": {"secrets": []},
    "github:index/getActionsEnvironmentSecrets:getActionsEnvironmentSecrets": {"secrets": []},
    "alicloud:cr/getEndpointAclPolicies:getEndpointAclPolicies": {"policies": []},
    "alicloud:cs/getRegistryEnterpriseNamespaces:getRegistryEnterpriseNamespaces": {"namespaces": []},
    "alicloud:cs/getRegistryEnterpriseRepos:getRegistryEnterpriseRepos": {"repos": []},
    "alicloud:cr/getNamespaces:getNamespaces": {"namespaces": []},
    "alicloud:cr/getRepos:getRepos": {"repos": []},
}


# An offline run cannot know what a lookup would find; what it stands in says so.
ACCOUNT_PLACEHOLDER = "<account id, looked up at deploy>"
NAMED_PROVIDER_LOOKUP = "alicloud:ims/getOidcProviders:getOidcProviders"
PREFLIGHT_LOOKUPS = (
    "github:index/getTree:getTree",
    "alicloud:cs/getRegistryEnterpriseInstances:getRegistryEnterpriseInstances",
)
# Offline, no environment exists: listing its variables is GitHub's 404.
ENVIRONMENT_VARIABLES_LOOKUP = "github:index/getActionsEnvironmentVariables:getActionsEnvironmentVariables"


def fake_id(name: str) -> int:
    """A stable stand-in id for a looked-up GitHub user or team: negative, so that it can never
    be a real id, and synth can show it as what it is (looked up at deploy)."""
    return -(100000 + sum((i + 1) * ord(c) for i, c in enumerate(name)))


# Outputs the providers compute that the program reads, as they look (`acs:ram::<account>:...`).
ACCOUNT = "1234567890123456"
COMPUTED: dict[str, Any] = {
    OIDC_PROVIDER: lambda i: {"arn": f"acs:ram::{ACCOUNT}:oidc-provider/{i['oidcProviderName']}"},
    ROLE: lambda i: {"arn": f"acs:ram::{ACCOUNT}:role/{i['roleName'].lower()}"},
}


class FailedLookupError(Exception):
    """A data source's error, as the engine hands it to the program: `invoke of <token> failed:
    <reason> ()`."""


class OfflineMocks(pulumi_mocks.Mocks):
    """Every registration succeeds with its inputs (and the outputs above) as outputs; lookups
    answer as above."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.config: Mapping[str, str] = {}
        """The stack's config (set by run_program): offline, what it names is assumed to exist."""
        self.secret_keys: Collection[str] = ()

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        computed = COMPUTED.get(args.typ, lambda _: {})(args.inputs)
        return args.resource_id or f"{args.name}-id", {**args.inputs, **computed}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        try:
            return self.answer(args.token, dict(args.args)), []
        except FailedLookupError as err:
            return {}, [("", str(err))]

    def answer(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if token in REVIEWER_LOOKUPS:
            name = str(args[REVIEWER_LOOKUPS[token]])
            return {"id": str(fake_id(name)), REVIEWER_LOOKUPS[token]: name}
        if token in ADOPTION_LOOKUPS:
            return dict(ADOPTION_LOOKUPS[token])
        if token == ENVIRONMENT_VARIABLES_LOOKUP:
            raise FailedLookupError(f"GET .../environments/{args['environment']}/variables: 404 Not Found []")
        if token in PREFLIGHT_LOOKUPS:
            return self.as_configured(token)
        if token == NAMED_PROVIDER_LOOKUP:
            # The program asks for exactly one name (`^<escaped name>$`): assume it exists.
            name = re.sub(r"\\(.)", r"\1", str(args["nameRegex"])[1:-1])
            named = json.loads(self.config.get(f"{PROJECT}:auth", "{}")).get("oidcProvider", "")
            arn = (
                named if named.startswith("acs:") else f"acs:ram::{ACCOUNT_PLACEHOLDER}:oidc-provider/{name}"
            )
            return {"providers": [{"oidcProviderName": name, "arn": arn}]}
        raise AssertionError(f"unexpected provider function call: {token}")

    def as_configured(self, token: str) -> dict[str, Any]:
        """Offline, the preflight's lookups find what the stack describes: the Dockerfiles and
        contexts on the branch, the instance with its name and endpoint (synth says so)."""
        from components.config import parse

        s = parse(self.config, self.secret_keys, "offline")
        if token == PREFLIGHT_LOOKUPS[0]:
            paths = {image.dockerfile: "blob" for image in s.images}
            for image in s.images:
                parts = image.context.split("/")
                paths.update(
                    {"/".join(parts[: n + 1]): "tree" for n in range(len(parts)) if image.context != "."}
                )
            return {
                "entries": [
                    {"path": p, "type": t, "mode": "", "sha": "", "size": 0} for p, t in paths.items()
                ]
            }
        instance = {
            "id": s.registry.instance_id,
            "name": s.registry.instance_name or "",
            "region": s.region,
            "publicEndpoints": [s.endpoint],
            "vpcEndpoints": [],
        }
        return {"instances": [instance]}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: OfflineMocks | None = None) -> None:
        self.recorder = mocks or OfflineMocks()
        super().__init__(self.recorder)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    inputs=_mark_secrets(rpc.deserialize_properties(request.object)),
                    dependencies=list(request.dependencies),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    protect=bool(request.protect),
                    import_id=request.importId,
                    replace_on_changes=tuple(request.replaceOnChanges),
                    ignore_changes=tuple(request.ignoreChanges),
                )
            )
        return response


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Run:
    """What one program run registered and exported."""

    resources: list[Registered]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Provider function (data source) calls: token and arguments."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(
                f"{len(matches)} resources named {name!r}; have {[r.name for r in self.resources]}"
            )
        return matches[0]

    def custom(self) -> list[Registered]:
        return [r for r in self.resources if r.custom]


def run_program(
    config: Mapping[str, str],
    secret_keys: Collection[str] = (),
    stack: str = "dev",
    program: Path = MAIN,
    monitor: RecordingMonitor | None = None,
) -> Run:
    """Run `program` with `config` (full `namespace:key` -> string) on the mock engine.

    Exceptions from the program (a ConfigError, say) propagate to the caller; pass your own
    `monitor` to see what had been registered by then.
    """
    monitor = monitor or RecordingMonitor()
    monitor.recorder.config = config
    monitor.recorder.secret_keys = secret_keys
    collector = _Collect()
    logger = logging.getLogger(f"acr-pipeline.mock.{id(monitor)}")
    logger.propagate = False
    logger.addHandler(collector)

    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    ROOT.set(None)  # a fresh Stack resource for every run
    pulumi.runtime.set_mocks(
        monitor.recorder, project=PROJECT, stack=stack, preview=False, logger=logger, monitor=monitor
    )

    exported: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> pulumi.Output[Any]:
        runpy.run_path(str(program), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}))
        return pulumi.Output.from_input(outputs).apply(exported.update)

    # Provider function calls run on worker threads with event loops of their own; collect
    # them after the run, while the interpreter is whole, not in a noisy __del__ at exit. What
    # existed before the run is frozen meanwhile: the collection walks only what the run made
    # (a full one costs more with every object a test session holds: most of a stack's cost in
    # `make test` with a hundred stacks).
    gc.freeze()
    try:
        _run()
        gc.collect()
    finally:
        gc.unfreeze()
    warnings = [r.getMessage() for r in collector.records if r.levelno >= logging.WARNING]
    return Run(
        resources=monitor.registered, outputs=exported, warnings=warnings, calls=monitor.recorder.calls
    )
