"""Keyless pushes (`auth.mode: oidc`): no registry password anywhere, a RAM role that admits
exactly this repository's runs, a policy on exactly this stack's repositories."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import pytest
from ruamel.yaml import YAML

from components.contract import GITHUB_FINGERPRINTS
from components.oidc import role_name
from components.workflow_render import render
from tests.conftest import OIDC, SECRET_KEYS, config, encode, settings_for
from tests.world import Registry, World, WorldMocks
from tools.mock_engine import ACCOUNT, PREFLIGHT_LOOKUPS, Run, run_program
from tools.tokens import ATTACHMENT, FILE, OIDC_PROVIDER, RAM_POLICY, ROLE, SECRET, VARIABLE

EXISTING = f"acs:ram::{ACCOUNT}:oidc-provider/github-actions"


def oidc(**overrides: Any) -> dict[str, Any]:
    merged = {**OIDC, **overrides}
    merged["auth"] = {"mode": "oidc", **overrides.get("auth", {})}
    return merged


def run_oidc(**overrides: Any) -> Run:
    return run_program(encode(config(**oidc(**overrides))), set())


def workflow_of(run: Run) -> dict[str, Any]:
    (file,) = run.of_type(FILE)
    return YAML(typ="safe").load(file.plain("content"))  # type: ignore[no-any-return]


def document(run: Run, type_: str, key: str) -> dict[str, Any]:
    (resource,) = run.of_type(type_)
    return json.loads(resource.plain(key))  # type: ignore[no-any-return]


def trusted(run: Run) -> list[str]:
    """The `sub` claims the role's trust policy, as registered, admits."""
    (statement,) = document(run, ROLE, "assumeRolePolicyDocument")["Statement"]
    assert list(statement["Condition"]["StringLike"]) == ["oidc:sub"]
    return statement["Condition"]["StringLike"]["oidc:sub"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def keyless() -> Run:
    return run_oidc(images=[{"name": "api"}, {"name": "worker"}])


class TestNoPasswordAnywhere:
    def test_no_secret_is_written_and_the_workflow_reads_none(self, keyless: Run) -> None:
        assert keyless.of_type(SECRET) == []
        assert keyless.outputs["secrets"] == []
        assert "secrets." not in keyless.of_type(FILE)[0].plain("content")

    def test_the_workflow_reads_the_role_provider_region_and_instance_from_variables(
        self, keyless: Run
    ) -> None:
        values = {v.plain("variableName"): v.plain("value") for v in keyless.custom() if v.type == VARIABLE}
        assert values["ALIYUN_ROLE_ARN"] == f"acs:ram::{ACCOUNT}:role/acr-push-acme-shop-dev"
        assert values["ALIYUN_OIDC_PROVIDER_ARN"] == f"acs:ram::{ACCOUNT}:oidc-provider/github-actions"
        assert (values["ALIYUN_REGION"], values["ALIYUN_ACR_INSTANCE_ID"]) == (
            "cn-hangzhou",
            "cri-abc123def456",
        )
        assert values["ALIYUN_REGISTRY"] == "acme-registry.cn-hangzhou.cr.aliyuncs.com"

    def test_only_the_jobs_that_log_in_may_ask_for_an_id_token(self, keyless: Run) -> None:
        doc = workflow_of(keyless)
        assert doc["permissions"] == {"contents": "read"}
        for job_id, job in doc["jobs"].items():
            logs_in = any(s.get("uses", "").startswith("aliyun/acr-login@") for s in job["steps"])
            assert job["permissions"].get("id-token") == ("write" if logs_in else None), job_id
        # One build job for every image (a matrix over the table), and the verify run.
        tokens = {j for j, job in doc["jobs"].items() if "id-token" in job["permissions"]}
        assert tokens == {"build", "verify"}

    def test_the_login_trades_the_oidc_token_then_logs_in_with_the_temporary_credentials(
        self, keyless: Run
    ) -> None:
        steps = workflow_of(keyless)["jobs"]["build"]["steps"]
        by_action = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
        creds = by_action["aliyun/configure-aliyun-credentials-action"]
        assert creds["id"] == "aliyun"
        assert creds["with"] == {
            "role-to-assume": "${{ vars.ALIYUN_ROLE_ARN }}",
            "oidc-provider-arn": "${{ vars.ALIYUN_OIDC_PROVIDER_ARN }}",
            "audience": "sts.aliyuncs.com",
            "role-session-expiration": 3600,
        }
        # aliyun/acr-login's inputs (its action.yml): the registry host, region and instance, and
        # the temporary credentials the step before traded the OIDC token for; nothing else.
        assert by_action["aliyun/acr-login"]["with"] == {
            "login-server": "${{ vars.ALIYUN_REGISTRY }}",
            "region-id": "${{ vars.ALIYUN_REGION }}",
            "instance-id": "${{ vars.ALIYUN_ACR_INSTANCE_ID }}",
            "access-key-id": "${{ steps.aliyun.outputs.aliyun-access-key-id }}",
            "access-key-secret": "${{ steps.aliyun.outputs.aliyun-access-key-secret }}",
            "security-token": "${{ steps.aliyun.outputs.aliyun-security-token }}",
        }
        assert "docker/login-action" not in by_action

    def test_the_temporary_credentials_are_blanked_for_every_step_after_the_login(self, keyless: Run) -> None:
        """The credentials action exports them to the job's environment; the build steps and
        the Dockerfile's tools need none of them."""
        steps = workflow_of(keyless)["jobs"]["build"]["steps"]
        names = [s.get("name") for s in steps]
        login = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("aliyun/acr-login"))
        forget = steps[login + 1]
        assert forget["name"] == "Keep the temporary credentials from the steps that follow", names
        blanked = forget["env"]["CREDENTIALS"].split()
        for name in ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY", "ALIBABACLOUD_SECURITY_TOKEN"):
            assert name in blanked
        # (tests/test_scripts.py runs the step and sees each of them blanked)

    def test_the_workflow_waits_for_the_role_its_policy_and_the_provider(self, keyless: Run) -> None:
        (file,) = keyless.of_type(FILE)
        for type_ in (OIDC_PROVIDER, ROLE, ATTACHMENT):
            (resource,) = keyless.of_type(type_)
            assert resource.urn in file.dependencies, type_


