"""The real program against a world that answers like GitHub and ACR (tests/world.py): a fresh
repository, a pipeline made by hand and taken over with `adopt`, half of one, an environment
with protections of its own, pull-request mode across a merge, the registry's shared ACL, a
workflow file edited by hand."""

from __future__ import annotations

import fnmatch
import json
from typing import Any, ClassVar

import pytest

from components.adoption import Existing, ImportIds
from components.rules import github_glob
from tests.conftest import OIDC, SECRET_KEYS, config, encode, settings_for
from tests.world import (
    HANDMADE_WORKFLOW,
    KINDS,
    Deployment,
    Environment,
    Registry,
    World,
    WorldError,
    handmade,
)
from tools.mock_engine import PREFLIGHT_LOOKUPS
from tools.tokens import (
    BRANCH,
    EE_NAMESPACE,
    EE_REPO,
    ENVIRONMENT,
    FILE,
    PERSONAL_NAMESPACE,
    PERSONAL_REPO,
    ROLE,
    RULESET,
    SECRET,
    VARIABLE,
)

WORKFLOW = ".github/workflows/build-push.yml"


def fresh() -> World:
    return World(instances={"cri-abc123def456": Registry()})


def up(world: World, **overrides: Any) -> Deployment:
    return world.up(encode(config(**overrides)), SECRET_KEYS)


def ops(deployment: Deployment, type_: str) -> list[str]:
    return [s.op for s in deployment.steps if s.type == type_]


class TestAFreshRepository:
    def test_everything_is_created_and_the_workflow_is_committed_last(self) -> None:
        world = fresh()
        first = up(world, images=[{"name": "api"}, {"name": "web"}])
        assert first.errors == []
        assert {s.op for s in first.steps} == {"create"}
        assert world.instances["cri-abc123def456"].namespaces == {"acme-dev": {"api", "web"}}
        assert set(world.variables) == {"ALIYUN_REGISTRY", "API_IMAGE_NAME", "WEB_IMAGE_NAME"}
        assert set(world.secrets) == {"ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"}
        assert world.log[-1] == f"PUT file {WORKFLOW} on main", "the commit that triggers the first run"
        assert world.overwritten == []

    def test_a_normal_run_makes_only_the_preflights_two_lookups(self) -> None:
        tokens = [
            token.rsplit(":", 1)[-1]
            for token, _ in up(fresh(), images=[{"name": "api"}, {"name": "web"}]).run.calls
        ]
        assert tokens == ["getRegistryEnterpriseInstances", "getTree"]
        assert up(fresh(), preflight=False).run.calls == []

    def test_a_second_up_changes_nothing(self) -> None:
        world = fresh()
        up(world)
        log = list(world.log)
        second = up(world)
        assert second.changes == []
        assert second.errors == []
        assert world.log == log


class TestAHandMadePipelineWithoutAdopt:
    """What the team behind the original request saw on its first `pulumi up`."""

    def test_every_existing_object_refuses_to_be_created_and_no_workflow_is_committed(self) -> None:
        world = handmade(fresh())
        deployment = up(world)
        errors = "\n".join(deployment.errors)
        assert "409 Already exists - Variable already exists" in errors
        assert "alicloud_cr_ee_namespace CreateNamespace Failed!!!" in errors
        assert ops(deployment, VARIABLE) == ["failed", "failed"]
        # The workflow waits for what failed: the hand-made one stays, untouched.
        assert ops(deployment, FILE) == ["skipped"]
        assert world.files[("main", WORKFLOW)].content == HANDMADE_WORKFLOW

    def test_a_workflow_file_that_exists_is_refused_not_overwritten(self) -> None:
        world = fresh()
        world.edit_file(WORKFLOW, HANDMADE_WORKFLOW)
        deployment = up(world)
        assert any("refusing to overwrite existing file" in e for e in deployment.errors)
        assert world.files[("main", WORKFLOW)].content == HANDMADE_WORKFLOW


