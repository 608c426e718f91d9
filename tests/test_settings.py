"""Settings: the documented defaults (docs/configuration.md, generated from the model), and a
clear refusal of each bad configuration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from components import rules
from components.config import SECRET_KEYS, ConfigError, parse
from components.fields import Secret
from components.settings import Notify
from tests.conftest import KNOWN_PASSWORD, config, encode, region, settings_for


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
        assert s.cache is True
        assert s.workflow.pin_actions == "sha"
        assert s.workflow.attestations is False

    def test_default_image_is_the_seed_api_image(self) -> None:
        (image,) = settings_for().images
        assert (image.name, image.context, image.dockerfile) == ("api", "api", "api/Dockerfile")
        assert image.variable == "API_IMAGE_NAME"
        assert image.platforms == ("linux/amd64",)
        assert image.key == "api"  # its builds' checks: api-build-and-push (linux/amd64), the seed's job name

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
        assert s.paths(image) == ("**", ".github/workflows/build-push.yml"), "its Dockerfile is inside"

    def test_variable_name_upper_cases_and_replaces_dashes_and_dots(self) -> None:
        images = settings_for(images=[{"name": "web-app"}, {"name": "edge.proxy"}]).images
        assert [i.variable for i in images] == ["WEB_APP_IMAGE_NAME", "EDGE_PROXY_IMAGE_NAME"]

    def test_default_variable_of_a_name_starting_with_a_digit_is_one_github_accepts(self) -> None:
        (image,) = settings_for(images=[{"name": "2d"}]).images
        assert image.variable == "IMAGE_2D_IMAGE_NAME"
        assert rules.github_name(image.variable) is None

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


class TestRegions:
    def test_a_known_region_passes_quietly(self) -> None:
        assert settings_for(**region("cn-shanghai")).warnings == []

    def test_a_region_far_from_every_known_one_is_a_warning_not_an_error(self) -> None:
        ((key, warning),) = settings_for(**region("xx-newland-1")).warnings
        assert key == "alicloud:region"
        assert "'xx-newland-1'" in warning
        assert "ACR_REGIONS in components/rules.py" in warning

    def test_a_region_two_edits_off_is_a_warning_with_the_region_meant(self) -> None:
        """Refused only one edit off: a new region (`me-west-1`) may be two from a known one."""
        ((_, warning),) = settings_for(**region("cn-hngzou")).warnings
        assert "did you mean 'cn-hangzhou'?" in warning

    def test_a_new_member_of_a_known_numbered_family_is_a_warning_not_a_typo(self) -> None:
        ((_, warning),) = settings_for(**region("ap-southeast-8")).warnings
        assert "'ap-southeast-8'" in warning


class TestPromote:
    def test_other_stacks_namespaces_follow_the_registrys_edition(self) -> None:
        personal = {"edition": "personal", "instanceId": None}
        promote = {"tags": ["v*"], "promote": {"fromNamespaces": ["staging-"]}}
        settings_for(registry=personal, workflow=promote)  # a valid Personal Edition namespace
        with pytest.raises(ConfigError, match=r"fromNamespaces\[0\] = \"staging-\""):
            settings_for(workflow=promote)

    def test_a_negated_path_pattern_is_fine_without_promotion(self) -> None:
        settings_for(images=[{"name": "api", "paths": ["api/**", "!api/docs/**"]}])


class TestOtherProvidersKeys:
    @pytest.mark.parametrize("key", ["gitlab:token", "gcp:project", "aws:region", "random:seed"])
    def test_keys_of_other_providers_are_left_alone(self, key: str) -> None:
        overrides: dict[str, Any] = {key: "x"}
        settings_for(**overrides)

    @pytest.mark.parametrize("first", [{"aws:region": "us-east-1"}, {"acr-pipeline:workflow": ""}])
    def test_a_key_left_alone_or_unset_does_not_end_the_reading_of_the_keys_after_it(
        self, first: dict[str, str]
    ) -> None:
        values = {**first, **encode(config(images=[{"name": "web"}]))}
        assert next(iter(values)) == next(iter(first))
        assert [image.name for image in parse(values, SECRET_KEYS, "dev").images] == ["web"]


class TestValuesAsPulumiHandsThem:
    def test_an_object_or_list_written_as_json_text_is_read_as_json_spaces_around_it_or_not(self) -> None:
        values = encode(config())
        values["acr-pipeline:images"] = ' \n [{"name": "web"}] \n'
        values["acr-pipeline:workflow"] = '\t{"tags": ["v*"]}'
        s = parse(values, SECRET_KEYS, "dev")
        assert [image.name for image in s.images] == ["web"]
        assert s.workflow.tags == ("v*",)


class TestSecretValue:
    def test_password_is_kept_but_never_printed(self) -> None:
        s = settings_for()
        assert s.registry_password is not None
        assert s.registry_password.reveal() == KNOWN_PASSWORD
        assert KNOWN_PASSWORD not in repr(s)
        assert KNOWN_PASSWORD not in str(s.registry_password)
        assert repr(Secret("x")) == "[secret]"


class TestProblemsTogether:
    """Each refusal is in the table of tests/test_bad_config.py; here, how they are reported."""

    def test_all_problems_are_reported_together(self) -> None:
        with pytest.raises(ConfigError) as err:
            settings_for(
                secret_keys=set(),
                registry={"namespace": "BAD", "visibility": "secret"},
                workflow={"cache": "yes"},
            )
        assert len(err.value.problems) == 4
        assert str(err.value) == "\n".join(
            ["Invalid configuration of stack 'dev' (4 problems):", *(f"  - {p}" for p in err.value.problems)]
        )

    def test_one_problem_is_counted_in_the_singular(self) -> None:
        with pytest.raises(ConfigError) as err:
            settings_for(workflow={"cache": "yes"})
        assert str(err.value) == (
            "Invalid configuration of stack 'dev' (1 problem):\n"
            '  - acr-pipeline:workflow.cache = "yes": must be true or false'
        )


def test_a_model_refusal_outside_config_parse_still_reads_as_the_rule() -> None:
    """Pydantic's own message (a REPL, a tool validating one section) is our rule, not a template."""
    with pytest.raises(ValidationError) as err:
        Notify.model_validate({"kind": "slack", "secret": "aliyun_registry_pwd"})
    (error,) = err.value.errors()
    assert error["msg"] == "is reserved for another setting; choose another name (names are case-insensitive)"


