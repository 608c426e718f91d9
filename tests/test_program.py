"""The real __main__.py on the mock engine: what each configuration registers, and how."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.config import ConfigError
from components.workflow_render import render
from tests.conftest import (
    BASE,
    KNOWN_PASSWORD,
    OIDC,
    SECRET_KEYS,
    config,
    encode,
    region,
    run_for,
    settings_for,
)
from tools.mock_engine import PREFLIGHT_LOOKUPS, RecordingMonitor, Run, run_program
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
    PERSONAL_NAMESPACE,
    PERSONAL_REPO,
    PULL_REQUEST,
    RETENTION_RULE,
    SCAN_RULE,
    SECRET,
    VARIABLE,
)

REGISTRY_TYPES = {EE_NAMESPACE, EE_REPO, PERSONAL_NAMESPACE, PERSONAL_REPO}


def types(run: Run) -> list[str]:
    return sorted(r.type for r in run.custom())


def by_variable(run: Run) -> dict[str, str]:
    return {
        r.plain("variableName"): r.plain("value") for r in run.resources if r.type in (VARIABLE, ENV_VARIABLE)
    }


class TestWhatEachEditionCreates:
    def test_enterprise_creates_namespace_repo_variables_secrets_and_file(self, default_run: Run) -> None:
        assert types(default_run) == sorted([EE_NAMESPACE, EE_REPO, VARIABLE, VARIABLE, SECRET, SECRET, FILE])

    def test_enterprise_resources_target_the_configured_instance(self, default_run: Run) -> None:
        namespace = default_run.named("registry-namespace")
        repo = default_run.named("registry-repo-api")
        assert namespace.plain("instanceId") == repo.plain("instanceId") == "cri-abc123def456"
        assert namespace.plain("name") == repo.plain("namespace") == "acme-dev"
        assert repo.plain("name") == "api"
        assert repo.plain("repoType") == namespace.plain("defaultVisibility") == "PRIVATE"
        assert namespace.plain("autoCreate") is False

    def test_personal_edition_uses_the_deprecated_resources_and_warns(self) -> None:
        run = run_for(registry={"edition": "personal", "instanceId": None, "instanceName": None})
        assert {r.type for r in run.custom()} & REGISTRY_TYPES == {PERSONAL_NAMESPACE, PERSONAL_REPO}
        assert any("deprecated" in w for w in run.warnings), run.warnings

    def test_external_edition_creates_no_registry_resources(self) -> None:
        run = run_for(registry={"edition": "external", "endpoint": "registry.example.com"})
        assert not [r for r in run.custom() if r.type in REGISTRY_TYPES]
        assert by_variable(run)["ALIYUN_REGISTRY"] == "registry.example.com"
        assert run.of_type(FILE)

    def test_adopted_namespace_is_not_created_but_repositories_use_it(self) -> None:
        run = run_for(registry={"createNamespace": False})
        assert not run.of_type(EE_NAMESPACE)
        assert run.named("registry-repo-api").plain("namespace") == "acme-dev"

    def test_one_repository_and_one_variable_per_image(self) -> None:
        run = run_for(images=[{"name": "api"}, {"name": "web"}, {"name": "worker"}])
        assert sorted(r.plain("name") for r in run.of_type(EE_REPO)) == ["api", "web", "worker"]
        assert set(by_variable(run)) == {
            "ALIYUN_REGISTRY",
            "API_IMAGE_NAME",
            "WEB_IMAGE_NAME",
            "WORKER_IMAGE_NAME",
        }

    def test_visibility_public_applies_to_namespace_and_repositories(self) -> None:
        run = run_for(registry={"visibility": "PUBLIC"})
        assert run.named("registry-namespace").plain("defaultVisibility") == "PUBLIC"
        assert run.named("registry-repo-api").plain("repoType") == "PUBLIC"


class TestGitHubSettings:
    def test_variables_hold_the_endpoint_and_namespace_slash_image(self, default_run: Run) -> None:
        assert by_variable(default_run) == {
            "ALIYUN_REGISTRY": "acme-registry.cn-hangzhou.cr.aliyuncs.com",
            "API_IMAGE_NAME": "acme-dev/api",
        }

    def test_everything_targets_the_configured_repository(self, default_run: Run) -> None:
        github = [r for r in default_run.custom() if r.type.startswith("github:")]
        assert {r.plain("repository") for r in github} == {"shop"}

    def test_secrets_are_the_login_credentials_and_marked_secret(self, default_run: Run) -> None:
        secrets = {r.plain("secretName"): r for r in default_run.of_type(SECRET)}
        assert set(secrets) == {"ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"}
        assert secrets["ALIYUN_REGISTRY_PWD"].is_secret("value")
        assert secrets["ALIYUN_REGISTRY_PWD"].plain("value") == KNOWN_PASSWORD
        assert secrets["ALIYUN_REGISTRY_USER"].plain("value") == "pusher@1234567890"

    def test_secrets_use_value_not_the_deprecated_plaintext_value(self, default_run: Run) -> None:
        for r in default_run.of_type(SECRET):
            assert "plaintextValue" not in r.inputs, r.name

    def test_environment_scope_creates_environment_and_scoped_values_only(self) -> None:
        run = run_for(github={"environment": "production"})
        assert [r.plain("environment") for r in run.of_type(ENVIRONMENT)] == ["production"]
        assert not run.of_type(VARIABLE)
        assert not run.of_type(SECRET)
        scoped = run.of_type(ENV_VARIABLE) + run.of_type(ENV_SECRET)
        assert len(scoped) == 4
        environment_urn = run.of_type(ENVIRONMENT)[0].urn
        for r in scoped:
            assert r.plain("environment") == "production", r.name
            assert environment_urn in r.dependencies, r.name


class TestOrderAndReplacement:
    def test_workflow_file_waits_for_every_variable_secret_and_repository(self) -> None:
        run = run_for(images=[{"name": "api"}, {"name": "web"}])
        (file,) = run.of_type(FILE)
        needed = [r for r in run.custom() if r.type in (VARIABLE, SECRET, EE_REPO)]
        assert len(needed) == 7
        missing = [r.name for r in needed if r.urn not in file.dependencies]
        assert not missing, f"workflow file does not wait for {missing}"

    def test_workflow_file_waits_for_every_variable_and_secret_of_the_environment(self) -> None:
        run = run_for(images=[{"name": "api"}, {"name": "web"}], github={"environment": "production"})
        (file,) = run.of_type(FILE)
        needed = [r for r in run.custom() if r.type in (ENV_VARIABLE, ENV_SECRET)]
        assert len(needed) == 5
        missing = [r.name for r in needed if r.urn not in file.dependencies]
        assert not missing, f"workflow file does not wait for {missing}"

    def test_github_settings_do_not_wait_for_the_registry(self, default_run: Run) -> None:
        registry_urns = {r.urn for r in default_run.custom() if r.type in REGISTRY_TYPES}
        for r in default_run.custom():
            if r.type in (VARIABLE, SECRET):
                assert not registry_urns & set(r.dependencies), r.name

    def test_repositories_wait_for_the_namespace(self, default_run: Run) -> None:
        namespace = default_run.named("registry-namespace")
        assert namespace.urn in default_run.named("registry-repo-api").dependencies

    def test_variables_secrets_and_file_delete_before_replace(self) -> None:
        run = run_for(github={"environment": "staging"}, images=[{"name": "api"}, {"name": "web"}])
        replaced = [r for r in run.custom() if r.type in (VARIABLE, SECRET, ENV_VARIABLE, ENV_SECRET, FILE)]
        assert len(replaced) == 6  # 3 variables, 2 secrets, the file
        assert all(r.delete_before_replace for r in replaced), [
            r.name for r in replaced if not r.delete_before_replace
        ]

    def test_registry_resources_are_retained_on_delete_by_default(self, default_run: Run) -> None:
        registry = [r for r in default_run.custom() if r.type in REGISTRY_TYPES]
        assert registry
        assert all(r.retain_on_delete for r in registry)

    def test_retain_on_delete_false_lets_destroy_remove_them(self) -> None:
        run = run_for(registry={"retainOnDelete": False})
        assert not any(r.retain_on_delete for r in run.custom() if r.type in REGISTRY_TYPES)

    def test_logical_names_come_from_names_not_list_positions(self) -> None:
        one = run_for(images=[{"name": "api"}, {"name": "web"}])
        other = run_for(images=[{"name": "web"}, {"name": "api"}])
        assert {r.urn for r in one.resources} == {r.urn for r in other.resources}
        assert "github-var-WEB_IMAGE_NAME" in {r.name for r in one.resources}


class TestWorkflowFile:
    @pytest.mark.parametrize(
        "overrides",
        [
            {
                "github": {
                    "environment": "production",
                    "deploymentBranches": ["main"],
                    "deploymentTags": ["v*"],
                    "reviewers": {"users": ["alice"]},
                },
                "registry": {
                    "publicAccess": [{"cidr": "203.0.113.0/24"}],
                    "retention": {"keepLastTags": 5},
                    "scan": {"trigger": "onPush"},
                },
                "workflow": {"notify": {"kind": "slack"}, "viaPullRequest": True},
            },
            OIDC,
        ],
        ids=["everything", "oidc"],
    )
    def test_every_resource_is_a_child_of_the_component_its_name_starts_with(
        self, overrides: dict[str, Any]
    ) -> None:
        """A resource's URN holds its parent: one moved to another parent is a new resource to
        Pulumi (a replacement, or an orphan where it is retained on delete)."""
        cfg = encode(config(**overrides))
        run = run_program(cfg, SECRET_KEYS & set(cfg))
        components = {r.urn: r.name for r in run.resources if not r.custom}
        for r in run.custom():
            assert r.name.startswith(f"{components.get(r.parent)}-"), f"{r.name} is under {r.parent}"

    def test_the_components_keep_their_type_tokens(self) -> None:
        """A component's type is part of every child's URN: renaming one replaces everything."""
        cfg = encode(config(**OIDC))
        run = run_program(cfg, set())
        assert sorted(r.type for r in run.resources if not r.custom and r.type != "pulumi:pulumi:Stack") == [
            "acr-pipeline:github:GitHubActionsSettings",
            "acr-pipeline:oidc:PushRole",
            "acr-pipeline:registry:AcrRegistry",
            "acr-pipeline:workflow:WorkflowFile",
        ]

    def test_file_is_committed_to_the_configured_branch_and_path(self) -> None:
        run = run_for(github={"branch": "develop"}, workflow={"path": ".github/workflows/images.yaml"})
        (file,) = run.of_type(FILE)
        assert file.plain("branch") == "develop"
        assert file.plain("file") == ".github/workflows/images.yaml"
        # A hand-written workflow at that path is refused, not overwritten: `adopt` imports it.
        assert file.plain("overwriteOnCreate") is False

    def test_content_is_plain_rendered_text_not_an_output(self, default_run: Run) -> None:
        (file,) = default_run.of_type(FILE)
        content = file.plain("content")
        assert isinstance(content, str)
        assert not file.is_secret("content")
        assert "Calling __str__" not in content
        assert "Output[" not in content
        # The very text the renderer gives for the stack's settings.
        assert content == render(settings_for())

    def test_outputs_name_endpoint_images_path_and_setting_names(self, default_run: Run) -> None:
        assert default_run.outputs == {
            "registryEndpoint": "acme-registry.cn-hangzhou.cr.aliyuncs.com",
            "images": {"api": "acme-registry.cn-hangzhou.cr.aliyuncs.com/acme-dev/api"},
            "workflowPath": ".github/workflows/build-push.yml",
            "variables": ["ALIYUN_REGISTRY", "API_IMAGE_NAME"],
            "secrets": ["ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"],
            "registrySettings": {
                "edition": "enterprise",
                "namespace": "acme-dev",
                "publicAccess": None,
                "retention": None,
                "scan": None,
                "immutableTags": [],
            },
        }


WEBHOOK = "https://hooks.slack.com/services/T000/B000/leak-me-please"
# Every kind of stack: where secrets live (repository, environment, none with OIDC), what else
# carries one (the notification webhook), and the paths that write more (promotion, adoption).
LEAK_KINDS: dict[str, dict[str, Any]] = {
    "repository-password": {},
    "environment-password": {"github": {"environment": "production", "reviewers": {"teams": ["ops"]}}},
    "oidc-environment": {**OIDC, "github": {"environment": "production"}},
    "notify-webhook": {"workflow": {"notify": {"kind": "slack"}}, "notifyWebhookUrl": WEBHOOK},
    "promote-multi-arch": {
        "images": [{"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}],
        "workflow": {"tags": ["v*"], "promote": {"fromNamespaces": ["acme-staging"]}, "pullRequests": True},
    },
    "adopt-into-oidc": {
        **OIDC,
        "adopt": True,
        "workflow": {"notify": {"kind": "feishu"}},
        "notifyWebhookUrl": WEBHOOK,
    },
}


class TestSecretsNeverLeak:
    @pytest.mark.parametrize("kind", list(LEAK_KINDS))
    def test_a_secret_appears_only_in_the_secret_input_that_holds_it_marked_secret(self, kind: str) -> None:
        """Not in an output, a warning, another input, the committed workflow, nor the plan
        `make synth` prints; adoption in a world whose hand-made secrets hold old values."""
        from tests.world import Registry, World, handmade
        from tools import synth

        overrides = LEAK_KINDS[kind]
        keys = {*SECRET_KEYS, *(["acr-pipeline:notifyWebhookUrl"] if "notifyWebhookUrl" in overrides else [])}
        world = handmade(World(instances={"cri-abc123def456": Registry()}))
        run = world.up(encode(config(**overrides)), keys).run
        secrets = [KNOWN_PASSWORD, WEBHOOK, "old-password"]
        shown = [json.dumps(run.outputs), *run.warnings, synth.render_plan("dev", synth.plan(run))]
        holders = 0
        for r in run.resources:
            for key, value in r.inputs.items():
                text = json.dumps(value, default=lambda v: repr(v) if not hasattr(v, "value") else v.value)
                if r.type in (SECRET, ENV_SECRET) and key == "value":
                    holders += 1
                    assert r.is_secret(key), f"{kind}: {r.name}.{key} is not marked secret"
                    continue
                for secret in secrets:
                    assert secret not in text, f"{kind}: {secret!r} in {r.name}.{key}"
        for text in shown:
            for secret in secrets:
                assert secret not in text, f"{kind}: {secret!r} shown"
        expected = 2 * ("auth" not in overrides) + ("notifyWebhookUrl" in overrides)
        assert holders == expected, f"{kind}: {holders} secrets written, {expected} expected"

    def test_bad_config_registers_nothing_and_does_not_echo_the_password(self) -> None:
        monitor = RecordingMonitor()
        cfg = encode(config(registry={"namespace": "BAD"}))
        with pytest.raises(ConfigError) as err:
            run_program(cfg, set(), monitor=monitor)
        assert monitor.registered == []
        assert KNOWN_PASSWORD not in str(err.value)
        assert "registryPassword" in str(err.value)


def test_a_region_new_to_us_is_reported_as_a_warning_and_the_stack_still_deploys() -> None:
    run = run_for(**region("xx-newland-1"))
    assert any("xx-newland-1" in w for w in run.warnings)
    assert run.outputs["registryEndpoint"] == "acme-registry.xx-newland-1.cr.aliyuncs.com"


def test_base_config_is_valid_as_written() -> None:
    # Guards the fixtures: every refusal test starts from a config that passes.
    run = run_program(encode(dict(BASE)), SECRET_KEYS)
    assert run.of_type(FILE)


# Never registered: it reconciles the whole ACL and would delete entries made elsewhere.
INTERNET_ENDPOINT = "alicloud:cr/internetEndpoint:InternetEndpoint"
RULE_TYPES = {INTERNET_ENDPOINT, ACL_ENTRY, RETENTION_RULE, SCAN_RULE}


class TestRegistrySettings:
    def test_nothing_is_managed_on_the_instance_unless_asked(self, default_run: Run) -> None:
        assert not [r for r in default_run.custom() if r.type in RULE_TYPES]

    def test_public_access_adds_one_acl_entry_per_cidr_to_the_internet_endpoint(self) -> None:
        entries = [{"cidr": "203.0.113.0/24", "comment": "office"}, {"cidr": "0.0.0.0/0"}]
        run = run_for(registry={"publicAccess": entries})
        policies = run.of_type(ACL_ENTRY)
        assert sorted((p.plain("entry"), p.plain("description")) for p in policies) == [
            ("0.0.0.0/0", "acr-pipeline"),
            ("203.0.113.0/24", "office"),
        ]
        for policy in policies:
            assert policy.plain("instanceId") == "cri-abc123def456"
            assert (policy.plain("endpointType"), policy.plain("moduleName")) == ("internet", "Registry")
        # Never the whole ACL: that resource would delete entries the stack did not make.
        assert run.of_type(INTERNET_ENDPOINT) == []

    def test_retention_covers_an_owned_namespace(self) -> None:
        run = run_for(registry={"retention": {"keepLastTags": 50, "keepTagPattern": "^v[0-9].*"}})
        (rule,) = run.of_type(RETENTION_RULE)
        assert rule.plain("scope") == "NAMESPACE"
        assert rule.plain("namespaceName") == "acme-dev"
        assert rule.plain("retentionTagCount") == 50
        assert rule.plain("tagRegexp") == "^v[0-9].*"
        assert rule.plain("auto") is True

    def test_retention_in_an_adopted_namespace_touches_only_the_stacks_repositories(self) -> None:
        run = run_for(
            registry={"createNamespace": False, "retention": {"keepLastTags": 10}},
            images=[{"name": "api"}, {"name": "web"}],
        )
        rules = run.of_type(RETENTION_RULE)
        assert sorted((r.plain("scope"), r.plain("repoName")) for r in rules) == [
            ("REPO", "api"),
            ("REPO", "web"),
        ]

    def test_scan_rule_is_scoped_to_the_stacks_repositories(self) -> None:
        run = run_for(registry={"scan": {"trigger": "onPush"}}, images=[{"name": "api"}, {"name": "web"}])
        (rule,) = run.of_type(SCAN_RULE)
        assert rule.plain("scanScope") == "REPO"
        assert rule.plain("namespaces") == ["acme-dev"]
        assert rule.plain("repoNames") == ["api", "web"]
        assert rule.plain("triggerType") == "AUTO"
        assert rule.plain("scanType") == "VUL"

    def test_workflow_file_waits_for_the_acl_entries_the_runner_logs_in_through(self) -> None:
        run = run_for(registry={"publicAccess": [{"cidr": "0.0.0.0/0"}]})
        (entry,) = run.of_type(ACL_ENTRY)
        (file,) = run.of_type(FILE)
        assert entry.urn in file.dependencies

    def test_a_replaced_scan_rule_goes_first_so_its_name_is_free(self) -> None:
        (rule,) = run_for(registry={"scan": {}}).of_type(SCAN_RULE)
        assert rule.delete_before_replace

    def test_scan_rule_names_differ_between_stacks_sharing_a_namespace(self) -> None:
        dev = run_for(stack="dev", registry={"scan": {}})
        qa = run_for(stack="qa", registry={"scan": {}})
        names = {r.of_type(SCAN_RULE)[0].plain("ruleName") for r in (dev, qa)}
        assert len(names) == 2

    def test_rules_wait_for_the_repositories_they_cover(self) -> None:
        run = run_for(registry={"scan": {}, "retention": {"keepLastTags": 5}})
        repo = run.named("registry-repo-api")
        for rule in run.of_type(SCAN_RULE) + run.of_type(RETENTION_RULE):
            assert repo.urn in rule.dependencies, rule.name

    def test_outputs_summarize_the_registry_settings(self) -> None:
        run = run_for(
            registry={"publicAccess": [{"cidr": "0.0.0.0/0"}], "scan": {}, "retention": {"keepLastTags": 9}},
            images=[{"name": "api", "immutableTags": True}],
        )
        assert run.outputs["registrySettings"] == {
            "edition": "enterprise",
            "namespace": "acme-dev",
            "publicAccess": ["0.0.0.0/0"],
            "retention": {"keepLastTags": 9, "keepTagPattern": None},
            "scan": {"trigger": "AUTO", "type": "VUL"},
            "immutableTags": ["api"],
        }

    def test_immutable_tags_set_tag_immutability_on_the_repository(self) -> None:
        run = run_for(images=[{"name": "api", "immutableTags": True}, {"name": "web"}])
        assert run.named("registry-repo-api").plain("tagImmutability") is True
        assert run.named("registry-repo-web").plain("tagImmutability") is False


class TestEnvironmentProtection:
    def test_reviewers_by_id_need_no_lookup_and_names_are_looked_up(self) -> None:
        from tools.mock_engine import fake_id

        run = run_for(
            github={"environment": "production", "reviewers": {"users": [42, "alice"], "teams": ["ops"]}}
        )
        (env,) = run.of_type(ENVIRONMENT)
        assert env.plain("reviewers") == [{"users": [42, fake_id("alice")], "teams": [fake_id("ops")]}]
        assert sorted((token, args) for token, args in run.calls if token not in PREFLIGHT_LOOKUPS) == [
            ("github:index/getTeam:getTeam", {"slug": "ops"}),
            ("github:index/getUser:getUser", {"username": "alice"}),
        ], "a user by login, a team by slug"

    def test_without_reviewers_the_program_looks_up_nothing_but_the_preflight(self, default_run: Run) -> None:
        assert sorted(token for token, _ in default_run.calls) == sorted(PREFLIGHT_LOOKUPS)

    def test_wait_timer_and_deployment_refs_restrict_the_environment(self) -> None:
        run = run_for(
            github={
                "environment": "production",
                "waitTimer": 10,
                "deploymentBranches": ["main"],
                "deploymentTags": ["v*"],
            }
        )
        (env,) = run.of_type(ENVIRONMENT)
        assert env.plain("waitTimer") == 10
        assert env.plain("deploymentBranchPolicy") == {
            "protectedBranches": False,
            "customBranchPolicies": True,
        }
        policies = {(r.plain("branchPattern"), r.plain("tagPattern")) for r in run.of_type(DEPLOYMENT_POLICY)}
        assert policies == {("main", None), (None, "v*")}

    @pytest.mark.parametrize(
        ("refs", "workflow"),
        [
            ({"deploymentBranches": ["main"]}, {}),
            ({"deploymentTags": ["v*"]}, {"tags": ["v*"], "branchBuilds": False}),
        ],
        ids=["branches", "tags"],
    )
    def test_branch_or_tag_rules_alone_restrict_the_environment_to_them(
        self, refs: dict[str, Any], workflow: dict[str, Any]
    ) -> None:
        """Without custom policies GitHub admits every branch and tag, whatever rules exist."""
        run = run_for(github={"environment": "production", **refs}, workflow=workflow)
        (env,) = run.of_type(ENVIRONMENT)
        assert env.plain("deploymentBranchPolicy") == {
            "protectedBranches": False,
            "customBranchPolicies": True,
        }
        (open_,) = run_for(github={"environment": "production"}).of_type(ENVIRONMENT)
        assert open_.plain("deploymentBranchPolicy") is None

    def test_the_environment_outlives_destroy_and_its_reviewers_cannot_be_skipped(self) -> None:
        run = run_for(github={"environment": "production", "reviewers": {"teams": [42]}})
        (env,) = run.of_type(ENVIRONMENT)
        assert env.retain_on_delete, "deleting it would delete the team's own secrets in it"
        assert (env.plain("canAdminsBypass"), env.plain("preventSelfReview")) == (False, True)
        (plain,) = run_for(github={"environment": "staging"}).of_type(ENVIRONMENT)
        assert (plain.plain("canAdminsBypass"), plain.plain("preventSelfReview")) == (True, False)

    def test_workflow_file_waits_for_the_deployment_rules(self) -> None:
        run = run_for(github={"environment": "production", "deploymentBranches": ["main"]})
        (file,) = run.of_type(FILE)
        (policy,) = run.of_type(DEPLOYMENT_POLICY)
        assert policy.urn in file.dependencies


class TestNotificationSecret:
    def test_webhook_url_from_config_becomes_a_secret_the_file_waits_for(self) -> None:
        url = "https://oapi.dingtalk.com/robot/send?access_token=hook-1234"
        run = run_for(
            secret_keys={*SECRET_KEYS, "acr-pipeline:notifyWebhookUrl"},
            workflow={"notify": {"kind": "dingtalk"}},
            github={"environment": "production"},
            notifyWebhookUrl=url,
        )
        secret = run.named("github-secret-BUILD_NOTIFY_WEBHOOK")
        assert secret.type == SECRET  # repository scope: the notify job has no environment
        assert secret.is_secret("value")
        assert secret.plain("value") == url
        (file,) = run.of_type(FILE)
        assert secret.urn in file.dependencies
        assert url not in file.plain("content")
        assert url not in json.dumps(run.outputs)


class TestPullRequestMode:
    def test_protected_branch_gets_a_branch_a_file_on_it_and_a_pull_request(self) -> None:
        run = run_for(workflow={"viaPullRequest": True}, github={"branch": "main"})
        (branch,) = run.of_type(BRANCH)
        (file,) = run.of_type(FILE)
        (pr,) = run.of_type(PULL_REQUEST)
        assert branch.plain("sourceBranch") == "main"
        assert re.fullmatch(r"acr-pipeline/dev-[0-9a-f]{10}", branch.plain("branch"))
        assert file.plain("branch") == branch.plain("branch")
        assert (pr.plain("baseRef"), pr.plain("headRef")) == ("main", branch.plain("branch"))
        assert file.urn in pr.dependencies
        assert branch.urn in file.dependencies

    def test_a_changed_file_gets_a_new_branch_and_pull_request(self) -> None:
        one = run_for(workflow={"viaPullRequest": True})
        other = run_for(workflow={"viaPullRequest": True, "cache": False})
        assert one.of_type(BRANCH)[0].plain("branch") != other.of_type(BRANCH)[0].plain("branch")
        same = run_for(workflow={"viaPullRequest": True})
        assert one.of_type(BRANCH)[0].plain("branch") == same.of_type(BRANCH)[0].plain("branch")

    def test_a_new_branch_name_replaces_the_branch_and_old_ones_are_forgotten_not_deleted(self) -> None:
        run = run_for(workflow={"viaPullRequest": True})
        (branch,) = run.of_type(BRANCH)
        assert branch.replace_on_changes == ("branch",), "a rename would hit a branch deleted at the merge"
        for r in (
            branch,
            *run.of_type(FILE),
            *run.of_type(PULL_REQUEST),
        ):
            assert r.retain_on_delete, r.name
        (file,) = run.of_type(FILE)
        assert file.plain("overwriteOnCreate") is True, "the new branch holds the base branch's copy"

    def test_direct_mode_opens_no_pull_request(self, default_run: Run) -> None:
        assert not default_run.of_type(PULL_REQUEST)
        assert not default_run.of_type(BRANCH)