class TestAdoptingTheHandMadePipeline:
    @pytest.fixture
    def adopted(self) -> tuple[World, Deployment]:
        world = handmade(fresh())
        return world, up(world, adopt=True)

    def test_each_existing_object_is_imported_by_its_provider_id_and_nothing_existing_is_created(
        self, adopted: tuple[World, Deployment]
    ) -> None:
        world, deployment = adopted
        assert deployment.errors == []
        imports = sorted(line for line in world.log if line.startswith("IMPORT"))
        assert imports == sorted(
            [
                "IMPORT RegistryEnterpriseNamespace cri-abc123def456:acme-dev",
                "IMPORT ActionsVariable shop:ALIYUN_REGISTRY",
                "IMPORT ActionsVariable shop:API_IMAGE_NAME",
                "IMPORT RegistryEnterpriseRepo cri-abc123def456:acme-dev:api",
                f"IMPORT RepositoryFile shop:{WORKFLOW}:main",
            ]
        )
        assert not [
            line
            for line in world.log
            if line.startswith(("POST variable", "CreateNamespace", "CreateRepository"))
        ]

    def test_the_workflow_keeps_its_name_so_workflow_run_chains_still_fire(
        self, adopted: tuple[World, Deployment]
    ) -> None:
        world, _ = adopted
        content = world.files[("main", WORKFLOW)].content
        assert content.startswith("# Managed by acr-pipeline")
        assert "\nname: Build and Push\n" in content

    def test_secrets_are_overwritten_in_place_never_deleted(self, adopted: tuple[World, Deployment]) -> None:
        world, deployment = adopted
        assert ops(deployment, SECRET) == ["create", "create"]  # a PUT: there is no moment without them
        assert sorted(world.overwritten) == ["secret ALIYUN_REGISTRY_PWD", "secret ALIYUN_REGISTRY_USER"]
        assert not [line for line in world.log if line.startswith("DELETE")]

    def test_one_lookup_per_kind_with_names_matched_exactly(self) -> None:
        world = handmade(fresh())
        world.instances["cri-abc123def456"].namespaces["acme-dev-old"] = {"api"}  # unanchored decoys
        world.instances["cri-abc123def456"].namespaces["acme-dev"].add("api2")
        deployment = up(world, adopt=True)
        tokens = [
            token.rsplit(":", 1)[-1] for token, _ in deployment.run.calls if token not in PREFLIGHT_LOOKUPS
        ]
        assert sorted(tokens) == sorted(
            [
                "getActionsVariables",
                "getRepositoryFile",
                "getRegistryEnterpriseNamespaces",
                "getRegistryEnterpriseRepos",
            ]
        )
        assert deployment.errors == []
        assert world.instances["cri-abc123def456"].namespaces["acme-dev-old"] == {"api"}

    @pytest.mark.parametrize("edition", ["enterprise", "personal"])
    def test_each_lookup_asks_for_the_stacks_names_only_anchored(self, edition: str) -> None:
        """The providers' nameRegex is unanchored (Go's regexp.MatchString): `acme-dev` alone
        would match `acme-dev-old` too; repositories are listed in the stack's namespace only."""
        world = handmade(fresh() if edition == "enterprise" else World(), edition=edition)
        registry = (
            {"edition": "personal", "instanceId": None, "instanceName": None} if edition == "personal" else {}
        )
        deployment = up(world, adopt=True, registry=registry, images=[{"name": "api"}, {"name": "web"}])
        calls = {token.rsplit(":", 1)[-1]: args for token, args in deployment.run.calls}
        instance = {"instanceId": "cri-abc123def456"} if edition == "enterprise" else {}
        namespaces, repos = (
            ("getRegistryEnterpriseNamespaces", "getRegistryEnterpriseRepos")
            if edition == "enterprise"
            else ("getNamespaces", "getRepos")
        )
        assert calls[namespaces] == {"nameRegex": "^(acme\\-dev)$", **instance}
        assert calls[repos] == {"nameRegex": "^(api|web)$", "namespace": "acme-dev", **instance}
        assert calls["getActionsVariables"] == {"name": "shop"}

    def test_a_workflow_file_is_looked_for_on_the_stacks_branch_not_the_default_one(self) -> None:
        world = handmade(fresh())
        world.branches.add("release")
        world.edit_file(
            WORKFLOW, HANDMADE_WORKFLOW.replace("Build and Push", "Release build"), branch="release"
        )
        deployment = up(world, adopt=True, github={"branch": "release"})
        assert deployment.errors == []
        assert f"IMPORT RepositoryFile shop:{WORKFLOW}:release" in world.log
        assert "\nname: Release build\n" in world.files[("release", WORKFLOW)].content, "its name kept"

    def test_a_second_up_after_adoption_changes_nothing(self, adopted: tuple[World, Deployment]) -> None:
        world, _ = adopted
        log = list(world.log)
        second = up(world, adopt=True)
        assert second.errors == []
        assert second.changes == []
        assert world.log == log

    def test_preview_shows_each_import_and_what_changes_and_changes_nothing(self) -> None:
        world = handmade(fresh())
        world.variables["API_IMAGE_NAME"] = "old-namespace/api"
        before = copy_of(world)
        preview = world.preview(encode(config(adopt=True)), SECRET_KEYS)
        imported = {s.name: s.detail for s in preview.steps if s.op == "import"}
        assert imported["github-var-API_IMAGE_NAME"] == "value"
        assert imported["github-var-ALIYUN_REGISTRY"] == ""
        assert imported["workflow-file"] == "content"
        assert copy_of(world) == before

    def test_a_configured_workflow_name_wins_over_the_adopted_one(self) -> None:
        world = handmade(fresh())
        up(world, adopt=True, workflow={"name": "images"})
        assert "\nname: images\n" in world.files[("main", WORKFLOW)].content

    def test_keeping_the_adopted_name_warns_to_pin_it_in_config(
        self, adopted: tuple[World, Deployment]
    ) -> None:
        _, deployment = adopted
        (warning,) = [w for w in deployment.run.warnings if "keeps its name" in w]
        assert "acr-pipeline:workflow.name to 'Build and Push'" in warning
        world = handmade(fresh())
        pinned = up(world, adopt=True, workflow={"name": "Build and Push"})
        assert not [w for w in pinned.run.warnings if "keeps its name" in w]

    def test_a_change_after_adoption_updates_what_was_adopted_in_place(
        self, adopted: tuple[World, Deployment]
    ) -> None:
        """The file's new sha is known after the import's update: the next commit is no 409."""
        world, _ = adopted
        changed = up(world, adopt=True, workflow={"cache": False}, images=[{"name": "api", "context": "svc"}])
        assert changed.errors == []
        assert ops(changed, FILE) == ["update"]
        assert "cache-from" not in world.files[("main", WORKFLOW)].content
        assert (
            up(
                world, adopt=True, workflow={"cache": False}, images=[{"name": "api", "context": "svc"}]
            ).changes
            == []
        )

    def test_adopted_registry_objects_outlive_destroy_and_their_images_are_never_touched(
        self, adopted: tuple[World, Deployment]
    ) -> None:
        world, _ = adopted
        steps = world.destroy()
        forgotten = {s.type for s in steps if s.op == "forget"}
        assert {EE_NAMESPACE, EE_REPO, ENVIRONMENT} & forgotten == {EE_NAMESPACE, EE_REPO}
        assert world.instances["cri-abc123def456"].namespaces == {"acme-dev": {"api"}}


