"""The rendered workflow: structure, least privilege, pins, determinism, and the checkers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.pins import PINS
from components.workflow_render import render
from tests.conftest import FIXTURES, assert_matches_golden, fixture_settings, lint_workflows, settings_for
from tools.stackfile import stack_names

SHA_REF = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")


def load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def wf(**overrides: Any) -> dict[str, Any]:
    return load(render(settings_for(**overrides)))  # type: ignore[no-any-return]


def steps(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Steps by the action they use (`docker/login-action`), or by name."""
    return {s["uses"].split("@")[0] if "uses" in s else s["name"]: s for s in job["steps"]}


def build_job(doc: dict[str, Any], image: str = "api") -> dict[str, Any]:
    return doc["jobs"][f"{image}-build-and-push"]  # type: ignore[no-any-return]


def evaluate(condition: str, event: str, ref_type: str, needs_result: str, outputs: dict[str, str]) -> bool:
    """A GitHub `if:` of the form this renderer writes, evaluated for one situation.

    Handles !, &&, ||, ==, != on strings, and the status functions of a job whose one need
    finished with `needs_result`."""
    expr = condition.strip()
    if expr.startswith("${{"):
        expr = expr[3:-2]
    values = {
        "github.event_name": event,
        "github.ref_type": ref_type,
        **{f"needs.changes.outputs.{k}": v for k, v in outputs.items()},
    }
    expr = re.sub(r"[a-z_]+(?:\.[a-z_-]+)+", lambda m: repr(values.get(m.group(0), "")), expr)
    expr = expr.replace("failure()", repr(needs_result == "failure"))
    expr = expr.replace("cancelled()", repr(needs_result == "cancelled"))
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    return bool(eval(expr, {"__builtins__": {}}))  # noqa: S307 - a test over our own expressions


RENDERINGS: dict[str, Any] = {
    "one-image": {},
    "three-images-multi-arch": {
        "images": [
            {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]},
            {"name": "web", "context": "frontend"},
            {"name": "edge.proxy", "platforms": ["linux/amd64", "linux/arm/v7"]},
        ]
    },
    "tags-environment-no-cache": {
        "github": {"environment": "production", "branch": "release"},
        "workflow": {"tags": ["v*", "release-*"], "cache": False, "attestations": True},
    },
    "tag-pins": {"workflow": {"pinActions": "tag"}},
    "release-only-notify-immutable": {
        "github": {"environment": "production"},
        "images": [
            {"name": "api", "immutableTags": True, "buildArgs": {"VERSION": "1.0"}, "target": "runtime"}
        ],
        "workflow": {"tags": ["v*"], "branchBuilds": False, "notify": {"kind": "feishu"}},
    },
}
GOLDEN = ("one-image", "three-images-multi-arch", "tags-environment-no-cache", "tag-pins")


def all_renderings() -> dict[str, str]:
    texts = {name: render(settings_for(**cfg)) for name, cfg in RENDERINGS.items()}
    texts.update({f"stack-{name}": render(fixture_settings(name)) for name in stack_names(FIXTURES)})
    return texts


class TestTriggersAndPrivileges:
    def test_push_to_the_branch_and_manual_dispatch_trigger_it(self) -> None:
        doc = wf()
        assert doc["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}

    def test_tag_patterns_also_trigger(self) -> None:
        doc = wf(workflow={"tags": ["v*"]})
        assert doc["on"]["push"]["tags"] == ["v*"]

    def test_permissions_are_read_only_and_per_job(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        assert doc["permissions"] == {"contents": "read"}
        # The changes job reads the run history to find the last successful build.
        assert doc["jobs"]["changes"]["permissions"] == {"contents": "read", "actions": "read"}
        for job_id in ("api-build-and-push", "web-build-and-push"):
            assert doc["jobs"][job_id]["permissions"] == {"contents": "read"}, job_id
        assert doc["jobs"]["notify-failure"]["permissions"] == {}

    def test_superseded_runs_of_a_ref_are_cancelled(self) -> None:
        assert wf()["concurrency"] == {
            "group": "${{ github.workflow }}-${{ github.ref }}",
            "cancel-in-progress": True,
        }

    def test_secrets_are_referenced_only_in_the_login_step(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}])
        assert "env" not in doc
        for job_id, job in doc["jobs"].items():
            assert "env" not in job, job_id
            for step in job["steps"]:
                text = str(step)
                if "secrets." in text:
                    assert step["uses"].startswith("docker/login-action@"), (job_id, step["name"])

    def test_login_uses_the_contract_variable_and_secrets(self) -> None:
        login = steps(build_job(wf()))["docker/login-action"]
        assert login["with"] == {
            "registry": "${{ vars.ALIYUN_REGISTRY }}",
            "username": "${{ secrets.ALIYUN_REGISTRY_USER }}",
            "password": "${{ secrets.ALIYUN_REGISTRY_PWD }}",
        }

    def test_checkouts_keep_no_credentials(self) -> None:
        for job_id, job in wf()["jobs"].items():
            checkout = steps(job)["actions/checkout"]
            assert checkout["with"]["persist-credentials"] is False, job_id


