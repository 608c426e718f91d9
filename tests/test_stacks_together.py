"""Stacks together: one repository and one Alibaba Cloud account hold a hand-made pipeline; a
team takes it over with three stacks (dev at repository scope, adopting it; staging in an
environment; prod in an environment with reviewers, release tags only), all keyless, the account's
OIDC provider created by prod and named by the others. Deployed in the order this repository's
deploy CI uses (tools/check_stacks.py `order`), each converges with no provider error, and a
second `up` of each changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from components import stackfile
from components.stackfile import stack_config
from tests.world import Deployment, Registry, World, handmade
from tools import check_stacks
from tools.tokens import ROLE

COMMON = """\
config:
  alicloud:region: cn-hangzhou
  github:owner: acme
  acr-pipeline:registry:
    instanceId: cri-abc123def456
    instanceName: acme
    namespace: {namespace}
  acr-pipeline:images:
    - name: api
"""
STACKS = {
    "dev": COMMON.format(namespace="acme-dev")
    + """\
  acr-pipeline:github:
    repository: shop
  acr-pipeline:workflow:
    pullRequests: true
  acr-pipeline:auth:
    mode: oidc
    oidcProvider: github-actions
  acr-pipeline:adopt: true
""",
    "staging": COMMON.format(namespace="acme-staging")
    + """\
  acr-pipeline:github:
    repository: shop
    environment: staging
  acr-pipeline:workflow:
    branchBuilds: false
    tags: ["v*-rc*"]
  acr-pipeline:auth:
    mode: oidc
    oidcProvider: github-actions
""",
    "prod": COMMON.format(namespace="acme-prod")
    + """\
  acr-pipeline:github:
    repository: shop
    environment: production
    reviewers:
      teams: [42]
    deploymentTags: ["v*"]
  acr-pipeline:workflow:
    branchBuilds: false
    tags: ["v[0-9]+.[0-9]+.[0-9]+"]
    promote:
      fromNamespaces: [acme-staging]
  acr-pipeline:auth:
    mode: oidc