def copy_of(world: World) -> Any:
    return (dict(world.variables), dict(world.secrets), dict(world.files), list(world.log), dict(world.state))


class TestPersonalEdition:
    def test_the_hand_made_personal_pipeline_is_adopted_with_slash_ids(self) -> None:
        world = handmade(World(), edition="personal")
        personal = {"edition": "personal", "instanceId": None, "instanceName": None}
        deployment = up(world, adopt=True, registry=personal)
        assert deployment.errors == []
        assert "IMPORT Namespace acme-dev" in world.log
        assert "IMPORT Repo acme-dev/api" in world.log
        assert ops(deployment, PERSONAL_NAMESPACE) == ["import"]
        assert ops(deployment, PERSONAL_REPO) == ["import"]

    def test_without_adopt_the_personal_namespace_refuses_too(self) -> None:
        world = handmade(World(), edition="personal")
        deployment = up(world, registry={"edition": "personal", "instanceId": None, "instanceName": None})
        assert any("alicloud_cr_namespace CreateNamespace Failed!!!" in e for e in deployment.errors)


class TestPartlyExisting:
    def test_the_namespace_and_one_repository_are_imported_the_other_created(self) -> None:
        world = fresh()
        world.instances["cri-abc123def456"].namespaces["acme-dev"] = {"api"}
        deployment = up(world, adopt=True, images=[{"name": "api"}, {"name": "worker"}])
        assert deployment.errors == []
        registry = {s.name: s.op for s in deployment.steps if s.name.startswith("registry-")}
        assert registry == {
            "registry-namespace": "import",
            "registry-repo-api": "import",
            "registry-repo-worker": "create",
        }
        assert "IMPORT RegistryEnterpriseRepo cri-abc123def456:acme-dev:api" in world.log
        assert "CreateRepository acme-dev/worker" in world.log
        assert world.instances["cri-abc123def456"].namespaces["acme-dev"] == {"api", "worker"}


