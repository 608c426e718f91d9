"""Several stacks, one repository: the cross-stack check catches two stacks that would write
the same thing; and a team's own stacks, alone in stacks/, are what `make test` checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from components import stackfile
from tests.conftest import FIXTURES, stacks_are_the_examples
from tools import check_stacks
from tools.mock_engine import ROOT_DIR

WORKFLOW = ".github/workflows/build-push.yml"
# The dev fixture without its pull-request workflow, which one stack per repository owns
# (tests/test_pull_requests.py): the other stacks made from it here are about other claims.
DEV = re.sub(
    r"  acr-pipeline:workflow:\n    pullRequests: true.*\n", "", (FIXTURES / "Pulumi.dev.yaml").read_text()
)


def write_stacks(tmp_path: Path, **files: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


def problems_for(stacks_dir: Path) -> list[str]:
    loaded, errors = stackfile.load_stacks(stacks_dir)
    assert errors == []
    return check_stacks.clashes(loaded)


def test_the_fixture_stacks_do_not_clash() -> None:
    loaded, errors = stackfile.load_stacks(FIXTURES)
    assert errors == []
    assert len(loaded) == 3
    assert check_stacks.clashes(loaded) == []


def test_two_repository_scoped_stacks_writing_aliyun_registry_clash(tmp_path: Path) -> None:
    other = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n  acr-pipeline:workflow:\n    path: .github/workflows/qa.yml"
    )
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    clash = "GitHub variable ALIYUN_REGISTRY at repository scope of acme-platform/shop"
    assert f"stacks dev and qa both write the {clash}" in found
    assert not any("workflow file" in p for p in found)


def test_two_stacks_writing_one_workflow_path_clash(tmp_path: Path) -> None:
    other = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main",
        "branch: main\n    environment: qa\n  acr-pipeline:workflow:\n    path: " + WORKFLOW,
    )
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    assert found == [
        "stacks dev and qa both write the workflow file "
        ".github/workflows/build-push.yml on acme-platform/shop@main"
    ]


def test_two_stacks_creating_one_namespace_clash(tmp_path: Path) -> None:
    other = DEV.replace("branch: main", "branch: main\n    environment: qa")
    found = problems_for(write_stacks(tmp_path, dev=DEV, qa=other))
    assert any("ACR namespace acme-dev" in p and "dev and qa" in p for p in found)


def test_two_stacks_adding_one_internet_acl_entry_clash_but_different_entries_do_not(tmp_path: Path) -> None:
    qa = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n    environment: qa"
    )
    acl = "\n    publicAccess:\n      - cidr: {}"
    dev = DEV.replace("namespace: acme-dev", "namespace: acme-dev" + acl.format("203.0.113.0/24"))
    found = problems_for(
        write_stacks(
            tmp_path,
            dev=dev,
            qa=qa.replace("namespace: acme-qa", "namespace: acme-qa" + acl.format("203.0.113.0/24")),
        )
    )
    assert found == [
        "stacks dev and qa both write the internet ACL entry 203.0.113.0/24 of instance cri-8x2kd7sf1mqa3vno"
    ]
    other = qa.replace("namespace: acme-qa", "namespace: acme-qa" + acl.format("198.51.100.0/24"))
    assert problems_for(write_stacks(tmp_path, dev=dev, qa=other)) == []


def test_two_workflows_of_one_name_on_one_branch_clash(tmp_path: Path) -> None:
    """They would share a concurrency group and cancel each other's runs."""

    def named(text: str, path: str) -> str:
        return text.replace(
            "branch: main",
            f"branch: main\n    environment: {path}\n  acr-pipeline:workflow:\n"
            f"    name: images\n    path: .github/workflows/{path}.yml",
        )

    qa = DEV.replace("namespace: acme-dev", "namespace: acme-qa")
    found = problems_for(write_stacks(tmp_path, dev=named(DEV, "dev"), qa=named(qa, "qa")))
    assert found == ["stacks dev and qa both write the workflow name images on acme-platform/shop@main"]