def test_a_reviewer_written_as_digits_is_an_id_not_a_login() -> None:
    """YAML may quote an id; a quoted id is still an id (no lookup of a user named "42")."""
    s = settings_for(github={"environment": "prod", "reviewers": {"users": ["42", "alice"], "teams": ["7"]}})
    assert s.github.reviewers is not None
    assert (s.github.reviewers.users, s.github.reviewers.teams) == ((42, "alice"), (7,))


def test_a_whole_number_may_be_written_as_text_and_its_bounds_are_allowed() -> None:
    """YAML may quote a number (`waitTimer: "30"`); the bounds of a range are inside it."""
    assert settings_for(github={"environment": "prod", "waitTimer": "30"}).github.wait_timer == 30
    assert settings_for(github={"environment": "prod", "waitTimer": 43200}).github.wait_timer == 43200
    assert settings_for(github={"environment": "prod", "waitTimer": 0}).github.wait_timer == 0


def test_a_secret_that_is_not_text_is_refused_in_our_words() -> None:
    """Pulumi hands a secret over as text; validated another way, it still says what is wrong, as
    every rule of ours does (config.py reads the rule from the error's context)."""
    with pytest.raises(ValidationError) as err:
        TypeAdapter(Secret).validate_python(5)
    ((error),) = err.value.errors()
    assert (error["msg"], error.get("ctx")) == (
        "must be a secret string",
        {"rule": "must be a secret string"},
    )