class TestJobs:
    def test_changes_job_has_one_filter_and_output_per_image(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web", "context": "frontend"}])
        changes = doc["jobs"]["changes"]
        assert changes["outputs"] == {
            "api": "${{ steps.filter.outputs.api }}",
            "web": "${{ steps.filter.outputs.web }}",
        }
        paths_filter = steps(changes)["dorny/paths-filter"]
        assert load(paths_filter["with"]["filters"]) == {
            "api": ["api/**", ".github/workflows/build-push.yml"],
            "web": ["frontend/**", ".github/workflows/build-push.yml"],
        }

    def test_filter_compares_with_the_last_successful_build_of_the_branch(self) -> None:
        changes = wf(workflow={"path": ".github/workflows/images.yml"})["jobs"]["changes"]
        last = next(step for step in changes["steps"] if step.get("id") == "last")
        assert last["env"]["WORKFLOW"] == "images.yml"
        assert last["env"]["BRANCH"] == "${{ github.ref_name }}"
        assert "--status success" in last["run"]
        assert "${{" not in last["run"]
        paths_filter = steps(changes)["dorny/paths-filter"]
        assert paths_filter["with"]["base"] == "${{ steps.last.outputs.sha }}"
        assert paths_filter["if"] == "${{ steps.last.outputs.sha != '' }}"

    def test_change_detection_fails_open(self) -> None:
        changes = wf()["jobs"]["changes"]
        last = next(step for step in changes["steps"] if step.get("id") == "last")
        assert last["continue-on-error"] is True
        assert steps(changes)["dorny/paths-filter"]["continue-on-error"] is True
        assert steps(changes)["actions/checkout"]["with"]["fetch-depth"] == 0

    def test_one_build_job_per_image_named_after_it(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}])
        assert list(doc["jobs"]) == ["changes", "api-build-and-push", "web-build-and-push"]

    @pytest.mark.parametrize(
        ("event", "ref_type", "changes", "api_changed", "builds"),
        [
            ("push", "branch", "success", "true", True),
            ("push", "branch", "success", "false", False),
            ("push", "branch", "success", "", True),  # detection gave no answer: build
            ("push", "tag", "skipped", "", True),  # a release always builds
            ("workflow_dispatch", "branch", "skipped", "", True),
            ("push", "branch", "failure", "", False),
            ("push", "branch", "cancelled", "", False),
        ],
    )
    def test_build_condition_in_each_case(
        self, event: str, ref_type: str, changes: str, api_changed: str, builds: bool
    ) -> None:
        condition = build_job(wf())["if"]
        assert evaluate(condition, event, ref_type, changes, {"api": api_changed}) is builds

    def test_build_runs_on_its_filter_on_dispatch_and_on_tags(self) -> None:
        condition = build_job(wf())["if"]
        assert "needs.changes.outputs.api != 'false'" in condition
        assert "github.event_name != 'push'" in condition
        assert "github.ref_type == 'tag'" in condition
        assert build_job(wf())["needs"] == "changes"

    def test_build_push_inputs_follow_the_image_settings(self) -> None:
        doc = wf(images=[{"name": "api", "context": "services/api", "dockerfile": "docker/api.Dockerfile"}])
        build = steps(build_job(doc))["docker/build-push-action"]["with"]
        assert build["context"] == "services/api"
        assert build["file"] == "docker/api.Dockerfile"
        assert build["platforms"] == "linux/amd64"
        assert build["push"] is True
        assert build["tags"] == "${{ steps.meta.outputs.tags }}"

    def test_metadata_tags_branch_sha_semver_and_latest_on_default_branch(self) -> None:
        meta = steps(build_job(wf()))["docker/metadata-action"]["with"]
        assert meta["images"] == "${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}"
        # Without it, metadata-action adds `latest` on every release tag as well.
        assert meta["flavor"] == "latest=false"
        assert meta["tags"].splitlines() == [
            "type=ref,event=branch",
            "type=sha",
            "type=semver,pattern={{version}}",
            "type=semver,pattern={{major}}.{{minor}}",
            "type=raw,value=latest,enable={{is_default_branch}}",
        ]

    def test_qemu_only_for_multi_arch_images(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web", "platforms": ["linux/amd64", "linux/arm64"]}])
        assert "docker/setup-qemu-action" not in steps(build_job(doc, "api"))
        web = steps(build_job(doc, "web"))
        assert "docker/setup-qemu-action" in web
        assert web["docker/build-push-action"]["with"]["platforms"] == "linux/amd64,linux/arm64"

    def test_gha_cache_is_scoped_per_image_and_can_be_disabled(self) -> None:
        build = steps(build_job(wf()))["docker/build-push-action"]["with"]
        assert build["cache-from"] == "type=gha,scope=api"
        assert build["cache-to"] == "type=gha,mode=max,scope=api"
        off = steps(build_job(wf(workflow={"cache": False})))["docker/build-push-action"]["with"]
        assert "cache-from" not in off
        assert "cache-to" not in off

    def test_attestations_are_off_unless_enabled(self) -> None:
        build = steps(build_job(wf()))["docker/build-push-action"]
        assert build["with"]["provenance"] is False
        assert build["with"]["sbom"] is False
        assert "env" not in build

    def test_enabled_attestations_use_the_format_acr_accepts(self) -> None:
        build = steps(build_job(wf(workflow={"attestations": True})))["docker/build-push-action"]
        assert build["with"]["provenance"] == "mode=max"
        assert build["with"]["sbom"] is True
        assert build["env"] == {"BUILDX_NO_DEFAULT_OCI_ARTIFACT": "true"}

    def test_build_jobs_declare_the_environment(self) -> None:
        doc = wf(github={"environment": "production"}, images=[{"name": "api"}, {"name": "web"}])
        assert [job.get("environment") for job in doc["jobs"].values()] == [None, "production", "production"]


class TestPinsAndText:
    def test_every_action_is_pinned_by_sha_with_its_version_comment(self) -> None:
        text = render(settings_for(images=[{"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}]))
        uses = re.findall(r"uses: (\S+)(.*)", text)
        assert uses
        for ref, comment in uses:
            match = SHA_REF.match(ref)
            assert match, ref
            pin = PINS[match["action"]]
            assert match["sha"] == pin.sha
            assert comment.strip() == f"# {pin.version}", ref

    def test_tag_mode_uses_major_version_tags(self) -> None:
        text = render(settings_for(workflow={"pinActions": "tag"}))
        refs = re.findall(r"uses: (\S+)", text)
        assert "actions/checkout@v7" in refs
        assert "docker/build-push-action@v7" in refs
        assert not [r for r in refs if SHA_REF.match(r)]

    def test_rendering_is_byte_identical_for_the_same_settings(self) -> None:
        cfg = RENDERINGS["three-images-multi-arch"]
        assert render(settings_for(**cfg)) == render(settings_for(**cfg))

    def test_user_values_are_quoted_by_the_emitter(self) -> None:
        tricky = "app: x #not-a-comment"
        doc = wf(images=[{"name": "api", "context": tricky, "paths": ["*.go", "- x"]}])
        build = steps(build_job(doc))["docker/build-push-action"]["with"]
        assert build["context"] == tricky
        filters = load(steps(doc["jobs"]["changes"])["dorny/paths-filter"]["with"]["filters"])
        assert filters == {"api": ["*.go", "- x"]}

    def test_header_says_the_file_is_managed_by_the_stack(self) -> None:
        assert render(settings_for(stack="prod")).startswith(
            "# Managed by acr-pipeline (Pulumi stack 'prod')"
        )


class TestBuildOptions:
    def test_build_args_and_target_reach_build_push(self) -> None:
        image = {"name": "api", "buildArgs": {"VERSION": "1.2", "BASE": "alpine:3"}, "target": "runtime"}
        build = steps(build_job(wf(images=[image])))["docker/build-push-action"]["with"]
        assert build["build-args"].splitlines() == ["VERSION=1.2", "BASE=alpine:3"]
        assert build["target"] == "runtime"

    def test_extra_labels_go_to_the_metadata_action_which_adds_its_own(self) -> None:
        image = {"name": "api", "labels": {"org.opencontainers.image.vendor": "ACME", "team": "payments"}}
        meta = steps(build_job(wf(images=[image])))["docker/metadata-action"]["with"]
        assert meta["labels"].splitlines() == ["org.opencontainers.image.vendor=ACME", "team=payments"]
        assert "labels" not in steps(build_job(wf()))["docker/metadata-action"]["with"]

    def test_a_dockerfile_outside_the_context_is_watched_too(self) -> None:
        doc = wf(images=[{"name": "api", "dockerfile": "docker/api.Dockerfile"}])
        filters = load(steps(doc["jobs"]["changes"])["dorny/paths-filter"]["with"]["filters"])
        assert filters == {"api": ["api/**", "docker/api.Dockerfile", ".github/workflows/build-push.yml"]}

    def test_no_build_args_or_target_unless_configured(self) -> None:
        build = steps(build_job(wf()))["docker/build-push-action"]["with"]
        assert "build-args" not in build
        assert "target" not in build

    def test_immutable_repositories_get_only_tags_that_never_move(self) -> None:
        doc = wf(images=[{"name": "api", "immutableTags": True}, {"name": "web"}])
        api = steps(build_job(doc, "api"))["docker/metadata-action"]["with"]["tags"].splitlines()
        web = steps(build_job(doc, "web"))["docker/metadata-action"]["with"]["tags"].splitlines()
        assert api == ["type=sha", "type=semver,pattern={{version}}"]
        assert "type=raw,value=latest,enable={{is_default_branch}}" in web

    def test_tag_only_builds_have_no_branch_trigger_and_no_change_detection(self) -> None:
        doc = wf(workflow={"tags": ["v*"], "branchBuilds": False})
        assert doc["on"] == {"push": {"tags": ["v*"]}, "workflow_dispatch": None}
        assert list(doc["jobs"]) == ["api-build-and-push"]
        assert "needs" not in build_job(doc)
        assert "if" not in build_job(doc)


class TestFailureNotification:
    def test_notify_job_runs_after_every_job_only_on_failure(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        job = doc["jobs"]["notify-failure"]
        assert job["needs"] == ["changes", "api-build-and-push", "web-build-and-push"]
        assert job["if"] == "${{ failure() }}"
        assert job["permissions"] == {}

    def test_webhook_url_reaches_the_shell_only_through_env(self) -> None:
        job = wf(workflow={"notify": {"kind": "dingtalk", "secret": "DINGTALK_HOOK"}})["jobs"][
            "notify-failure"
        ]
        (step,) = job["steps"]
        assert step["env"]["WEBHOOK_URL"] == "${{ secrets.DINGTALK_HOOK }}"
        assert "${{" not in step["run"]
        assert '"$WEBHOOK_URL"' in step["run"]

    @pytest.mark.parametrize(
        ("kind", "payload"),
        [
            ("dingtalk", '{msgtype: "text", text: {content: $text}}'),
            ("feishu", '{msg_type: "text", content: {text: $text}}'),
            ("slack", "{text: $text}"),
        ],
    )
    def test_each_webhook_kind_gets_its_payload_shape(self, kind: str, payload: str) -> None:
        (step,) = wf(workflow={"notify": {"kind": kind}})["jobs"]["notify-failure"]["steps"]
        assert f"'{payload}'" in step["run"]

    def test_notify_job_never_waits_for_an_environment(self) -> None:
        doc = wf(github={"environment": "prod"}, workflow={"notify": {"kind": "slack"}})
        assert "environment" not in doc["jobs"]["notify-failure"]


@pytest.mark.parametrize("name", GOLDEN)
def test_rendering_matches_its_golden_file(name: str) -> None:
    """Reviewed examples of the committed file (tests/golden/workflows)."""
    assert_matches_golden(render(settings_for(**RENDERINGS[name])), f"workflows/{name}.yml")


def test_every_zizmor_suppression_says_why() -> None:
    for name, text in all_renderings().items():
        for line in text.splitlines():
            if "zizmor: ignore[" in line:
                reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                assert len(reason) > 10, f"{name}: suppression without a reason: {line.strip()}"


# --- the checkers, on every representative rendering ------------------------------------


@pytest.fixture(scope="module")
def workflow_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    target = root / ".github" / "workflows"
    target.mkdir(parents=True)
    for name, text in all_renderings().items():
        (target / f"{name}.yml").write_text(text)
    return target


def test_renderings_cover_every_fixture_stack(workflow_dir: Path) -> None:
    names = {p.stem for p in workflow_dir.iterdir()}
    assert {f"stack-{s}" for s in stack_names(FIXTURES)} <= names
    assert len(names) >= len(RENDERINGS) + 2


def test_actionlint_zizmor_and_the_workflow_schema_find_nothing(workflow_dir: Path) -> None:
    assert lint_workflows(workflow_dir) == []
