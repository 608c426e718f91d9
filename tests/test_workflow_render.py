"""The rendered workflow: structure, least privilege, pins, determinism, and the checkers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.config import ConfigError
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


def evaluate(
    condition: str,
    event: str,
    ref_type: str,
    needs_result: str,
    outputs: dict[str, str],
    extra: dict[str, str] | None = None,
) -> bool:
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
        **(extra or {}),
    }
    expr = re.sub(r"[a-z_]+(?:\.[a-z0-9_-]+)+", lambda m: repr(values.get(m.group(0), "")), expr)
    expr = expr.replace("failure()", repr(needs_result == "failure"))
    expr = expr.replace("cancelled()", repr(needs_result == "cancelled"))
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    return bool(eval(expr, {"__builtins__": {}}))  # noqa: S307 - a test over our own expressions


TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}
THREE = {"name": "api", "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7"]}
RENDERINGS: dict[str, Any] = {
    "one-image": {},
    "native-two-platforms": {"images": [TWO]},
    "native-three-platforms-environment": {"images": [THREE], "github": {"environment": "production"}},
    "promote-immutable": {
        "images": [{**TWO, "immutableTags": True}, {"name": "web"}],
        "workflow": {"tags": ["v*"], "branchBuilds": False, "promote": {"fromNamespaces": ["acme-staging"]}},
    },
    "emulate": {"images": [THREE], "workflow": {"emulate": True}},
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
    """Every representative rendering, in both pin modes (actionlint checks the inputs of
    actions pinned by tag only), and every fixture stack's."""
    texts = {name: render(settings_for(**cfg)) for name, cfg in RENDERINGS.items()}
    for name, cfg in RENDERINGS.items():
        by_tag = {**cfg, "workflow": {**cfg.get("workflow", {}), "pinActions": "tag"}}
        texts[f"{name}-by-tag"] = render(settings_for(**by_tag))
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
        # The REST API: `gh run list --status` needs gh 2.26, which self-hosted runners may lack.
        assert "gh api --method GET" in last["run"]
        assert "-f status=success" in last["run"]
        assert "gh run list" not in last["run"]
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
            ("push", "branch", "failure", "", True),  # detection itself failed: fail open
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
            "type=ref,event=tag",
            "type=sha,enable=${{ github.ref_type != 'tag' }}",
            "type=semver,pattern={{version}}",
            "type=semver,pattern={{major}}.{{minor}}",
            "type=raw,value=latest,enable={{is_default_branch}}",
        ]

    def test_qemu_only_where_a_platform_has_no_native_runner_or_emulation_is_asked(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web", "platforms": ["linux/amd64", "linux/arm64"]}])
        for job in doc["jobs"].values():
            assert "docker/setup-qemu-action" not in steps(job), job["name"]
        emulated = wf(
            images=[{"name": "web", "platforms": ["linux/amd64", "linux/arm64"]}], workflow={"emulate": True}
        )
        web = steps(build_job(emulated, "web"))
        assert "docker/setup-qemu-action" in web
        assert web["docker/build-push-action"]["with"]["platforms"] == "linux/amd64,linux/arm64"

    def test_gha_cache_is_scoped_per_stack_and_image_and_can_be_disabled(self) -> None:
        build = steps(build_job(wf()))["docker/build-push-action"]["with"]
        assert build["cache-from"] == "type=gha,scope=dev-api"
        assert build["cache-to"] == "type=gha,mode=max,scope=dev-api"
        off = steps(build_job(wf(workflow={"cache": False})))["docker/build-push-action"]["with"]
        assert "cache-from" not in off
        assert "cache-to" not in off

    def test_two_stacks_of_one_repository_never_share_a_cache_scope(self) -> None:
        def scopes(stack: str, **overrides: Any) -> set[str]:
            doc = load(render(settings_for(stack=stack, images=[TWO, {"name": "web"}], **overrides)))
            found = set()
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    for key in ("cache-from", "cache-to"):
                        if key in step.get("with", {}):
                            found.add(step["with"][key].rpartition("scope=")[2])
            return found

        dev = scopes("dev")
        prod = scopes("prod", github={"environment": "production"}, workflow={"cache": True})
        assert len(dev) == 3
        assert len(prod) == 3
        assert dev.isdisjoint(prod)

    def test_a_reviewed_environment_builds_without_cache_unless_asked_and_then_warns(self) -> None:
        reviewed = {"environment": "production", "reviewers": {"teams": [1]}}
        build = steps(build_job(wf(github=reviewed)))["docker/build-push-action"]["with"]
        assert "cache-from" not in build
        assert settings_for(github=reviewed).warnings == []
        asked = settings_for(github=reviewed, workflow={"cache": True})
        ((key, warning),) = asked.warnings
        assert key == "acr-pipeline:workflow.cache"
        assert "anyone who can push to a branch can write the build cache" in warning
        assert "cache-from" in steps(build_job(load(render(asked))))["docker/build-push-action"]["with"]
        unreviewed = steps(build_job(wf(github={"environment": "staging"})))["docker/build-push-action"]
        assert "cache-from" in unreviewed["with"]

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

    def test_attestations_bring_a_buildx_that_honours_the_opt_out_downloaded_not_cached(self) -> None:
        setup = steps(build_job(wf(workflow={"attestations": True})))["docker/setup-buildx-action"]
        assert setup["with"] == {"version": "v0.36.1", "cache-binary": False}
        assert "with" not in steps(build_job(wf()))["docker/setup-buildx-action"]

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
        assert api == [
            "type=sha,enable=${{ github.ref_type != 'tag' }}",
            "type=ref,event=tag",
            "type=semver,pattern={{version}}",
        ]
        assert "type=raw,value=latest,enable={{is_default_branch}}" in web

    def test_tag_only_builds_have_no_branch_trigger_and_no_change_detection(self) -> None:
        doc = wf(workflow={"tags": ["v*"], "branchBuilds": False})
        assert doc["on"] == {"push": {"tags": ["v*"]}, "workflow_dispatch": None}
        assert list(doc["jobs"]) == ["api-build-and-push"]
        assert "needs" not in build_job(doc)
        # A manual run of such a stack builds from a tag only: never `sha-` of some branch
        # into the release repository.
        condition = build_job(doc)["if"]
        assert evaluate(condition, "push", "tag", "", {})
        assert evaluate(condition, "workflow_dispatch", "tag", "", {})
        assert not evaluate(condition, "workflow_dispatch", "branch", "", {})


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


# --- native multi-arch builds, promotion, timeouts and retries -------------------------------


def uses_of(job: dict[str, Any]) -> list[str]:
    return [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]


class TestNativeMultiArch:
    def test_each_platform_builds_natively_in_a_job_of_its_own_and_the_merge_job_joins_them(self) -> None:
        jobs = wf(images=[TWO])["jobs"]
        assert list(jobs) == ["changes", "api-build-amd64", "api-build-arm64", "api-build-and-push"]
        assert jobs["api-build-amd64"]["runs-on"] == "ubuntu-24.04"
        assert jobs["api-build-arm64"]["runs-on"] == "ubuntu-24.04-arm"
        for platform_job in ("api-build-amd64", "api-build-arm64"):
            assert "docker/setup-qemu-action" not in uses_of(jobs[platform_job]), platform_job
        merge = jobs["api-build-and-push"]
        assert merge["needs"] == ["api-build-amd64", "api-build-arm64"]
        assert "docker/build-push-action" not in uses_of(merge)

    def test_platform_jobs_push_by_digest_with_their_own_cache_and_hand_the_digest_on(self) -> None:
        jobs = wf(images=[TWO])["jobs"]
        for arch in ("amd64", "arm64"):
            job = jobs[f"api-build-{arch}"]
            build = steps(job)["docker/build-push-action"]["with"]
            assert build["platforms"] == f"linux/{arch}"
            assert build["outputs"] == "type=image,push-by-digest=true,name-canonical=true,push=true"
            assert build["tags"] == "${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}", "a name, no tag"
            assert build["cache-from"] == f"type=gha,scope=dev-api-{arch}"
            assert job["outputs"] == {
                "digest": "${{ steps.push.outputs.digest || steps.retry.outputs.digest }}"
            }
        merge = jobs["api-build-and-push"]
        (create,) = [s for s in merge["steps"] if "imagetools create" in s.get("run", "")]
        assert create["env"]["DIGESTS"] == (
            "${{ needs.api-build-amd64.outputs.digest }} ${{ needs.api-build-arm64.outputs.digest }}"
        )
        assert "${{" not in create["run"]

    def test_the_merged_image_gets_the_tags_the_single_job_build_gave_it(self) -> None:
        merged = steps(wf(images=[TWO])["jobs"]["api-build-and-push"])["docker/metadata-action"]["with"]
        single = steps(build_job(wf(images=[TWO], workflow={"emulate": True})))["docker/metadata-action"][
            "with"
        ]
        assert merged == single

    def test_a_platform_without_a_native_runner_builds_under_qemu_on_the_amd64_runner(self) -> None:
        jobs = wf(images=[THREE])["jobs"]
        arm7 = jobs["api-build-arm-v7"]
        assert arm7["runs-on"] == "ubuntu-24.04"
        assert "docker/setup-qemu-action" in uses_of(arm7)
        assert "docker/setup-qemu-action" not in uses_of(jobs["api-build-arm64"])
        assert jobs["api-build-and-push"]["needs"] == [
            "api-build-amd64",
            "api-build-arm64",
            "api-build-arm-v7",
        ]

    def test_runners_can_be_replaced_or_removed(self) -> None:
        runners = {"linux/amd64": "self-hosted-x64", "linux/arm64": None}
        jobs = wf(images=[TWO], workflow={"runners": runners})["jobs"]
        assert jobs["api-build-arm64"]["runs-on"] == "self-hosted-x64"
        assert "docker/setup-qemu-action" in uses_of(jobs["api-build-arm64"])
        assert {job["runs-on"] for job in jobs.values()} == {"self-hosted-x64"}

    def test_emulate_keeps_one_qemu_job_per_image(self) -> None:
        jobs = wf(images=[THREE], workflow={"emulate": True})["jobs"]
        assert list(jobs) == ["changes", "api-build-and-push"]
        build = steps(jobs["api-build-and-push"])["docker/build-push-action"]["with"]
        assert build["platforms"] == "linux/amd64,linux/arm64,linux/arm/v7"

    def test_a_single_platform_image_keeps_one_job(self) -> None:
        assert list(wf()["jobs"]) == ["changes", "api-build-and-push"]

    def test_a_single_platform_image_builds_on_a_runner_of_its_architecture(self) -> None:
        arm64 = build_job(wf(images=[{"name": "api", "platforms": ["linux/arm64"]}]))
        assert arm64["runs-on"] == "ubuntu-24.04-arm"
        assert "docker/setup-qemu-action" not in uses_of(arm64)
        arm7 = build_job(wf(images=[{"name": "api", "platforms": ["linux/arm/v7"]}]))
        assert arm7["runs-on"] == "ubuntu-24.04"
        assert "docker/setup-qemu-action" in uses_of(arm7)
        assert "docker/setup-qemu-action" not in uses_of(build_job(wf()))

    def test_emulate_builds_even_a_single_arm64_image_under_qemu_on_the_amd64_runner(self) -> None:
        job = build_job(
            wf(images=[{"name": "api", "platforms": ["linux/arm64"]}], workflow={"emulate": True})
        )
        assert job["runs-on"] == "ubuntu-24.04"
        assert "docker/setup-qemu-action" in uses_of(job)

    @pytest.mark.parametrize(
        ("arm64", "ancestor", "merges"),
        [
            ("success", "success", True),
            ("failure", "failure", False),
            ("skipped", "success", False),
            # The `changes` job failed (failure() is true for a failed ancestor): the builds
            # failed open and pushed, so the merge tags them.
            ("success", "failure", True),
            ("success", "cancelled", False),
        ],
    )
    def test_the_merge_runs_exactly_when_every_platform_built(
        self, arm64: str, ancestor: str, merges: bool
    ) -> None:
        merge = wf(images=[TWO])["jobs"]["api-build-and-push"]
        results = {"needs.api-build-amd64.result": "success", "needs.api-build-arm64.result": arm64}
        assert evaluate(merge["if"], "push", "branch", ancestor, {}, results) is merges

    def test_with_an_environment_every_job_that_pushes_declares_it(self) -> None:
        jobs = wf(images=[TWO], github={"environment": "production"})["jobs"]
        for job_id in ("api-build-amd64", "api-build-arm64", "api-build-and-push"):
            assert jobs[job_id]["environment"] == "production", job_id
        assert "environment" not in jobs["changes"]


class TestTimeoutsAndRetries:
    def test_no_job_in_any_rendering_lacks_a_timeout_and_none_runs_on_latest(self) -> None:
        for name, text in all_renderings().items():
            for job_id, job in load(text)["jobs"].items():
                assert isinstance(job.get("timeout-minutes"), int), f"{name}: {job_id}"
                assert "latest" not in str(job["runs-on"]), f"{name}: {job_id}"

    def test_timeouts_are_per_job_kind_and_configurable(self) -> None:
        jobs = wf(images=[TWO], workflow={"timeoutMinutes": {"build": 90}, "notify": {"kind": "slack"}})[
            "jobs"
        ]
        assert jobs["changes"]["timeout-minutes"] == 10
        assert jobs["api-build-arm64"]["timeout-minutes"] == 90
        assert jobs["api-build-and-push"]["timeout-minutes"] == 15
        assert jobs["notify-failure"]["timeout-minutes"] == 5

    def test_a_push_is_retried_once_after_a_pause(self) -> None:
        job = build_job(wf())
        names = [s["name"] for s in job["steps"]]
        first, pause, again = (
            job["steps"][names.index(n)]
            for n in ("Build and push", "Pause before the retry", "Build and push (retry)")
        )
        assert first["continue-on-error"] is True
        assert pause["if"] == again["if"] == "${{ steps.push.outcome == 'failure' }}"
        assert first["with"] == again["with"]

    def test_the_merge_is_retried_once(self) -> None:
        merge = wf(images=[TWO])["jobs"]["api-build-and-push"]
        (create,) = [s for s in merge["steps"] if "imagetools create" in s.get("run", "")]
        assert "for attempt in 1 2; do" in create["run"]
        assert "sleep 30" in create["run"]


class TestImmutableTags:
    def test_a_release_tag_run_never_pushes_the_sha_tag_the_branch_run_owns(self) -> None:
        rules = steps(build_job(wf(images=[{"name": "api", "immutableTags": True}])))[
            "docker/metadata-action"
        ]
        for rule in rules["with"]["tags"].splitlines():
            if rule.startswith("type=sha"):
                enable = rule.split("enable=", 1)[1]
                assert evaluate(enable, "push", "branch", "", {})
                assert not evaluate(enable, "push", "tag", "", {})

    def test_a_rerun_pushes_nothing_already_there_and_succeeds(self) -> None:
        for image in ({"name": "api", "immutableTags": True}, {**TWO, "immutableTags": True}):
            job = build_job(wf(images=[image]))
            pushed = next(s for s in job["steps"] if s.get("id") == "pushed")
            assert "imagetools inspect" in pushed["run"]
            gated = [s for s in job["steps"] if "pushed.outputs.all" in str(s.get("if", ""))]
            assert gated, image
        plain = build_job(wf())
        assert not [s for s in plain["steps"] if s.get("id") == "pushed"]


PROMOTE: dict[str, Any] = {"tags": ["v*"], "promote": {"fromNamespaces": ["acme-staging"]}}


class TestTagsOnlyStacks:
    def test_a_stack_without_branch_builds_tags_its_release_images_with_their_commit(self) -> None:
        """No branch run owns `sha-` there, and a later stack's promotion looks for it."""
        tags = steps(build_job(wf(workflow={"tags": ["v*"], "branchBuilds": False})))[
            "docker/metadata-action"
        ]["with"]["tags"].splitlines()
        assert "type=sha" in tags
        with_branches = steps(build_job(wf(workflow={"tags": ["v*"]})))["docker/metadata-action"]["with"]
        assert "type=sha" not in with_branches["tags"].splitlines()

    def test_an_immutable_repository_of_a_tags_only_stack_gets_no_sha_tag_on_release_runs(self) -> None:
        """A second release tag of the same commit would push `sha-` again, as another image."""
        image = {"name": "api", "immutableTags": True}
        meta = steps(build_job(wf(images=[image], workflow={"tags": ["v*"], "branchBuilds": False})))[
            "docker/metadata-action"
        ]
        for rule in meta["with"]["tags"].splitlines():
            if rule.startswith("type=sha"):
                assert not evaluate(rule.split("enable=", 1)[1], "push", "tag", "", {})


class TestPromote:
    def test_a_release_tag_retags_the_commits_image_from_this_or_the_named_namespace(self) -> None:
        jobs = wf(images=[TWO], workflow=PROMOTE)["jobs"]
        promote = jobs["api-promote"]
        assert promote["if"] == "${{ github.ref_type == 'tag' }}"
        (step,) = [s for s in promote["steps"] if s.get("id") == "promote"]
        assert step["env"]["SOURCES"].splitlines() == [
            "${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}",
            "${{ vars.ALIYUN_REGISTRY }}/acme-staging/api",
        ]
        # A commit whose files under the image's paths are the tagged one's holds the same image.
        assert 'git diff --quiet "$commit" HEAD -- "${pathspecs[@]}"' in step["run"]
        assert step["env"]["PATHSPECS"].splitlines() == [
            ":(glob)api/**",
            ":(glob).github/workflows/build-push.yml",
        ]
        assert "docker buildx imagetools create" in step["run"]
        assert promote["steps"][0]["with"]["fetch-depth"] == 0
        assert "${{" not in step["run"]

    def test_builds_skip_when_the_promotion_failed(self) -> None:
        """No image, and `promote.build: false`: the run fails in the promote job, building nothing."""
        job = build_job(wf(workflow={"tags": ["v*"], "promote": {"build": False}}))
        failed = {"needs.api-promote.result": "failure", "needs.api-promote.outputs.promoted": "false"}
        assert not evaluate(job["if"], "push", "tag", "failure", {}, failed)
        found_none = {"needs.api-promote.result": "success", "needs.api-promote.outputs.promoted": "false"}
        assert evaluate(job["if"], "push", "tag", "success", {}, found_none)

    def test_builds_wait_for_the_promotion_and_skip_when_it_promoted(self) -> None:
        jobs = wf(images=[TWO], workflow=PROMOTE)["jobs"]
        for job_id in ("api-build-amd64", "api-build-arm64"):
            job = jobs[job_id]
            assert job["needs"] == ["changes", "api-promote"]
            promoted = {"needs.api-promote.outputs.promoted": "true"}
            assert not evaluate(job["if"], "push", "tag", "success", {}, promoted)
            assert evaluate(
                job["if"], "push", "tag", "success", {}, {"needs.api-promote.outputs.promoted": "false"}
            )
            assert evaluate(job["if"], "push", "branch", "success", {"api": "true"})

    def test_without_an_image_and_with_building_off_the_run_fails_clearly(self) -> None:
        off = wf(workflow={"tags": ["v*"], "promote": {"build": False}})["jobs"]["api-promote"]
        (step,) = [s for s in off["steps"] if s.get("id") == "promote"]
        assert step["env"]["BUILD"] == "false"
        assert (
            "::error::no image of this commit (${candidates[*]}) in $SOURCES; promote.build is false"
            in step["run"]
        )

    @pytest.mark.skipif(
        None in (shutil.which("jq"), shutil.which("git"), shutil.which("bash")), reason="needs jq, git, bash"
    )
    @pytest.mark.parametrize(
        ("built", "found"),
        [
            ("api-change", "api-change"),  # the feature commit whose run built the merged change
            ("merge", "merge"),
            ("tagged", "tagged"),  # a later run, whose sha is nearer the tag
            ("docs", None),  # main's commit beside the feature: built without the merged change
            ("before", None),  # an image of older inputs is not this release's
        ],
    )
    def test_the_promotion_takes_only_an_image_built_from_the_tagged_commits_files(
        self, tmp_path: Path, built: str, found: str | None
    ) -> None:
        """The promote step's script on a real history with a merge: branch runs build only the
        images whose files changed, so the tagged commit's image may carry an older commit's
        `sha-`, but never that of a commit whose image files differ from the tagged one's."""
        job = wf(workflow={"tags": ["v*"], "promote": {"build": False}})["jobs"]["api-promote"]
        (step,) = [s for s in job["steps"] if s.get("id") == "promote"]
        repo = tmp_path / "repo"
        git_bin, bash_bin = shutil.which("git"), shutil.which("bash")
        assert git_bin
        assert bash_bin
        git = [git_bin, "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([git_bin, "init", "-q", "-b", "main", str(repo)], check=True)
        commits: dict[str, str] = {}

        def commit(name: str, path: str | None = None, *merge: str) -> None:
            if path:
                (repo / path).parent.mkdir(exist_ok=True)
                (repo / path).write_text(name)
                subprocess.run([*git, "add", "-A"], check=True)
                subprocess.run([*git, "commit", "-qm", name], check=True)
            else:
                subprocess.run([*git, "merge", "-q", "--no-ff", "-m", name, *merge], check=True)
            sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
            commits[name] = sha.stdout.strip()[:7]

        # before (main) -> api-change (feature); docs (main); merge of feature; tagged (main)
        commit("before", "api/main.py")
        subprocess.run([*git, "checkout", "-qb", "feature"], check=True)
        commit("api-change", "api/main.py")
        subprocess.run([*git, "checkout", "-q", "main"], check=True)
        commit("docs", "README.md")
        commit("merge", None, "feature")
        commit("tagged", "README.md")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        log = tmp_path / "docker.log"
        # A registry holding only the image the branch run `built`.
        (bin_dir / "docker").write_text(
            "#!/bin/bash\n"
            f'echo "$*" >> {log}\n'
            f'if [ "$3" = inspect ]; then [[ "$4" == *":sha-{commits[built]}" ]]; fi\n'
        )
        (bin_dir / "docker").chmod(0o755)
        output = tmp_path / "output"
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "SOURCES": "registry/acme/api\n",
            "PATHSPECS": step["env"]["PATHSPECS"],
            "BUILD": step["env"]["BUILD"],
            "GITHUB_OUTPUT": str(output),
            "DOCKER_METADATA_OUTPUT_JSON": json.dumps({"tags": ["registry/acme/api:1.2.0"]}),
        }
        # As GitHub runs a `run:` step.
        run = subprocess.run(
            [bash_bin, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        creates = [line for line in log.read_text().splitlines() if " create " in line]
        if found is None:
            assert run.returncode == 1
            assert "no image of this commit" in run.stdout
            assert output.read_text() == "promoted=false\n"
            assert not creates
        else:
            assert run.returncode == 0, run.stderr
            assert creates == [
                f"buildx imagetools create -t registry/acme/api:1.2.0 registry/acme/api:sha-{commits[found]}"
            ]
            assert output.read_text() == "promoted=true\n"

    def test_promotion_needs_release_tags(self) -> None:
        with pytest.raises(ConfigError, match=r"workflow.promote.*workflow.tags"):
            settings_for(workflow={"promote": {}})


class TestChangeDetection:
    def test_it_does_not_depend_on_a_recent_gh(self) -> None:
        last = next(s for s in wf()["jobs"]["changes"]["steps"] if s.get("id") == "last")
        assert "--status" not in last["run"]
