"""Preflight: what would make the first build fail, found at preview and up, before anything is
registered, with one tree lookup for every image and one instance lookup (tests/world.py
answers as the providers do)."""

from __future__ import annotations

from typing import Any

import pytest

from components.lookups import LookupFailedError
from components.preflight import PreflightError, checks
from tests.conftest import SECRET_KEYS, config, encode, settings_for
from tests.world import Registry, World, WorldMocks
from tools.mock_engine import RecordingMonitor, run_program

IMAGES: list[dict[str, Any]] = [
    {"name": "api"},
    {"name": "worker", "context": "services/worker"},
    {"name": "web", "context": ".", "dockerfile": "docker/web.Dockerfile"},
]


def world() -> World:
    w = World(instances={"cri-abc123def456": Registry()})
    w.sources["main"] = {"api/Dockerfile", "services/worker/Dockerfile", "docker/web.Dockerfile"}
    return w


def preview(w: World, **overrides: Any) -> tuple[list[str], RecordingMonitor]:
    """The program against the world: (its warnings, what it registered). Errors propagate."""
    monitor = RecordingMonitor(WorldMocks(w))
    run = run_program(encode(config(images=IMAGES, **overrides)), SECRET_KEYS, monitor=monitor)
    return run.warnings, monitor


def tokens(monitor: RecordingMonitor) -> list[str]:
    return [token.rsplit(":", 1)[-1] for token, _ in monitor.recorder.calls]


def test_a_repository_holding_every_dockerfile_and_a_right_instance_pass_silently() -> None:
    warnings, monitor = preview(world())
    assert warnings == []
    assert tokens(monitor) == ["getRegistryEnterpriseInstances", "getTree"], "one of each, for three images"
    (tree,) = [args for token, args in monitor.recorder.calls if token.endswith("getTree")]
    assert tree == {"repository": "shop", "treeSha": "main", "recursive": True}


def test_a_missing_dockerfile_is_one_warning_naming_the_image_path_branch_and_repository() -> None:
    w = world()
    w.sources["main"].discard("services/worker/Dockerfile")
    w.sources["main"].add("services/worker/main.py")
    warnings, monitor = preview(w)
    assert warnings == [
        "the first build of worker would fail: its Dockerfile services/worker/Dockerfile is not on main of "
        "acme/shop (yet?); push them, or fix images[].context / images[].dockerfile"
    ]
    assert monitor.registered, "a warning: infrastructure may land before the code"


def test_a_missing_context_directory_is_named_too() -> None:
    w = world()
    w.sources["main"] = {"api/Dockerfile", "docker/web.Dockerfile"}
    warnings, _ = preview(w)
    (warning,) = warnings
    assert (
        "its Dockerfile services/worker/Dockerfile and its context services/worker/ are not on main"
        in warning
    )


@pytest.mark.parametrize(
    ("lookup", "answer", "check"),
    [
        (
            "getTree",
            "GET https://api.github.com/repos/acme/shop/git/trees/main: 401 Bad credentials []",
            "GITHUB_TOKEN",
        ),
        (
            "getRegistryEnterpriseInstances",
            "ErrorCode: InvalidAccessKeyId.NotFound Message: Specified access key is not found",
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
        ),
    ],
)
def test_a_refused_lookup_stops_the_preview_in_one_line_saying_what_to_check(
    lookup: str, answer: str, check: str
) -> None:
    w = world()
    w.refusing[lookup] = answer
    monitor = RecordingMonitor(WorldMocks(w))
    with pytest.raises(LookupFailedError) as err:
        run_program(encode(config(images=IMAGES)), SECRET_KEYS, monitor=monitor)
    message = str(err.value)
    assert message.startswith("a lookup before anything is created failed: invoke of ")
    assert f":{lookup} failed: {answer}" in message
    assert "; check the " in message
    assert check in message.partition("; check the ")[2]
    assert "\n" not in message
    assert monitor.registered == []


BRANCH_MISSING = (
    "acr-pipeline:github.branch = \"{branch}\": acme/shop has no branch '{branch}' (or the token may not "
    "read the repository); the workflow file is committed there and its pushes build: push it first, or set "
    "github.branch"
)


def test_a_branch_that_does_not_exist_stops_the_preview_naming_it() -> None:
    monitor = RecordingMonitor(WorldMocks(world()))
    with pytest.raises(PreflightError) as err:
        run_program(encode(config(images=IMAGES, github={"branch": "trunk"})), SECRET_KEYS, monitor=monitor)
    assert str(err.value) == BRANCH_MISSING.format(branch="trunk")
    assert monitor.registered == []