""",
}


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[World, list[str], dict[str, Deployment], Path]:
    stacks_dir = tmp_path_factory.mktemp("stacks")
    for name, text in STACKS.items():
        (stacks_dir / f"Pulumi.{name}.yaml").write_text(text)
    world = handmade(World(instances={"cri-abc123def456": Registry()}))
    loaded, errors = stackfile.load_stacks(stacks_dir)
    assert errors == []
    first, then = check_stacks.deploy_order(loaded)
    order = first + then
    deployments = {name: world.up(*stack_config(name, stacks_dir), stack=name) for name in order}
    return world, order, deployments, stacks_dir


def test_check_stacks_finds_no_clash_and_orders_the_provider_s_creator_first(
    deployed: tuple[World, list[str], dict[str, Deployment], Path],
) -> None:
    _, order, _, stacks_dir = deployed
    problems, notices, _ = check_stacks.check(stacks_dir)
    assert problems == []
    assert notices == []
    assert order == ["prod", "dev", "staging"]


def test_each_stack_deploys_in_that_order_with_no_provider_error(
    deployed: tuple[World, list[str], dict[str, Deployment], Path],
) -> None:
    world, order, deployments, _ = deployed
    for name in order:
        assert deployments[name].errors == [], name
    assert world.ram["oidc-provider"] == {"github-actions"}
    assert world.ram["role"] == {f"acr-push-acme-shop-{name}" for name in order}
    arn = "acs:ram::1234567890123456:oidc-provider/github-actions"
    for name in order:
        assert deployments[name].run.outputs["oidcProviderArn"] == arn, name


def test_the_hand_made_pipeline_is_taken_over_and_its_password_named_for_deletion(
    deployed: tuple[World, list[str], dict[str, Deployment], Path],
) -> None:
    world, _, deployments, _ = deployed
    imports = [line for line in world.log if line.startswith("IMPORT")]
    assert "IMPORT RepositoryFile shop:.github/workflows/build-push.yml:main" in imports
    (warning,) = [w for w in deployments["dev"].run.warnings if "still stores" in w]
    assert "`gh secret delete ALIYUN_REGISTRY_PWD -R acme/shop`" in warning


def test_three_workflows_three_trust_boundaries(
    deployed: tuple[World, list[str], dict[str, Deployment], Path],
) -> None:
    world, _, deployments, _ = deployed
    # Each role admits its own runs only: dev its branch, staging and prod their environments.
    trusted = {}
    for name, deployment in deployments.items():
        (role,) = deployment.run.of_type(ROLE)
        (statement,) = json.loads(role.plain("assumeRolePolicyDocument"))["Statement"]
        trusted[name] = statement["Condition"]["StringLike"]["oidc:sub"]
    assert trusted == {
        "dev": ["repo:acme/shop:ref:refs/heads/main"],
        "staging": ["repo:acme/shop:environment:staging"],
        "prod": ["repo:acme/shop:environment:production"],
    }
    files = {
        path: YAML(typ="safe").load(f.content)
        for (branch, path), f in world.files.items()
        if branch == "main"
    }
    assert set(files) == {
        ".github/workflows/build-push.yml",
        ".github/workflows/only-build.yml",
        ".github/workflows/build-push-staging.yml",
        ".github/workflows/build-push-production.yml",
    }
    scopes: dict[str, set[str]] = {}
    for path, doc in files.items():
        # Each build reads its scope from its row of the table the `changes` job carries.
        rows = [json.loads(line) for line in doc["jobs"]["changes"]["env"]["BUILDS"].splitlines()]
        for step in doc["jobs"]["build"]["steps"]:
            for key in ("cache-from", "cache-to"):
                if key in step.get("with", {}):
                    assert step["with"][key].endswith("scope=${{ matrix.cache }}"), (path, step)
                    scopes.setdefault(path, set()).update(row["cache"] for row in rows)
    assert scopes[".github/workflows/build-push.yml"] == {"dev+api"}
    assert scopes[".github/workflows/only-build.yml"] == {"dev+api"}, "dev's pull requests read dev's cache"
    assert scopes[".github/workflows/build-push-staging.yml"] == {"staging+api"}
    assert ".github/workflows/build-push-production.yml" not in scopes, (
        "a reviewed release builds from scratch"
    )


def test_a_second_up_of_each_stack_changes_nothing(
    deployed: tuple[World, list[str], dict[str, Deployment], Path],
) -> None:
    world, order, _, stacks_dir = deployed
    for name in order:
        again = world.up(*stack_config(name, stacks_dir), stack=name)
        assert again.errors == [], name
        assert again.changes == [], (name, again.changes)


def test_one_login_in_a_stack_any_branch_reads_and_in_a_reviewed_one_is_refused_before_any_up(
    tmp_path: Path,
) -> None:
    """The world shows why: deployed as written, dev's repository secret (which a workflow of any
    branch can read) is the very login that prod's reviewed environment holds. check-stacks, which
    deploy CI runs first, refuses the pair; with prod's own user the two logins differ."""
    login = (
        "  acr-pipeline:registryUsername: {user}\n"
        "  acr-pipeline:registryPassword:\n"
        "    secure: v1:A2ek8cd9Ll9FXOtx:q6Td2VkHX9nhr6Yt8nrWtmTSpnnpeknUKgv/JpEhTiRP\n"
    )
    dev = COMMON.format(namespace="acme-dev") + "  acr-pipeline:github:\n    repository: shop\n"
    prod = STACKS["prod"].replace("  acr-pipeline:auth:\n    mode: oidc\n", "")

    def world_of(prod_user: str) -> tuple[World, list[str]]:
        stacks = tmp_path / prod_user
        stacks.mkdir()
        (stacks / "Pulumi.dev.yaml").write_text(dev + login.format(user="acr-pusher@1"))
        (stacks / "Pulumi.prod.yaml").write_text(prod + login.format(user=prod_user))
        loaded, errors = stackfile.load_stacks(stacks)
        assert errors == []
        world = World(instances={"cri-abc123def456": Registry()})
        for name in ("dev", "prod"):
            assert world.up(*stack_config(name, stacks), stack=name).errors == [], name
        return world, check_stacks.shared_logins(loaded)

    shared, refused = world_of("acr-pusher@1")
    assert (
        shared.secrets["ALIYUN_REGISTRY_USER"]
        == shared.environments["production"].secrets["ALIYUN_REGISTRY_USER"]
    )
    (problem,) = refused
    assert problem.startswith(
        "stacks dev and prod store one registry login, acr-pusher@1, for cri-abc123def456"
    )
    apart, refused = world_of("acr-prod-pusher@1")
    assert (
        apart.secrets["ALIYUN_REGISTRY_USER"]
        != apart.environments["production"].secrets["ALIYUN_REGISTRY_USER"]
    )
    assert refused == []