class TestTheTrustPolicy:
    def test_it_admits_githubs_issuer_for_sts_through_this_provider_only(self, keyless: Run) -> None:
        (statement,) = document(keyless, ROLE, "assumeRolePolicyDocument")["Statement"]
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"Federated": [f"acs:ram::{ACCOUNT}:oidc-provider/github-actions"]}
        assert statement["Condition"]["StringEquals"] == {
            "oidc:iss": "https://token.actions.githubusercontent.com",
            "oidc:aud": "sts.aliyuncs.com",
        }

    def test_without_an_environment_the_branch_and_each_release_tag_pattern(self) -> None:
        run = run_oidc(workflow={"tags": ["v[0-9]+.[0-9]+.[0-9]+", "v*-rc*", "!v0*"]})
        assert trusted(run) == [
            "repo:acme/shop:ref:refs/heads/main",
            "repo:acme/shop:ref:refs/tags/v*.*.*",
            "repo:acme/shop:ref:refs/tags/v*-rc*",
        ]

    def test_with_an_environment_only_jobs_in_that_environment(self) -> None:
        run = run_oidc(github={"environment": "production"})
        assert trusted(run) == ["repo:acme/shop:environment:production"]

    def test_never_a_wildcard_owner_or_repository(self) -> None:
        for overrides in ({}, {"github": {"environment": "prod"}}, {"workflow": {"tags": ["*"]}}):
            for subject in trusted(run_oidc(**overrides)):
                assert subject.startswith("repo:acme/shop:"), subject


