"""Settings: defaults from DESIGN.md, and a clear refusal of each bad configuration."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.fields import Secret
from tests.conftest import KNOWN_PASSWORD, settings_for


def problems(**overrides: object) -> str:
    secret_keys = overrides.pop("secret_keys", None)
    with pytest.raises(ConfigError) as err:
        settings_for(secret_keys=secret_keys, **overrides)  # type: ignore[arg-type]
    return str(err.value)


class TestDefaults:
    def test_minimal_config_gets_every_documented_default(self) -> None:
        s = settings_for()
        assert s.registry.edition == "enterprise"
        assert s.registry.visibility == "PRIVATE"
        assert s.registry.create_namespace is True
        assert s.registry.retain_on_delete is True
        assert s.github.branch == "main"
        assert s.github.environment is None
        assert s.workflow_path == ".github/workflows/build-push.yml"
        assert s.workflow.tags == ()
        assert s.workflow.cache is True
        assert s.workflow.pin_actions == "sha"
        assert s.workflow.attestations is False

    def test_default_image_is_the_seed_api_image(self) -> None:
        (image,) = settings_for().images
        assert (image.name, image.context, image.dockerfile) == ("api", "api", "api/Dockerfile")
        assert image.variable == "API_IMAGE_NAME"
        assert image.platforms == ("linux/amd64",)
        assert image.job_id == "api-build-and-push"

    def test_image_paths_include_the_workflow_so_editing_it_rebuilds(self) -> None:
        s = settings_for(workflow={"path": ".github/workflows/images.yml"})
        assert s.paths(s.images[0]) == ("api/**", ".github/workflows/images.yml")

    def test_context_sets_dockerfile_and_paths(self) -> None:
        s = settings_for(images=[{"name": "worker", "context": "services/worker/"}])
        (image,) = s.images
        assert image.context == "services/worker"
        assert image.dockerfile == "services/worker/Dockerfile"
        assert s.paths(image)[0] == "services/worker/**"

    def test_repository_root_context_watches_everything(self) -> None:
        s = settings_for(images=[{"name": "app", "context": "."}])
        (image,) = s.images
        assert image.dockerfile == "Dockerfile"
        assert s.paths(image)[0] == "**"

    def test_variable_name_upper_cases_and_replaces_dashes_and_dots(self) -> None:
        images = settings_for(images=[{"name": "web-app"}, {"name": "edge.proxy"}]).images
        assert [i.variable for i in images] == ["WEB_APP_IMAGE_NAME", "EDGE_PROXY_IMAGE_NAME"]

    def test_environment_gets_its_own_default_workflow_path(self) -> None:
        s = settings_for(github={"environment": "staging"})
        assert s.workflow_path == ".github/workflows/build-push-staging.yml"

    def test_enterprise_endpoint_is_derived_from_instance_name_and_region(self) -> None:
        assert settings_for().endpoint == "acme-registry.cn-hangzhou.cr.aliyuncs.com"

    def test_personal_endpoint_is_the_regional_registry(self) -> None:
        s = settings_for(registry={"edition": "personal", "instanceId": None, "instanceName": None})
        assert s.endpoint == "registry.cn-hangzhou.aliyuncs.com"

    def test_explicit_endpoint_wins_verbatim(self) -> None:
        host = "crpi-abc123.cn-hangzhou.personal.cr.aliyuncs.com"
        s = settings_for(registry={"edition": "personal", "endpoint": host})
        assert s.endpoint == host

    def test_variables_map_registry_and_each_image_to_namespace_slash_name(self) -> None:
        s = settings_for(images=[{"name": "api"}, {"name": "web"}])
        assert s.variables == {
            "ALIYUN_REGISTRY": "acme-registry.cn-hangzhou.cr.aliyuncs.com",
            "API_IMAGE_NAME": "acme-dev/api",
            "WEB_IMAGE_NAME": "acme-dev/web",
        }

    def test_booleans_accept_yaml_booleans_and_pulumi_strings(self) -> None:
        assert settings_for(registry={"retainOnDelete": False}).registry.retain_on_delete is False
        assert settings_for(registry={"createNamespace": "false"}).registry.create_namespace is False


class TestSecretValue:
    def test_password_is_kept_but_never_printed(self) -> None:
        s = settings_for()
        assert s.registry_password is not None
        assert s.registry_password.reveal() == KNOWN_PASSWORD
        assert KNOWN_PASSWORD not in repr(s)
        assert KNOWN_PASSWORD not in str(s.registry_password)
        assert repr(Secret("x")) == "[secret]"


class TestRefusals:
    def test_plaintext_password_is_refused_with_the_fixing_command(self) -> None:
        message = problems(secret_keys=set())
        assert "acr-pipeline:registryPassword" in message
        assert "pulumi config set --secret registryPassword" in message
        assert KNOWN_PASSWORD not in message

    def test_missing_password_is_refused(self) -> None:
        assert "registryPassword: is required" in problems(registryPassword=None)

    def test_plaintext_github_token_is_refused_without_showing_it(self) -> None:
        message = problems(**{"github:token": "ghp_leakme123"})
        assert "github:token" in message
        assert "plaintext" in message
        assert "ghp_leakme123" not in message

    def test_unknown_key_is_named_with_a_suggestion(self) -> None:
        message = problems(registry={"namepsace": "x"})
        assert "acr-pipeline:registry.namepsace" in message
        assert "did you mean 'namespace'" in message

    def test_unknown_top_level_key_is_refused_without_echoing_its_value(self) -> None:
        message = problems(image=[{"name": "api", "target": "leak-me"}])
        assert "acr-pipeline:image: unknown key (did you mean 'images'?)" in message
        assert "leak-me" not in message

    def test_enterprise_requires_instance_id(self) -> None:
        assert "registry.instanceId: is required" in problems(registry={"instanceId": None})

    def test_enterprise_requires_instance_name_or_endpoint(self) -> None:
        message = problems(registry={"instanceName": None})
        assert "registry.endpoint" in message
        assert "instanceName or endpoint" in message

    def test_external_requires_an_endpoint(self) -> None:
        message = problems(registry={"edition": "external", "instanceName": None})
        assert "edition external needs registry.endpoint" in message

    def test_namespace_must_follow_acr_naming_rules(self) -> None:
        message = problems(registry={"namespace": "Acme_Dev"})
        assert 'acr-pipeline:registry.namespace = "Acme_Dev"' in message
        assert "lowercase" in message

    def test_repository_name_must_follow_acr_naming_rules(self) -> None:
        assert 'images[0].name = "-api"' in problems(images=[{"name": "-api"}])

    def test_expression_syntax_in_a_value_is_refused(self) -> None:
        message = problems(images=[{"name": "api", "context": "${{ github.token }}"}])
        assert "images[0].context" in message
        assert "${{" in message

    def test_duplicate_image_names_are_refused(self) -> None:
        message = problems(images=[{"name": "api"}, {"name": "api"}])
        assert "images[1].name" in message
        assert "images[0]" in message

    def test_two_images_writing_one_variable_are_refused(self) -> None:
        message = problems(images=[{"name": "web-app"}, {"name": "web.app"}])
        assert "images[1].variable" in message or "images[1].name" in message

    def test_image_variable_may_not_take_a_registry_name(self) -> None:
        message = problems(images=[{"name": "api", "variable": "ALIYUN_REGISTRY"}])
        assert "images[0].variable" in message
        assert "reserved" in message

    def test_github_prefix_is_reserved(self) -> None:
        assert "GITHUB_" in problems(images=[{"name": "api", "variable": "GITHUB_API"}])

    def test_workflow_path_must_be_under_github_workflows(self) -> None:
        message = problems(workflow={"path": "ci/build-push.yml"})
        assert 'workflow.path = "ci/build-push.yml"' in message
        assert ".github/workflows/" in message

    def test_workflow_path_must_be_yaml(self) -> None:
        assert ".yml or .yaml" in problems(workflow={"path": ".github/workflows/build.txt"})

    def test_repository_slug_gets_a_hint(self) -> None:
        message = problems(github={"repository": "acme/shop"})
        assert "github:owner" in message
        assert "'shop'" in message

    def test_platform_must_be_os_slash_arch(self) -> None:
        assert "images[0].platforms[0]" in problems(images=[{"name": "api", "platforms": ["amd64"]}])

    def test_empty_image_list_is_refused(self) -> None:
        assert "at least one image" in problems(images=[])

    def test_missing_region_and_owner_are_named(self) -> None:
        message = problems(**{"alicloud:region": None, "github:owner": None})
        assert "alicloud:region: is required" in message
        assert "github:owner: is required" in message

    def test_all_problems_are_reported_together(self) -> None:
        with pytest.raises(ConfigError) as err:
            settings_for(
                secret_keys=set(),
                registry={"namespace": "BAD", "visibility": "secret"},
                workflow={"cache": "yes"},
            )
        assert len(err.value.problems) == 4
        assert "4 problems" in str(err.value)