class TestAnEnvironmentWithProtectionsOfItsOwn:
    @staticmethod
    def protected() -> World:
        world = fresh()
        world.environments["staging"] = Environment(
            reviewers=[{"teams": [42]}],
            wait_timer=30,
            secrets={"DEPLOY_KEY": "theirs", "ALIYUN_REGISTRY_PWD": "old"},
        )
        return world

    def test_without_adopt_it_is_silently_overwritten(self) -> None:
        world = self.protected()
        assert up(world, github={"environment": "staging"}).errors == []
        assert world.overwritten[0] == "environment staging: reviewers, wait_timer"
        assert world.environments["staging"].reviewers == []

    def test_with_adopt_it_is_imported_and_the_preview_names_the_protections_that_would_change(self) -> None:
        world = self.protected()
        preview = world.preview(encode(config(adopt=True, github={"environment": "staging"})), SECRET_KEYS)
        (step,) = [s for s in preview.steps if s.type == ENVIRONMENT]
        assert (step.op, step.detail) == ("import", "reviewers, wait_timer")
        assert world.environments["staging"].reviewers == [{"teams": [42]}], "a preview changes nothing"

    def test_configured_reviewers_cannot_be_bypassed_or_self_approved(self) -> None:
        world = self.protected()
        github = {"environment": "staging", "reviewers": {"teams": [42]}, "waitTimer": 30}
        deployment = up(world, adopt=True, github=github)
        assert deployment.errors == []
        env = world.environments["staging"]
        assert (env.reviewers, env.wait_timer) == ([{"teams": [42]}], 30)
        assert (env.can_admins_bypass, env.prevent_self_review) == (False, True)

    def test_their_own_secrets_are_left_alone_and_destroy_keeps_the_environment(self) -> None:
        world = self.protected()
        up(world, adopt=True, github={"environment": "staging"})
        env = world.environments["staging"]
        assert env.secrets["DEPLOY_KEY"] == "theirs"
        assert "secret ALIYUN_REGISTRY_PWD of environment staging" in world.overwritten
        world.destroy()
        assert "staging" in world.environments
        assert world.environments["staging"].secrets == {"DEPLOY_KEY": "theirs"}


class TestAdoptingAnEnvironmentScopedPipeline:
    """A hand-made pipeline whose variables and secrets live in an environment."""

    ENV = "prod:eu"  # a ':' in the name is written '??' in import IDs (github/util.go escapeIDPart)

    def handmade_in_environment(self, extra_environments: int = 0) -> World:
        world = fresh()
        world.instances["cri-abc123def456"].namespaces["acme-dev"] = {"api"}
        world.environments[self.ENV] = Environment(
            variables={
                "ALIYUN_REGISTRY": "acme-registry.cn-hangzhou.cr.aliyuncs.com",
                "API_IMAGE_NAME": "x/api",
            },
            secrets={"ALIYUN_REGISTRY_USER": "old-user", "ALIYUN_REGISTRY_PWD": "old-password"},
        )
        for n in range(extra_environments):
            world.environments[f"preview-{n}"] = Environment()
        world.edit_file(".github/workflows/build-push-prod-eu.yml", HANDMADE_WORKFLOW)
        return world

    def test_its_variables_and_the_environment_are_imported_by_their_scoped_ids(self) -> None:
        world = self.handmade_in_environment()
        deployment = up(world, adopt=True, github={"environment": self.ENV})
        assert deployment.errors == []
        imports = sorted(line for line in world.log if line.startswith("IMPORT"))
        assert imports == [
            "IMPORT ActionsEnvironmentVariable shop:prod??eu:ALIYUN_REGISTRY",
            "IMPORT ActionsEnvironmentVariable shop:prod??eu:API_IMAGE_NAME",
            "IMPORT RegistryEnterpriseNamespace cri-abc123def456:acme-dev",
            "IMPORT RegistryEnterpriseRepo cri-abc123def456:acme-dev:api",
            "IMPORT RepositoryEnvironment shop:prod??eu",
            "IMPORT RepositoryFile shop:.github/workflows/build-push-prod-eu.yml:main",
        ]
        assert world.environments[self.ENV].variables["API_IMAGE_NAME"] == "acme-dev/api", "then updated"
        assert up(world, adopt=True, github={"environment": self.ENV}).changes == []

    def test_one_lookup_answers_whether_the_environment_exists_and_what_it_holds(self) -> None:
        """Not get_repository_environments, which in v6.13 never returns past 30 environments."""
        world = self.handmade_in_environment(extra_environments=40)
        deployment = up(world, adopt=True, github={"environment": self.ENV})
        tokens = sorted(
            token.rsplit(":", 1)[-1] for token, _ in deployment.run.calls if token not in PREFLIGHT_LOOKUPS
        )
        assert tokens == [
            "getActionsEnvironmentVariables",
            "getRegistryEnterpriseNamespaces",
            "getRegistryEnterpriseRepos",
            "getRepositoryFile",
        ]

    def test_an_environment_that_does_not_exist_yet_is_created_and_its_variables_too(self) -> None:
        world = fresh()
        deployment = up(world, adopt=True, github={"environment": "qa"})
        assert deployment.errors == []
        assert {s.op for s in deployment.steps} == {"create"}
        assert set(world.environments["qa"].variables) == {"ALIYUN_REGISTRY", "API_IMAGE_NAME"}

    def test_repositories_are_looked_up_only_in_a_namespace_that_exists(self) -> None:
        deployment = up(fresh(), adopt=True)
        tokens = [token.rsplit(":", 1)[-1] for token, _ in deployment.run.calls]
        assert "getRegistryEnterpriseNamespaces" in tokens
        assert "getRegistryEnterpriseRepos" not in tokens