class TestThePushPolicy:
    def test_it_names_exactly_the_stacks_repositories(self, keyless: Run) -> None:
        token, push = document(keyless, RAM_POLICY, "policyDocument")["Statement"]
        assert token == {"Effect": "Allow", "Action": ["cr:GetAuthorizationToken"], "Resource": "*"}
        assert push["Action"] == ["cr:PullRepository", "cr:PushRepository"]
        assert push["Resource"] == [
            "acs:cr:cn-hangzhou:*:repository/cri-abc123def456/acme-dev/api",
            "acs:cr:cn-hangzhou:*:repository/cri-abc123def456/acme-dev/worker",
        ]

    def test_a_release_promoted_from_another_stack_may_only_pull_there(self) -> None:
        run = run_oidc(workflow={"tags": ["v*"], "promote": {"fromNamespaces": ["acme-staging"]}})
        statements = document(run, RAM_POLICY, "policyDocument")["Statement"]
        assert statements[2] == {
            "Effect": "Allow",
            "Action": ["cr:PullRepository"],
            "Resource": ["acs:cr:cn-hangzhou:*:repository/cri-abc123def456/acme-staging/api"],
        }

    @pytest.mark.parametrize(
        "overrides",
        [
            {},
            {"auth": {"oidcProvider": "github-actions"}},
            {"workflow": {"tags": ["v*"], "promote": {"fromNamespaces": ["acme-staging"]}}},
            {"github": {"environment": "prod"}},
        ],
        ids=["creates-provider", "names-provider", "promotes", "environment"],
    )
    def test_ram_accepts_the_trust_policy_and_the_push_policy(self, overrides: dict[str, Any]) -> None:
        """The world's RAM refuses documents outside its grammar (Version "1", Effect "Allow"),
        as RAM does with MalformedPolicyDocument."""
        world = World(instances={"cri-abc123def456": Registry()})
        if "oidcProvider" in overrides.get("auth", {}):
            world.ram["oidc-provider"].add("github-actions")
        assert world.up(encode(config(**oidc(**overrides))), set(), stack="dev").errors == []
        assert world.ram["role"] == {"acr-push-acme-shop-dev"}
        assert world.ram["policy"] == {"acr-push-acme-shop-dev-policy"}

    def test_the_attachment_binds_that_policy_to_that_role(self, keyless: Run) -> None:
        (attachment,) = keyless.of_type(ATTACHMENT)
        assert attachment.plain("roleName") == "acr-push-acme-shop-dev"
        assert attachment.plain("policyName") == "acr-push-acme-shop-dev-policy"
        assert attachment.plain("policyType") == "Custom"


class TestTheProvider:
    def test_a_stack_that_creates_it_uses_githubs_issuer_and_the_sts_audience(self, keyless: Run) -> None:
        (provider,) = keyless.of_type(OIDC_PROVIDER)
        assert provider.plain("issuerUrl") == "https://token.actions.githubusercontent.com"
        assert provider.plain("clientIds") == ["sts.aliyuncs.com"]
        assert provider.plain("fingerprints") == list(GITHUB_FINGERPRINTS)
        assert provider.retain_on_delete, "the other stacks' roles trust it: destroy leaves it"

    def test_the_policy_rotates_its_versions_so_a_sixth_change_still_applies(self, keyless: Run) -> None:
        (policy,) = keyless.of_type(RAM_POLICY)
        assert policy.plain("rotateStrategy") == "DeleteOldestNonDefaultVersionWhenLimitExceeded"

    def test_a_stack_that_names_an_existing_one_creates_none(self) -> None:
        run = run_oidc(auth={"oidcProvider": EXISTING})
        assert run.of_type(OIDC_PROVIDER) == []
        (statement,) = document(run, ROLE, "assumeRolePolicyDocument")["Statement"]
        assert statement["Principal"] == {"Federated": [EXISTING]}
        names = {v.plain("variableName"): v.plain("value") for v in run.custom() if v.plain("variableName")}
        assert names["ALIYUN_OIDC_PROVIDER_ARN"] == EXISTING