def test_two_stacks_creating_the_oidc_provider_of_one_account_clash(tmp_path: Path) -> None:
    """An account needs one provider for GitHub's issuer, whatever it is called; stacks on one
    instance share the account."""
    keyless = DEV[: DEV.index("  acr-pipeline:registryUsername")] + "  acr-pipeline:auth:\n    mode: oidc\n"
    qa = keyless.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n    environment: qa"
    )
    found = problems_for(write_stacks(tmp_path, dev=keyless, qa=qa))
    assert found == [
        "stacks dev and qa both write the RAM OIDC provider for GitHub's tokens of the account of instance "
        "cri-8x2kd7sf1mqa3vno (one stack creates it with auth.oidcProvider: create; the others name it: "
        "auth.oidcProvider: <its name>)"
    ]
    renamed = qa.replace("mode: oidc\n", "mode: oidc\n    providerName: github-actions-qa\n")
    assert len(problems_for(write_stacks(tmp_path, dev=keyless, qa=renamed))) == 1, "another name, one issuer"
    elsewhere = qa.replace("cri-8x2kd7sf1mqa3vno", "cri-0000000000000000")
    assert problems_for(write_stacks(tmp_path, dev=keyless, qa=elsewhere)) == []


def test_environment_scopes_keep_the_same_names_apart(tmp_path: Path) -> None:
    qa = DEV.replace("namespace: acme-dev", "namespace: acme-qa").replace(
        "branch: main", "branch: main\n    environment: qa"
    )
    assert problems_for(write_stacks(tmp_path, dev=DEV, qa=qa)) == []


# --- one registry login per trust level --------------------------------------------------------

PROD_ENV = "branch: main\n    environment: production\n    reviewers:\n      teams: [4521987]"


def prod_like(text: str, protection: str = PROD_ENV) -> str:
    return text.replace("namespace: acme-dev", "namespace: acme-prod").replace("branch: main", protection)


def logins(stacks_dir: Path) -> list[str]:
    loaded, errors = stackfile.load_stacks(stacks_dir)
    assert errors == []
    return check_stacks.shared_logins(loaded)


def test_a_login_any_branch_can_read_shared_with_a_reviewed_stack_is_refused_naming_both_and_the_fixes(
    tmp_path: Path,
) -> None:
    (problem,) = logins(write_stacks(tmp_path, dev=DEV, prod=prod_like(DEV)))
    assert problem == (
        "stacks dev and prod store one registry login, acr-pusher@1234567890123456, for "
        "cri-8x2kd7sf1mqa3vno: dev at repository scope (any workflow of any branch can read it), "
        "prod in environment production, which only reviewed or admitted runs use; anyone who can "
        "push a branch could push to acme-prod with it. Give each trust level its own RAM user "
        "whose policy reaches only its namespace (docs/registry.md#one-login-per-trust-level), or "
        "set auth.mode: oidc on prod (its role reaches only acme-prod)"
    )


def test_an_environment_without_rules_is_no_more_trusted_than_the_repository(tmp_path: Path) -> None:
    staging = prod_like(DEV, "branch: main\n    environment: staging")
    assert logins(write_stacks(tmp_path / "open", dev=DEV, staging=staging)) == []
    (problem,) = logins(write_stacks(tmp_path / "mixed", staging=staging, prod=prod_like(DEV)))
    assert problem.startswith("stacks staging and prod store one registry login")
    assert "staging in environment staging, which has no protection rule (any branch can use it)" in problem


def test_deployment_rules_alone_make_an_environment_protected(tmp_path: Path) -> None:
    main_only = prod_like(DEV, "branch: main\n    environment: production\n    deploymentBranches: [main]")
    assert len(logins(write_stacks(tmp_path, dev=DEV, prod=main_only))) == 1