def test_an_empty_repository_has_no_branch_yet() -> None:
    """GitHub answers a tree of an empty repository with 409 Conflict, not 404."""
    w = world()
    w.refusing["getTree"] = "GET repos/acme/shop/git/trees/main: 409 Git Repository is empty. []"
    with pytest.raises(PreflightError) as err:
        preview(w)
    assert str(err.value) == BRANCH_MISSING.format(branch="main")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"instanceId": "cri-000000000000"},
            'acr-pipeline:registry.instanceId = "cri-000000000000": no Container Registry Enterprise Edition '
            "instance of that id in cn-hangzhou (alicloud:region), for these credentials: check the id in "
            "the console (Instances), and the region",
        ),
        (
            {"instanceName": "acme-prod"},
            "acr-pipeline:registry.instanceName = \"acme-prod\": instance cri-abc123def456 is named 'acme', "
            "so the workflow would log in to acme-prod-registry.cn-hangzhou.cr.aliyuncs.com, which is not "
            "its host (acme-registry.cn-hangzhou.cr.aliyuncs.com, "
            "acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com): set instanceName: acme",
        ),
        (
            {"endpoint": "registry.example.com"},
            "acr-pipeline:registry.endpoint: the workflow would log in to registry.example.com, which is "
            "not an endpoint of instance cri-abc123def456; its endpoints: "
            "acme-registry.cn-hangzhou.cr.aliyuncs.com, acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
        ),
    ],
)
def test_a_wrong_instance_stops_the_preview_before_anything_naming_the_key(
    change: dict[str, str], message: str
) -> None:
    monitor = RecordingMonitor(WorldMocks(world()))
    with pytest.raises(PreflightError) as err:
        run_program(encode(config(images=IMAGES, registry=change)), SECRET_KEYS, monitor=monitor)
    assert str(err.value) == message
    assert monitor.registered == []


def test_an_instance_whose_internet_endpoint_is_off_is_named_so() -> None:
    w = world()
    w.instances["cri-abc123def456"].internet = False
    with pytest.raises(PreflightError, match="its internet endpoint is off: enable it in the console"):
        preview(w)


def test_an_instance_with_no_endpoint_at_all_says_so() -> None:
    w = world()
    w.instances["cri-abc123def456"].internet = w.instances["cri-abc123def456"].vpc = False
    with pytest.raises(PreflightError) as named:
        preview(w, registry={"instanceName": "acme-prod"})
    assert "which is not its host (no endpoint enabled): set instanceName: acme" in str(named.value)
    with pytest.raises(PreflightError) as err:
        preview(w)
    assert str(err.value) == (
        "acr-pipeline:registry.instanceName: the workflow would log in to "
        "acme-registry.cn-hangzhou.cr.aliyuncs.com, which is not an endpoint of instance cri-abc123def456 "
        "(its internet endpoint is off: enable it in the console); its endpoints: none enabled"
    )


def test_a_vpc_endpoint_given_verbatim_is_the_instances_own() -> None:
    warnings, _ = preview(world(), registry={"endpoint": "acme-registry-vpc.cn-hangzhou.cr.aliyuncs.com"})
    assert warnings == []


def test_preflight_false_looks_nothing_up_and_other_editions_skip_the_instance() -> None:
    _, off = preview(world(), preflight=False)
    assert tokens(off) == []
    personal = {"edition": "personal", "instanceId": None, "instanceName": None}
    _, monitor = preview(world(), registry=personal)
    assert tokens(monitor) == ["getTree"]


def test_the_instance_lookup_asks_for_no_login_token() -> None:
    """enable_details would make the data source call GetAuthorizationToken and return a registry
    password in its result (data_source_alicloud_cr_ee_instances.go)."""
    _, monitor = preview(world())
    (args,) = [a for token, a in monitor.recorder.calls if token.endswith("getRegistryEnterpriseInstances")]
    assert args == {"ids": ["cri-abc123def456"]}


def test_synth_says_what_the_preflight_would_look_at_image_by_image() -> None:
    """`make synth` checks nothing (no cloud), so it lists what `preview` would look at instead."""
    assert checks(settings_for(images=IMAGES)) == [
        "api: api/Dockerfile and api/ on main of acme/shop",
        "worker: services/worker/Dockerfile and services/worker/ on main of acme/shop",
        "web: docker/web.Dockerfile and ./ on main of acme/shop",
        "instance cri-abc123def456 in cn-hangzhou named acme, "
        "with the endpoint acme-registry.cn-hangzhou.cr.aliyuncs.com",
    ]
    unnamed = settings_for(registry={"instanceName": None, "endpoint": "r.example.com"})
    assert checks(unnamed)[-1] == "instance cri-abc123def456 in cn-hangzhou, with the endpoint r.example.com"
    personal = settings_for(registry={"edition": "personal", "instanceId": None, "instanceName": None})
    assert checks(personal) == ["api: api/Dockerfile and api/ on main of acme/shop"], "no instance to look at"
    assert checks(settings_for(preflight=False)) == ["nothing (preflight: false)"]