class TestRoles:
    def test_role_names_are_stable_and_differ_between_stacks_and_repositories(self) -> None:
        names = {
            role_name(settings_for(None, stack=stack, **oidc(github={"repository": repo})))
            for stack in ("dev", "prod")
            for repo in ("shop", "billing")
        }
        assert len(names) == 4
        long = role_name(settings_for(None, stack="s" * 40, **oidc(github={"repository": "r" * 60})))
        assert len(long) <= 64

    def test_a_role_name_keeps_what_ram_allows_and_fits_64_characters_exactly(self) -> None:
        """RAM role names: 1-64 letters, digits, '.' and '-'. Case and dots are kept; any other
        character becomes '-'; a name of 64 is kept whole, a longer one cut and told apart by a hash."""

        def name(stack: str, repo: str = "Shop_2.0") -> str:
            return role_name(settings_for(None, stack=stack, **oidc(github={"repository": repo})))

        assert name("dev") == "acr-push-acme-Shop-2.0-dev"
        fits = "s" * (64 - len(name("")))
        assert name(fits) == f"acr-push-acme-Shop-2.0-{fits}", "64 characters: kept whole"
        cut = [name(fits + "x"), name(fits + "y")]
        assert [len(n) for n in cut] == [64, 64]
        assert cut[0] != cut[1], "cut names stay apart"
        assert all(re.fullmatch(r"[A-Za-z0-9.-]{1,64}", n) for n in cut)

    def test_the_console_says_whose_each_resource_is(self, keyless: Run) -> None:
        """RAM shows a description beside each name: the repository and the stack it serves."""
        (role,) = keyless.of_type(ROLE)
        assert role.plain("description") == "Pushes acme/shop images (acr-pipeline stack dev)"
        (policy,) = keyless.of_type(RAM_POLICY)
        assert policy.plain("description") == "Push and pull on the repositories of acr-pipeline stack dev"
        (provider,) = keyless.of_type(OIDC_PROVIDER)
        assert "GitHub Actions" in provider.plain("description")

    def test_every_resource_of_the_role_is_a_child_of_its_component(self, keyless: Run) -> None:
        (component,) = keyless.of_type("acr-pipeline:oidc:PushRole")
        for type_ in (OIDC_PROVIDER, ROLE, RAM_POLICY, ATTACHMENT):
            assert [r.parent for r in keyless.of_type(type_)] == [component.urn], type_

    def test_the_role_allows_sessions_as_long_as_the_config_asks(self) -> None:
        (role,) = run_oidc(auth={"sessionSeconds": 7200}).of_type(ROLE)
        assert role.plain("maxSessionDuration") == 7200
        (short,) = run_oidc(auth={"sessionSeconds": 900}).of_type(ROLE)
        assert short.plain("maxSessionDuration") == 3600, "RAM's minimum"


class TestSwitchingALiveStack:
    def test_password_to_oidc_deletes_the_two_secrets_only_after_the_new_workflow_is_committed(self) -> None:
        world = World(instances={"cri-abc123def456": Registry()})
        assert world.up(encode(config()), SECRET_KEYS).errors == []
        assert set(world.secrets) == {"ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"}
        switched = world.up(encode(config(**oidc())), set())
        assert switched.errors == []
        order = [(s.op, s.name) for s in switched.steps]
        file_update = order.index(("update", "workflow-file"))
        deletes = [
            i for i, (op, name) in enumerate(order) if op == "delete" and name.startswith("github-secret-")
        ]
        assert len(deletes) == 2
        assert min(deletes) > file_update
        assert world.secrets == {}
        assert "aliyun/acr-login" in world.files[("main", ".github/workflows/build-push.yml")].content

    def test_a_second_stack_creating_the_accounts_provider_is_refused_by_ram(self) -> None:
        world = World(instances={"cri-abc123def456": Registry()})
        assert world.up(encode(config(**oidc())), set(), stack="dev").errors == []
        prod: dict[str, Any] = {"github": {"environment": "prod"}, "registry": {"namespace": "acme-prod"}}
        other = world.up(encode(config(**oidc(**prod))), set(), stack="prod")
        assert [e for e in other.errors if "EntityAlreadyExists" in e] == [
            f"{OIDC_PROVIDER} (oidc-provider): EntityAlreadyExists.oidc-provider: github-actions"
        ]
        named = world.up(encode(config(**oidc(**prod, auth={"oidcProvider": EXISTING}))), set(), stack="prod")
        assert named.errors == []
        assert world.ram["role"] == {"acr-push-acme-shop-dev", "acr-push-acme-shop-prod"}