class TestAdoptingStraightIntoOidc:
    def test_the_login_secrets_left_behind_are_named_with_the_commands_that_delete_them(self) -> None:
        world = handmade(fresh())
        world.environments["production"] = Environment(secrets={"ALIYUN_REGISTRY_PWD": "x", "OTHER": "y"})
        deployment = world.up(encode(config(adopt=True, github={"environment": "production"}, **OIDC)), set())
        assert deployment.errors == []
        (warning,) = [w for w in deployment.run.warnings if "still stores" in w]
        assert warning == (
            "adopting into auth.mode: oidc: acme/shop still stores the hand-made pipeline's registry login, "
            "ALIYUN_REGISTRY_USER (repository), ALIYUN_REGISTRY_PWD (repository), ALIYUN_REGISTRY_PWD "
            "(environment production); nothing reads it once the new workflow is committed, but it works "
            "until revoked. After `pulumi up`: `gh secret delete ALIYUN_REGISTRY_USER -R acme/shop`; "
            "`gh secret delete ALIYUN_REGISTRY_PWD -R acme/shop`; "
            "`gh secret delete ALIYUN_REGISTRY_PWD -R acme/shop --env production`; then revoke the RAM "
            "user's password (docs/adopt.md, 'Adopting straight into OIDC')"
        )
        assert "old-password" not in warning
        assert "OTHER" not in warning
        tokens = [token.rsplit(":", 1)[-1] for token, _ in deployment.run.calls]
        assert tokens.count("getActionsSecrets") == 1
        assert tokens.count("getActionsEnvironmentSecrets") == 1

    def test_nothing_is_said_when_none_is_left_and_password_stacks_never_look(self) -> None:
        oidc = up(fresh(), adopt=True, **OIDC)
        assert not [w for w in oidc.run.warnings if "still stores" in w]
        password = up(handmade(fresh()), adopt=True)
        assert "getActionsSecrets" not in [t.rsplit(":", 1)[-1] for t, _ in password.run.calls]


class TestAdoptingTheRestOfAnEnterpriseSetup:
    def test_an_acl_entry_made_by_hand_is_imported_with_its_comment_not_replaced(self) -> None:
        world = fresh()
        acl = world.instances["cri-abc123def456"].acl
        acl["203.0.113.0/24"] = "runners, by hand"
        deployment = up(world, adopt=True, registry={"publicAccess": [{"cidr": "203.0.113.0/24"}]})
        assert deployment.errors == []
        assert "IMPORT EndpointAclPolicy cri-abc123def456:internet:203.0.113.0/24" in world.log
        assert not [
            line
            for line in world.log
            if line.startswith(("DeleteInstanceEndpoint", "CreateInstanceEndpoint"))
        ]
        assert acl == {"203.0.113.0/24": "runners, by hand"}
        assert up(world, adopt=True, registry={"publicAccess": [{"cidr": "203.0.113.0/24"}]}).changes == []

    def test_without_adopt_an_existing_entry_refuses_to_be_created(self) -> None:
        world = fresh()
        world.instances["cri-abc123def456"].acl["203.0.113.0/24"] = "by hand"
        deployment = up(world, registry={"publicAccess": [{"cidr": "203.0.113.0/24"}]})
        assert any("CreateInstanceEndpointAclPolicy Failed" in e for e in deployment.errors)

    def test_deployment_policies_that_exist_are_taken_as_they_are_not_duplicated(self) -> None:
        world = fresh()
        world.environments["production"] = Environment(policies=[("tag", "v*")])
        github = {"environment": "production", "deploymentTags": ["v*"]}
        deployment = up(world, adopt=True, github=github, workflow={"tags": ["v*"], "branchBuilds": False})
        assert deployment.errors == []
        assert world.environments["production"].policies == [("tag", "v*")]


