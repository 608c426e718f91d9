"""Shared fixtures: a valid stack config to vary, and the program run on the mock engine."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.settings import Settings, parse
from tools.mock_engine import Run, run_program

PROJECT = "acr-pipeline"
# A password no test would produce by accident: any appearance of it outside the secret
# itself is a leak.
KNOWN_PASSWORD = "Kn0wn-Pa55word-7f3e91"  # noqa: S105 - a test value

BASE: dict[str, Any] = {
    "alicloud:region": "cn-hangzhou",
    "github:owner": "acme",
    "acr-pipeline:registry": {
        "instanceId": "cri-abc123def456",
        "instanceName": "acme",
        "namespace": "acme-dev",
    },
    "acr-pipeline:github": {"repository": "shop"},
    "acr-pipeline:registryUsername": "pusher@1234567890",
    "acr-pipeline:registryPassword": KNOWN_PASSWORD,
}
SECRET_KEYS = {"acr-pipeline:registryPassword"}

ENTERPRISE_NAMESPACE = "alicloud:cs/registryEnterpriseNamespace:RegistryEnterpriseNamespace"
ENTERPRISE_REPO = "alicloud:cs/registryEnterpriseRepo:RegistryEnterpriseRepo"
PERSONAL_NAMESPACE = "alicloud:cr/namespace:Namespace"
PERSONAL_REPO = "alicloud:cr/repo:Repo"
VARIABLE = "github:index/actionsVariable:ActionsVariable"
SECRET = "github:index/actionsSecret:ActionsSecret"  # noqa: S105 - a type token
ENV_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
ENV_SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"  # noqa: S105
ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
FILE = "github:index/repositoryFile:RepositoryFile"


def config(**overrides: Any) -> dict[str, Any]:
    """BASE with overrides: `registry={"edition": "personal"}` merges into the object;
    `images=[...]` replaces; a value of None removes the key. Keys without a namespace
    are project keys."""
    cfg = copy.deepcopy(BASE)
    for key, value in overrides.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            cfg.pop(full, None)
        elif isinstance(value, dict) and isinstance(cfg.get(full), dict):
            merged = {**cfg[full], **value}
            cfg[full] = {k: v for k, v in merged.items() if v is not None}
        else:
            cfg[full] = value
    return cfg


def encode(cfg: dict[str, Any]) -> dict[str, str]:
    """As Pulumi hands config to a program: objects and lists as JSON, the rest as text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()}


def settings_for(secret_keys: set[str] | None = None, stack: str = "dev", **overrides: Any) -> Settings:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    return parse(encode(config(**overrides)), keys, stack)


def run_for(secret_keys: set[str] | None = None, stack: str = "dev", **overrides: Any) -> Run:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    return run_program(encode(config(**overrides)), keys, stack=stack)


@pytest.fixture(scope="module")
def default_run() -> Run:
    """The program with the base config (one image, enterprise, repository scope)."""
    return run_for()