def test_renders_are_clean_in_both_pin_modes(tmp_path: Any) -> None:
    from tests.conftest import lint_workflows

    target = tmp_path / ".github" / "workflows"
    target.mkdir(parents=True)
    for mode in ("sha", "tag"):
        for name, extra in (("repo", {}), ("env", {"github": {"environment": "production"}})):
            s = settings_for(None, **oidc(workflow={"pinActions": mode, "tags": ["v*"]}, **extra))
            (target / f"oidc-{mode}-{name}.yml").write_text(render(s))
    assert lint_workflows(target) == []


def test_synth_shows_the_chain_from_provider_to_role_to_the_workflow(tmp_path: Any) -> None:
    from tests.conftest import FIXTURES
    from tools import synth

    text = (FIXTURES / "Pulumi.dev.yaml").read_text()
    text = text.replace(
        "  acr-pipeline:registryUsername: acr-pusher@1234567890123456\n",
        "  acr-pipeline:auth:\n    mode: oidc\n",
    )
    text = text[: text.index("  acr-pipeline:registryPassword:")]
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = synth.synthesize("dev", out_dir=tmp_path / "out", stacks_dir=tmp_path)
    plan = synth.render_plan("dev", result.plan)
    assert "acr-pipeline:oidc:PushRole" in plan
    assert '"oidc:sub": [' not in plan, "policy documents are shown as data, not as JSON text"
    assert re.search(r'oidc:aud\s*: "sts\.aliyuncs\.com"', plan)
    graph = (result.target / "graph.mmd").read_text()
    for edge in (
        "oidc_provider --> oidc_role",
        "oidc_role --> oidc_attachment",
        "oidc_attachment --> workflow_file",
    ):
        assert edge in graph
    assert "secrets." not in (result.target / ".github" / "workflows" / "build-push.yml").read_text()