class TestPullRequestMode:
    def test_adopting_never_imports_the_file_on_the_branch_the_pull_request_goes_to(self) -> None:
        """The stack's file goes to a branch of its own; the hand-made one on main stays until merged."""
        world = handmade(fresh())
        deployment = up(world, adopt=True, workflow={"viaPullRequest": True})
        assert deployment.errors == []
        assert not [line for line in world.log if line.startswith("IMPORT RepositoryFile")]
        assert world.files[("main", WORKFLOW)].content == HANDMADE_WORKFLOW
        (pull,) = world.pulls
        assert "Build and Push" in world.files[(pull.head, WORKFLOW)].content, "its name kept"

    def test_after_a_merge_a_new_change_opens_a_new_branch_file_and_pull_request(self) -> None:
        world = fresh()
        first = up(world, workflow={"viaPullRequest": True})
        assert first.errors == []
        (pull,) = world.pulls
        world.merge(pull)  # and GitHub deletes the merged branch
        assert pull.head not in world.branches
        second = up(world, workflow={"viaPullRequest": True}, images=[{"name": "api"}, {"name": "web"}])
        assert second.errors == []
        assert {(s.name, s.op) for s in second.steps if s.op in ("replace", "forget")} >= {
            ("workflow-branch", "replace"),
            ("workflow-file", "replace"),
            ("workflow-pull-request", "replace"),
        }
        new = world.pulls[-1]
        assert new.state == "open"
        assert new.head != pull.head
        assert new.head in world.branches
        assert '{"image": "web", ' in world.files[(new.head, WORKFLOW)].content, "the new image's row"

    def test_renaming_a_branch_github_already_deleted_fails(self) -> None:
        # Why the branch is replaced, not renamed (the provider's default for a new name).
        world = fresh()
        kind = KINDS[BRANCH]
        with pytest.raises(WorldError, match="404"):
            kind.update(world, "shop:gone", {"branch": "gone"}, {"branch": "new"}, {})


class TestTheInstancesSharedAcl:
    def test_public_access_adds_its_entries_and_never_deletes_the_others(self) -> None:
        world = fresh()
        acl = world.instances["cri-abc123def456"].acl
        acl["10.0.0.0/8"] = "office, by hand"
        up(world, registry={"publicAccess": [{"cidr": "203.0.113.0/24"}]})
        assert acl == {"10.0.0.0/8": "office, by hand", "203.0.113.0/24": "acr-pipeline"}
        up(world, registry={"publicAccess": [{"cidr": "198.51.100.0/24"}]})
        assert acl == {"10.0.0.0/8": "office, by hand", "198.51.100.0/24": "acr-pipeline"}
        renamed = up(world, registry={"publicAccess": [{"cidr": "198.51.100.0/24", "comment": "runners"}]})
        assert renamed.errors == [], "a new comment replaces the entry: the old one goes first"
        assert acl == {"10.0.0.0/8": "office, by hand", "198.51.100.0/24": "runners"}
        world.destroy()
        assert acl == {"10.0.0.0/8": "office, by hand"}


class TestAWorkflowEditedByHand:
    def test_the_next_update_is_refused_until_a_refresh_reads_the_new_file(self) -> None:
        world = fresh()
        up(world)
        world.edit_file(WORKFLOW, "name: edited by hand\n")
        stale = up(world, images=[{"name": "api"}, {"name": "web"}])
        assert any("409" in e and "does not match" in e for e in stale.errors)
        world.refresh()  # `pulumi up --refresh`
        fixed = up(world, images=[{"name": "api"}, {"name": "web"}])
        assert fixed.errors == []
        assert world.files[("main", WORKFLOW)].content.startswith("# Managed by acr-pipeline")


class TestImportIds:
    @pytest.mark.parametrize(
        ("type_", "import_id", "message"),
        [
            (VARIABLE, "shop", 'unexpected ID format ("shop"); expected 2 parts'),
            (VARIABLE, "shop:NOPE", "404"),
            (ENVIRONMENT, "shop:nope", "404"),
            (FILE, "shop:.github/workflows/build-push.yml", "expected 3 parts"),
            (EE_NAMESPACE, "cri-abc123def456", "expected 2 parts"),
            (EE_NAMESPACE, "cri-abc123def456:nope", "NAMESPACE_NOT_EXIST"),
            (EE_REPO, "cri-abc123def456:acme-dev", "expected 3 parts"),
            (PERSONAL_REPO, "acme-dev:api", "expected 2 parts"),
        ],
    )
    def test_an_import_id_of_the_wrong_form_or_of_nothing_is_refused(
        self, type_: str, import_id: str, message: str
    ) -> None:
        world = handmade(fresh())
        with pytest.raises(WorldError, match=message.replace("(", r"\(").replace(")", r"\)")):
            KINDS[type_].read(world, import_id)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("name: Build and Push\non: push\n", "Build and Push"),
        ("on: push\n", None),
        ("name: ''\non: push\n", None),
        ("name: '  '\n", None),
        ("name: 42\n", None),
        ("- a list\n", None),
        ("name: [unclosed\n", None),
        ("", None),
    ],
)
def test_an_adopted_workflow_keeps_a_name_only_when_it_has_one(text: str, name: str | None) -> None:
    assert Existing(files={WORKFLOW: text}).workflow_name(WORKFLOW) == name
    assert Existing().workflow_name(WORKFLOW) is None