def test_a_login_of_its_own_or_a_keyless_prod_or_another_registry_shares_nothing(tmp_path: Path) -> None:
    own = prod_like(DEV).replace("acr-pusher@", "acr-prod-pusher@")
    assert logins(write_stacks(tmp_path / "own", dev=DEV, prod=own)) == []
    other_instance = prod_like(DEV).replace("cri-8x2kd7sf1mqa3vno", "cri-0000000000000000")
    assert logins(write_stacks(tmp_path / "instance", dev=DEV, prod=other_instance)) == []


def test_the_stacks_keep_one_login_per_trust_level_and_the_examples_teach_it_keyless() -> None:
    """Whatever stacks/ holds; our examples' one protected stack, prod, pushes keyless."""
    from components.stackfile import STACKS_DIR

    loaded, errors = stackfile.load_stacks(STACKS_DIR)
    assert errors == []
    assert check_stacks.shared_logins(loaded) == []
    if stacks_are_the_examples():
        assert {name: s.auth.mode for name, s in loaded if s.protected} == {"prod": "oidc"}


def test_check_stacks_command_exits_nonzero_naming_the_clash(tmp_path: Path) -> None:
    write_stacks(tmp_path, dev=DEV, copy=DEV)
    result = subprocess.run(
        [sys.executable, "-m", "tools.check_stacks", str(tmp_path)],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "stacks copy and dev both write" in result.stderr
    assert "Traceback" not in result.stderr


# --- make it theirs: a team's own stack, alone in stacks/ ------------------------------------

PRODUCTION = """\
# yaml-language-server: $schema=./stack.schema.json
config:
  alicloud:region: cn-beijing
  github:owner: example-co
  acr-pipeline:registry:
    instanceId: cri-7h2k9m3n4p5q6r7s
    instanceName: example
    namespace: payments
  acr-pipeline:images:
    - name: gateway
    - name: ledger
      context: services/ledger
  acr-pipeline:github:
    repository: payments
  acr-pipeline:registryUsername: pusher@1122334455667788
  acr-pipeline:registryPassword:
    secure: v1:AAECAwQFBgcICQoL:AAECAwQFBgcICQoLDA0ODxAREhM=
"""


def _make_test_checks(stacks_dir: Path) -> subprocess.CompletedProcess[str]:
    """What `make test` runs over stacks/: the generic stack tests and `make check-stacks`."""
    env = {**os.environ, "ACR_PIPELINE_STACKS": str(stacks_dir)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_user_stacks.py"],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    checks = subprocess.run(
        [sys.executable, "-m", "tools.check_stacks"],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return subprocess.CompletedProcess(
        tests.args,
        tests.returncode or checks.returncode,
        tests.stdout + checks.stdout,
        tests.stderr + checks.stderr,
    )


def test_a_teams_own_stack_alone_in_stacks_passes_and_a_broken_one_fails_naming_file_and_key(
    tmp_path: Path,
) -> None:
    from tools.schema import schema_text

    (tmp_path / "stack.schema.json").write_text(schema_text())
    stack = tmp_path / "Pulumi.production.yaml"
    stack.write_text(PRODUCTION)
    good = _make_test_checks(tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "1 stack, no clashes: production" in good.stdout

    stack.write_text(PRODUCTION.replace("namespace: payments", "namespace: Bad!"))
    bad = _make_test_checks(tmp_path)
    assert bad.returncode != 0
    line = 1 + PRODUCTION.splitlines().index("    namespace: payments")
    where = f'{tmp_path}/Pulumi.production.yaml:{line}: acr-pipeline:registry.namespace = "Bad!"'
    assert where in bad.stdout, bad.stdout  # the generic test names file, line and key
    assert where in bad.stderr, bad.stderr  # and so does check-stacks
    assert "Traceback" not in bad.stderr


KEYLESS = DEV[: DEV.index("  acr-pipeline:registryUsername")] + "  acr-pipeline:auth:\n    mode: oidc\n"


def keyless(namespace: str, environment: str, provider: str | None = None) -> str:
    text = KEYLESS.replace("namespace: acme-dev", f"namespace: {namespace}").replace(
        "branch: main", f"branch: main\n    environment: {environment}"
    )
    return text + (f"    oidcProvider: {provider}\n" if provider else "")


def test_deploy_order_puts_the_stack_that_creates_the_oidc_provider_first(tmp_path: Path) -> None:
    """Files sort `a-dev` before `z-keys`; the stack that names the provider must wait anyway."""
    stacks = write_stacks(
        tmp_path,
        **{"a-dev": keyless("acme-dev", "dev", "github-actions"), "z-keys": keyless("acme-z", "keys")},
        m=DEV.replace("namespace: acme-dev", "namespace: acme-m"),
    )
    loaded, errors = stackfile.load_stacks(stacks)
    assert errors == []
    assert check_stacks.deploy_order(loaded) == (["z-keys"], ["a-dev", "m"])
    out = subprocess.run(
        [sys.executable, "-m", "tools.check_stacks", "order", str(stacks)],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == 'stacks=["z-keys","a-dev","m"]\n'


def test_a_named_provider_that_no_stack_creates_is_a_notice_not_an_error(tmp_path: Path) -> None:
    """It may have been made by hand; the stack's own preview fails if it is not there."""
    problems, notices, _ = check_stacks.check(write_stacks(tmp_path, dev=keyless("acme-dev", "dev", "gh")))
    assert problems == []
    assert notices == [
        "stack dev names the OIDC provider 'gh', which no stack here creates: it must exist in the "
        "account before `pulumi up`"
    ]


def test_the_stacks_that_create_a_provider_are_found_those_on_the_same_instance_first(tmp_path: Path) -> None:
    other = keyless("acme-x", "x").replace("cri-8x2kd7sf1mqa3vno", "cri-0000000000000000")
    stacks = write_stacks(
        tmp_path, a=other, b=keyless("acme-b", "b"), c=keyless("acme-c", "c", "github-actions")
    )
    assert stackfile.provider_creators("github-actions", "cri-8x2kd7sf1mqa3vno", stacks) == ["b", "a"]
    assert stackfile.provider_creators("other", "cri-8x2kd7sf1mqa3vno", stacks) == []


def test_a_signing_stack_that_promotes_from_an_unsigned_or_another_repositorys_namespace_is_refused(
    tmp_path: Path,
) -> None:
    staging = DEV.replace("namespace: acme-dev", "namespace: acme-staging").replace(
        "branch: main", "branch: main\n    environment: staging"
    )
    releases = (
        '  acr-pipeline:workflow:\n    tags: ["v*"]\n    sign: true\n'
        "    promote:\n      fromNamespaces: [acme-staging]\n"
    )
    prod = prod_like(DEV).replace("acr-pusher@", "acr-prod-pusher@") + releases
    loaded, errors = stackfile.load_stacks(write_stacks(tmp_path / "unsigned", staging=staging, prod=prod))
    assert errors == []
    (problem,) = check_stacks.unprovable_sources(loaded)
    assert problem.startswith(
        "stack prod signs and promotes from acme-staging, whose stack staging does not sign"
    )
    signed = staging + "  acr-pipeline:workflow:\n    sign: true\n"
    loaded, _ = stackfile.load_stacks(write_stacks(tmp_path / "signed", staging=signed, prod=prod))
    assert check_stacks.unprovable_sources(loaded) == []
    elsewhere = signed.replace("repository: shop", "repository: shop-staging")
    assert elsewhere != signed
    loaded, _ = stackfile.load_stacks(write_stacks(tmp_path / "elsewhere", staging=elsewhere, prod=prod))
    (problem,) = check_stacks.unprovable_sources(loaded)
    assert problem.startswith(
        "stack prod promotes from acme-staging, whose stack staging signs from acme-platform/shop-staging, "
        "not acme-platform/shop: a promotion takes only this repository's signatures"
    )