class TestStacksOfOneAccount:
    """One stack creates the account's OIDC provider; the others name it, with no account id."""

    def world_with_dev(self) -> World:
        world = World(instances={"cri-abc123def456": Registry()})
        assert world.up(encode(config(**oidc())), set(), stack="dev").errors == []
        return world

    PROD: ClassVar[dict[str, Any]] = {
        "github": {"environment": "prod"},
        "registry": {"namespace": "acme-prod"},
    }

    def test_a_provider_named_by_name_is_looked_up_once_and_its_arn_trusted(self) -> None:
        world = self.world_with_dev()
        prod = world.up(
            encode(config(**oidc(**self.PROD, auth={"oidcProvider": "github-actions"}))), set(), "prod"
        )
        assert prod.errors == []
        lookups = [token for token, _ in prod.run.calls if token not in PREFLIGHT_LOOKUPS]
        assert lookups == ["alicloud:ims/getOidcProviders:getOidcProviders"]
        (role,) = prod.run.of_type(ROLE)
        (statement,) = json.loads(role.plain("assumeRolePolicyDocument"))["Statement"]
        assert statement["Principal"] == {"Federated": [EXISTING]}
        values = {
            v.plain("variableName"): v.plain("value") for v in prod.run.custom() if v.plain("variableName")
        }
        assert values["ALIYUN_OIDC_PROVIDER_ARN"] == EXISTING
        assert prod.run.outputs["oidcProviderArn"] == EXISTING
        assert prod.run.outputs["roleArn"].endswith(":role/acr-push-acme-shop-prod")

    def test_a_provider_named_but_missing_fails_before_anything_naming_it_and_the_stack_that_creates_it(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from components import stackfile
        from components.oidc import ProviderNotFound
        from tools.mock_engine import RecordingMonitor

        (tmp_path / "Pulumi.keys.yaml").write_text(
            "config:\n  alicloud:region: cn-hangzhou\n  github:owner: acme\n"
            "  acr-pipeline:registry: {instanceId: cri-abc123def456, instanceName: acme, namespace: acme-k}\n"
            "  acr-pipeline:github: {repository: shop, environment: keys}\n"
            "  acr-pipeline:auth: {mode: oidc}\n"
        )
        # A stack of another instance (another account, perhaps) creating one of that name too:
        # the hint names the creator on this stack's instance, though it sorts first.
        (tmp_path / "Pulumi.a-elsewhere.yaml").write_text(
            (tmp_path / "Pulumi.keys.yaml").read_text().replace("cri-abc123def456", "cri-000000000000")
        )
        monkeypatch.setattr(stackfile, "STACKS_DIR", tmp_path)
        world = World(instances={"cri-abc123def456": Registry()})
        monitor = RecordingMonitor(WorldMocks(world))
        named = config(**oidc(**self.PROD, auth={"oidcProvider": "github-actions"}))
        with pytest.raises(ProviderNotFound) as err:
            run_program(encode(named), set(), stack="prod", monitor=monitor)
        assert str(err.value) == (
            'acr-pipeline:auth.oidcProvider = "github-actions": the account has no OIDC provider named '
            "'github-actions'; stack 'keys' creates it (auth.oidcProvider: create): run "
            "`pulumi up --stack keys` first"
        )
        assert monitor.registered == [], "refused before any resource"
        # No stack here creates it: what to do instead.
        for path in tmp_path.glob("Pulumi.*.yaml"):
            path.unlink()
        with pytest.raises(ProviderNotFound) as err:
            run_program(encode(named), set(), stack="prod", monitor=RecordingMonitor(WorldMocks(world)))
        assert str(err.value).endswith(
            "'github-actions'; create it with one stack of this account (auth.oidcProvider: create, "
            "auth.providerName: github-actions) and deploy that stack first, or check the name in the RAM "
            "console"
        )

    def test_a_name_is_matched_exactly_not_as_the_start_of_another(self) -> None:
        """nameRegex is an unanchored Go regexp: `github` would find `github-actions`."""
        from components.oidc import ProviderNotFound

        world = self.world_with_dev()
        with pytest.raises(ProviderNotFound, match="the account has no OIDC provider named 'github'"):
            world.up(encode(config(**oidc(**self.PROD, auth={"oidcProvider": "github"}))), set(), "prod")

    def test_an_arn_with_another_accounts_id_is_refused_with_the_name_to_use_instead(self) -> None:
        from components.oidc import ProviderNotFound

        world = self.world_with_dev()
        pasted = "acs:ram::1111111111111111:oidc-provider/github-actions"
        with pytest.raises(ProviderNotFound, match=r"another ARN .* `oidcProvider: github-actions`"):
            world.up(encode(config(**oidc(**self.PROD, auth={"oidcProvider": pasted}))), set(), "prod")

    def test_a_stack_that_creates_it_exports_both_arns(self, keyless: Run) -> None:
        assert keyless.outputs["oidcProviderArn"] == f"acs:ram::{ACCOUNT}:oidc-provider/github-actions"
        assert keyless.outputs["roleArn"] == f"acs:ram::{ACCOUNT}:role/acr-push-acme-shop-dev"

    def test_offline_a_named_provider_is_shown_as_looked_up_at_deploy(self) -> None:
        run = run_oidc(auth={"oidcProvider": "github-actions"})
        assert run.outputs["oidcProviderArn"] == (
            "acs:ram::<account id, looked up at deploy>:oidc-provider/github-actions"
        )


class TestLeastPrivilege:
    def test_a_tags_only_stack_trusts_its_release_tags_and_not_the_branch_it_never_builds(self) -> None:
        tags_only = run_oidc(workflow={"branchBuilds": False, "tags": ["v*"]})
        assert trusted(tags_only) == ["repo:acme/shop:ref:refs/tags/v*"]
        both = run_oidc(workflow={"tags": ["v*"]})
        assert trusted(both) == ["repo:acme/shop:ref:refs/heads/main", "repo:acme/shop:ref:refs/tags/v*"]