class TestWhatSynthSaysAdoptionWouldImport:
    """`make synth` with `adopt: true` lists what the real preview would import if it exists
    (ImportIds.candidates): a world where every object exists and a stack that has forgotten it
    (its state lost) shows the two agree, ID for ID."""

    @pytest.mark.parametrize(
        "overrides",
        [
            {},
            {"github": {"environment": "prod:eu"}, "images": [{"name": "api"}, {"name": "web"}]},
            {"registry": {"publicAccess": [{"cidr": "203.0.113.0/24"}]}},
            {"registry": {"edition": "personal", "instanceId": None, "instanceName": None}},
            {"registry": {"createNamespace": False}},
            {"registry": {"edition": "external", "endpoint": "registry.example.com", "instanceId": None}},
            {"workflow": {"viaPullRequest": True}},
            {"workflow": {"pullRequests": True}},
        ],
        ids=[
            "repository",
            "environment",
            "acl",
            "personal",
            "adopted-namespace",
            "external",
            "via-pr",
            "pr-builds",
        ],
    )
    def test_the_candidates_are_exactly_what_adopt_imports_when_everything_exists(
        self, overrides: dict[str, Any]
    ) -> None:
        world = fresh()
        if overrides.get("registry", {}).get("createNamespace") is False:
            world.instances["cri-abc123def456"].namespaces["acme-dev"] = set()
        assert up(world, **overrides).errors == []
        world.state.clear()
        world.log.clear()
        assert up(world, adopt=True, **overrides).errors == []
        imported = sorted(line.split()[-1] for line in world.log if line.startswith("IMPORT"))
        candidates = ImportIds(settings_for(**overrides)).candidates()
        assert sorted(import_id for _, import_id in candidates) == imported

    def test_each_candidate_says_what_it_is(self) -> None:
        access = [{"cidr": "10.0.0.0/8"}]
        settings = settings_for(github={"environment": "prod"}, registry={"publicAccess": access})
        assert ImportIds(settings).candidates() == [
            ("variable ALIYUN_REGISTRY", "shop:prod:ALIYUN_REGISTRY"),
            ("variable API_IMAGE_NAME", "shop:prod:API_IMAGE_NAME"),
            ("environment prod", "shop:prod"),
            (
                "workflow file .github/workflows/build-push-prod.yml",
                "shop:.github/workflows/build-push-prod.yml:main",
            ),
            ("namespace acme-dev", "cri-abc123def456:acme-dev"),
            ("repository api", "cri-abc123def456:acme-dev:api"),
            ("internet ACL entry 10.0.0.0/8", "cri-abc123def456:internet:10.0.0.0/8"),
        ]


class TestReleaseTagsThatUnlockThePushRole:
    """A keyless stack with release tags and no environment: its role trusts the run of every such
    tag, whoever pushed it, with its own workflow file. The stack protects those tags with a ruleset
    before the role exists; one of that name that exists already is taken over with `adopt`."""

    KEYLESS_RELEASES: ClassVar[dict[str, Any]] = {
        **OIDC,
        "workflow": {"tags": ["v[0-9]+.[0-9]+.[0-9]+", "release-*"]},
    }

    def test_only_the_repositorys_admins_may_create_move_or_delete_the_tags_the_role_trusts(self) -> None:
        world = fresh()
        deployment = up(world, **self.KEYLESS_RELEASES)
        assert deployment.errors == []
        (ruleset,) = world.rulesets.values()
        assert ruleset["target"] == "tag"
        assert ruleset["enforcement"] == "active"
        assert ruleset["rules"] == {"creation": True, "update": True, "deletion": True}
        assert ruleset["bypass"] == [{"actorId": 5, "actorType": "RepositoryRole", "bypassMode": "always"}]
        # Every tag the role's trust admits (StringLike, where `*` crosses `/`) is one the
        # ruleset protects (GitHub's fnmatch with FNM_PATHNAME, where `*` does not).
        (role,) = deployment.run.of_type(ROLE)
        trusted = [s for s in role_subjects(role) if ":ref:refs/tags/" in s]
        protect = [github_glob(ref) for ref in ruleset["include"]]
        for subject in trusted:
            like = subject.partition(":ref:")[2]
            for tag in ("v1.2.3", "v1/2.3.4", "v1.2.3/x/y", "release-1", "release-a/b"):
                if fnmatch.fnmatchcase(f"refs/tags/{tag}", like):
                    assert any(p.match(f"refs/tags/{tag}") for p in protect), (tag, ruleset["include"])

    def test_the_ruleset_is_in_place_before_the_role_that_relies_on_it(self) -> None:
        deployment = up(fresh(), **self.KEYLESS_RELEASES)
        order = [s.type for s in deployment.steps if s.op == "create"]
        assert order.index(RULESET) < order.index(ROLE)
        (role,) = deployment.run.of_type(ROLE)
        (ruleset,) = deployment.run.of_type(RULESET)
        assert ruleset.urn in role.dependencies

    def test_the_teams_the_stack_names_may_release_instead_of_the_admins(self) -> None:
        world = fresh()
        github = {"repository": "shop", "releasers": {"teams": ["release-managers", 4521987]}}
        assert up(world, **self.KEYLESS_RELEASES, github=github).errors == []
        (ruleset,) = world.rulesets.values()
        assert [(a["actorType"], a["bypassMode"]) for a in ruleset["bypass"]] == [("Team", "always")] * 2
        assert ruleset["bypass"][1]["actorId"] == 4521987

    @pytest.mark.parametrize(
        "overrides",
        [
            {"workflow": {"tags": ["v*"]}},  # a password: the login is the trust, not the tag
            {
                **OIDC,
                "github": {"repository": "shop", "environment": "production"},
            },  # the environment's subject
            OIDC,  # no release tags
        ],
        ids=["password", "environment", "no-tags"],
    )
    def test_no_ruleset_where_no_role_trusts_a_tag(self, overrides: dict[str, Any]) -> None:
        world = fresh()
        assert up(world, **overrides).errors == []
        assert world.rulesets == {}

    def test_a_ruleset_of_that_name_made_by_hand_is_refused_then_taken_over_with_adopt(self) -> None:
        world = fresh()
        world.rulesets[7] = {"name": "acr-pipeline release tags (dev)", "target": "tag", "include": []}
        refused = up(world, **self.KEYLESS_RELEASES)
        assert [e for e in refused.errors if "Name must be unique" in e], refused.errors
        adopted = up(world, **self.KEYLESS_RELEASES, adopt=True)
        assert adopted.errors == []
        assert ops(adopted, RULESET) == ["import"]
        assert list(world.rulesets) == [7], "the same ruleset, taken over"
        assert world.rulesets[7]["include"] == [
            "refs/tags/v*.*.*",
            "refs/tags/v*/**/*",
            "refs/tags/release-*",
            "refs/tags/release-*/**/*",
        ]

    def test_a_private_repository_on_github_free_gets_githubs_own_answer(self) -> None:
        world = fresh()
        world.private_on_free = True
        (error,) = [e for e in up(world, **self.KEYLESS_RELEASES).errors if RULESET in e]
        assert "403 Upgrade to GitHub Pro or make this repository public" in error


def role_subjects(role: Any) -> list[str]:
    (statement,) = json.loads(role.plain("assumeRolePolicyDocument"))["Statement"]
    subjects: list[str] = statement["Condition"]["StringLike"]["oidc:sub"]
    return subjects


class TestRetentionKeepsSignatures:
    """cosign stores an image's signature as a tag of its repository, `sha256-<digest>.sig`:
    for the retention rule, one tag like any other. A signing stack's rule keeps them all."""

    @staticmethod
    def pushed(world: World) -> tuple[list[str], list[str]]:
        """Ten builds of api, newest first, each with its signature tag: (images, signatures)."""
        images = [f"sha-{n:07x}" for n in range(10, 0, -1)]
        signatures = [f"sha256-{n:064x}.sig" for n in range(10, 0, -1)]
        world.instances["cri-abc123def456"].tags["acme-dev/api"] = [
            tag for pair in zip(images, signatures, strict=True) for tag in pair
        ]
        return images, signatures

    @pytest.mark.parametrize("pattern", [None, "^v[0-9]+"], ids=["no-pattern", "a-pattern-of-its-own"])
    def test_cleaning_never_takes_the_signature_of_an_image_it_keeps(self, pattern: str | None) -> None:
        world = fresh()
        retention = {"keepLastTags": 4, **({"keepTagPattern": pattern} if pattern else {})}
        assert up(world, registry={"retention": retention}, workflow={"sign": True}).errors == []
        _, signatures = self.pushed(world)
        world.instances["cri-abc123def456"].tags["acme-dev/api"].append("v1.0.0")
        registry = world.instances["cri-abc123def456"]
        deleted = registry.clean()
        left = registry.tags["acme-dev/api"]
        assert set(signatures) <= set(left), "every signature stays"
        assert deleted
        assert all(not d.endswith(".sig") for d in deleted)
        assert ("v1.0.0" in left) is (pattern is not None), "the stack's own pattern still counts"

    def test_without_signing_the_rule_is_the_stacks_own(self) -> None:
        world = fresh()
        assert up(world, registry={"retention": {"keepLastTags": 4}}).errors == []
        _, signatures = self.pushed(world)
        registry = world.instances["cri-abc123def456"]
        registry.clean()
        assert not set(signatures) <= set(registry.tags["acme-dev/api"]), (
            "without the signature pattern, an unsigned stack's rule would take them: the rule of a "
            "signing stack must differ"
        )
