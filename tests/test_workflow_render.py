"""The rendered workflow: structure, least privilege, pins, determinism, and the checkers."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.config import ConfigError
from components.pins import PINS
from components.workflow_render import render, render_pull_requests
from components.workflow_render.parts import SCRIPTS, script
from tests.conftest import (
    FIXTURES,
    OIDC,
    assert_matches_golden,
    fixture_settings,
    job_step,
    lint_workflows,
    settings_for,
    tool,
)
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
RENDERINGS["oidc-environment"] = {**OIDC, "github": {"environment": "production"}}
RENDERINGS["pull-requests-multi-arch"] = {
    "images": [TWO, {"name": "web", "context": "frontend"}],
    "workflow": {"pullRequests": True},
}
# Renderings also linted with tag pins (actionlint checks the inputs of actions pinned by tag
# only): between them, every action the renderer uses, with every input it sets.
BY_TAG = (
    "three-images-multi-arch",
    "promote-immutable",
    "tags-environment-no-cache",
    "release-only-notify-immutable",
    "pull-requests-multi-arch",
    "oidc-environment",
)
GOLDEN = (
    "one-image",
    "three-images-multi-arch",
    "tags-environment-no-cache",
    "tag-pins",
    "promote-immutable",
    "release-only-notify-immutable",
    "oidc-environment",
)


@functools.cache
def all_renderings() -> dict[str, str]:
    """Every representative rendering (those of BY_TAG in both pin modes), every fixture
    stack's, and the pull-request workflows of those that have one (`<name>-pull-requests`).
    Rendered once per session: read, never change."""
    texts: dict[str, str] = {}
    for name, cfg in RENDERINGS.items():
        by_tag = {**cfg, "workflow": {**cfg.get("workflow", {}), "pinActions": "tag"}}
        pins = [("", settings_for(**cfg))]
        if name in BY_TAG:
            pins.append(("-by-tag", settings_for(**by_tag)))
        for suffix, settings in pins:
            texts[f"{name}{suffix}"] = render(settings)
            if settings.workflow.pull_requests:
                texts[f"{name}{suffix}-pull-requests"] = render_pull_requests(settings)
    for name in stack_names(FIXTURES):
        settings = fixture_settings(name)
        texts[f"stack-{name}"] = render(settings)
        if settings.workflow.pull_requests:
            texts[f"stack-{name}-pull-requests"] = render_pull_requests(settings)
    return texts


@functools.cache
def loaded_renderings() -> dict[str, Any]:
    return {name: load(text) for name, text in all_renderings().items()}


def uses_of(job: dict[str, Any]) -> list[str]:
    return [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]


class TestTriggersAndPrivileges:
    def test_push_to_the_branch_and_manual_runs_trigger_it_with_a_verify_switch(self) -> None:
        doc = wf()
        assert doc["on"]["push"] == {"branches": ["main"]}
        verify = doc["on"]["workflow_dispatch"]["inputs"]["verify"]
        assert verify["type"] == "boolean"
        assert verify["default"] is False

    def test_tag_patterns_also_trigger(self) -> None:
        doc = wf(workflow={"tags": ["v*"]})
        assert doc["on"]["push"]["tags"] == ["v*"]

    def test_permissions_are_read_only_and_per_job(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        assert doc["permissions"] == {"contents": "read"}
        # The changes job reads the run history to find the last successful build.
        assert doc["jobs"]["changes"]["permissions"] == {"contents": "read", "actions": "read"}
        for job_id in ("api-build-and-push", "web-build-and-push", "verify"):
            assert doc["jobs"][job_id]["permissions"] == {"contents": "read"}, job_id
        assert doc["jobs"]["notify-failure"]["permissions"] == {}

    def test_superseded_runs_of_a_ref_are_cancelled_and_a_verify_run_cancels_no_build(self) -> None:
        assert wf()["concurrency"] == {
            "group": "${{ github.workflow }}-${{ github.ref }}${{ inputs.verify && '-verify' || '' }}",
            "cancel-in-progress": True,
        }

    def test_secrets_are_referenced_only_by_the_login_and_the_failure_notice(self) -> None:
        """In every rendering: the registry login reads the two login secrets, the notify job's
        one step its webhook secret, and no other step, job or workflow-level `env` any secret."""
        seen = {"login": 0, "notify": 0}
        for name, doc in loaded_renderings().items():
            assert "secrets." not in str({k: v for k, v in doc.items() if k != "jobs"}), name
            for job_id, job in doc["jobs"].items():
                assert "secrets." not in str({k: v for k, v in job.items() if k != "steps"}), (name, job_id)
                for step in job["steps"]:
                    read = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", str(step)))
                    where = (name, job_id, step.get("name"))
                    if step.get("uses", "").startswith("docker/login-action@") and read:
                        assert read == {"ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"}, where
                        seen["login"] += 1
                    elif job_id == "notify-failure" and read:
                        assert len(read) == 1, where
                        assert set(step["env"].values()) >= {f"${{{{ secrets.{read.pop()} }}}}"}, where
                        seen["notify"] += 1
                    else:
                        assert read == set(), where
        assert seen["login"] > 0, "the renderings include password logins"
        assert seen["notify"] > 0, "and failure notices"

    def test_login_uses_the_contract_variable_and_secrets(self) -> None:
        login = steps(build_job(wf()))["docker/login-action"]
        assert login["with"] == {
            "registry": "${{ vars.ALIYUN_REGISTRY }}",
            "username": "${{ secrets.ALIYUN_REGISTRY_USER }}",
            "password": "${{ secrets.ALIYUN_REGISTRY_PWD }}",
        }

    def test_checkouts_keep_no_credentials(self) -> None:
        for name, doc in loaded_renderings().items():
            for job_id, job in doc["jobs"].items():
                for step in job["steps"]:
                    if step.get("uses", "").startswith("actions/checkout@"):
                        assert step["with"]["persist-credentials"] is False, (name, job_id)


class TestChangeDetection:
    def test_one_output_per_image_from_the_script(self) -> None:
        changes = wf(images=[{"name": "api"}, {"name": "web", "context": "frontend"}])["jobs"]["changes"]
        assert changes["outputs"] == {
            "api": "${{ steps.changes.outputs.api }}",
            "web": "${{ steps.changes.outputs.web }}",
        }
        step = job_step(changes, "changes")
        assert step["id"] == "changes"
        assert step["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api + ^\.github/workflows/build-push\.yml$",
            r"web + ^frontend/.*$",
            r"web + ^\.github/workflows/build-push\.yml$",
        ]

    def test_no_history_is_cloned(self) -> None:
        """The files come from GitHub's compare API; the promote job fetches only the commits it reads."""
        for name, text in all_renderings().items():
            assert "fetch-depth: 0" not in text, name
        assert "actions/checkout" not in uses_of(wf()["jobs"]["changes"])

    def test_it_compares_with_the_last_successful_run_of_this_workflow_and_branch(self) -> None:
        step = job_step(wf(workflow={"path": ".github/workflows/images.yml"})["jobs"]["changes"], "changes")
        assert step["env"]["WORKFLOW"] == "images.yml"
        assert step["env"]["BRANCH"] == "${{ github.ref_name }}"
        assert step["env"]["HEAD"] == "${{ github.sha }}"
        assert step["env"]["GH_TOKEN"] == "${{ github.token }}"  # noqa: S105 - the job's own token

    def test_a_dockerfile_outside_the_context_is_watched_too(self) -> None:
        doc = wf(images=[{"name": "api", "dockerfile": "docker/api.Dockerfile"}])
        assert job_step(doc["jobs"]["changes"], "changes")["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api + ^docker/api\.Dockerfile$",
            r"api + ^\.github/workflows/build-push\.yml$",
        ]

    def test_an_excluding_pattern_is_marked_as_such(self) -> None:
        doc = wf(images=[{"name": "api", "paths": ["api/**", "!api/docs/**"]}])
        assert job_step(doc["jobs"]["changes"], "changes")["env"]["FILTERS"].splitlines() == [
            r"api + ^api/.*$",
            r"api - ^api/docs/.*$",
        ]


class TestJobs:
    def test_one_build_job_per_image_named_after_it_and_a_verify_job(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}])
        assert list(doc["jobs"]) == ["changes", "api-build-and-push", "web-build-and-push", "verify"]

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
        assert build["cache-from"] == "type=gha,scope=dev+api"
        assert build["cache-to"] == "type=gha,mode=max,scope=dev+api"
        off = steps(build_job(wf(workflow={"cache": False})))["docker/build-push-action"]["with"]
        assert "cache-from" not in off
        assert "cache-to" not in off

    def test_two_stacks_of_one_repository_never_share_a_cache_scope(self) -> None:
        def scopes(stack: str, images: Any = (TWO, {"name": "web"}), **overrides: Any) -> set[str]:
            doc = load(render(settings_for(stack=stack, images=list(images), **overrides)))
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
        # Names that a `-` would run together: stack `prod` with image `eu-api`, stack `prod-eu`
        # with image `api`; an image `api-arm64` beside image `api`'s arm64 platform.
        assert scopes("prod", images=[{"name": "eu-api"}]).isdisjoint(
            scopes("prod-eu", images=[{"name": "api"}])
        )
        both = scopes("dev", images=[TWO, {"name": "api-arm64"}])
        assert len(both) == 3, both

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

    def test_jobs_that_log_in_declare_the_environment_and_no_other_does(self) -> None:
        doc = wf(images=[TWO], github={"environment": "production"}, workflow={"notify": {"kind": "slack"}})
        logs_in = {job_id for job_id, job in doc["jobs"].items() if "docker/login-action" in uses_of(job)}
        assert logs_in == {"api-build-amd64", "api-build-arm64", "verify"}
        for job_id, job in doc["jobs"].items():
            assert (job.get("environment") == "production") == (job_id in logs_in), job_id


class TestPinsAndText:
    def test_every_action_is_pinned_by_sha_with_its_version_comment(self) -> None:
        text = render(
            settings_for(images=[TWO], workflow={"notify": {"kind": "slack"}, "pullRequests": True})
        )
        text += render_pull_requests(settings_for(workflow={"pullRequests": True}))
        for line in text.splitlines():
            if "uses:" not in line:
                continue
            ref, _, comment = line.split("uses:", 1)[1].strip().partition("#")
            match = SHA_REF.match(ref.strip())
            assert match, ref
            pin = PINS[match["action"]]
            assert match["sha"] == pin.sha
            assert comment.strip() == pin.version, ref

    def test_tag_mode_uses_major_version_tags(self) -> None:
        text = render(settings_for(workflow={"pinActions": "tag"}))
        refs = re.findall(r"uses: (\S+)", text)
        assert "actions/checkout@v7" in refs
        assert "docker/build-push-action@v7" in refs
        assert not [r for r in refs if SHA_REF.match(r)]

    def test_rendering_is_byte_identical_for_the_same_settings_in_any_process(self) -> None:
        """Two interpreters with different string hashes (set order) render the same bytes: a
        re-run of `pulumi up` never commits a reordered workflow."""
        code = (
            "from tests.conftest import settings_for; from tests.test_workflow_render import RENDERINGS; "
            "from components.workflow_render import render; import sys; "
            "sys.stdout.write(render(settings_for(**RENDERINGS['three-images-multi-arch'])))"
        )
        texts = {
            subprocess.run(
                [sys.executable, "-c", code],
                env={**os.environ, "PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout
            for seed in ("1", "2")
        }
        assert len(texts) == 1
        assert texts == {render(settings_for(**RENDERINGS["three-images-multi-arch"]))}

    def test_user_values_are_quoted_by_the_emitter_and_never_reach_a_script(self) -> None:
        tricky = "app: x #not-a-comment"
        doc = wf(images=[{"name": "api", "context": tricky, "paths": ["*.go", "- x"]}])
        build = steps(build_job(doc))["docker/build-push-action"]["with"]
        assert build["context"] == tricky
        assert job_step(doc["jobs"]["changes"], "changes")["env"]["FILTERS"].splitlines() == [
            r"api + ^[^/]*\.go$",
            "api + ^- x$",
        ]
        for name, doc in loaded_renderings().items():
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    assert "${{" not in step.get("run", ""), f"{name}: {step['name']}"

    def test_every_script_a_step_runs_is_one_of_the_files_placed_as_it_is(self) -> None:
        """Non-trivial shell lives in components/workflow_render/scripts (shellcheck, bash -n and
        tests/test_scripts.py read it as files); a `run:` of more than three lines is one of them."""
        placed = {script(p.stem) for p in SCRIPTS.glob("*.sh")}
        # The only other shell, a line or a few, each run by tests/test_scripts.py (TestInlineSteps).
        inline = {
            "Pause before the retry",
            "Record the digest",
            "Check that the multi-arch image was created",
            "Say how to run it",
        }
        for name, doc in loaded_renderings().items():
            for job in doc["jobs"].values():
                for step in job["steps"]:
                    if "run" in step and step["run"] not in placed:
                        assert step["name"] in inline, f"{name}: {step['name']}"
                        assert len(step["run"].splitlines()) <= 5, f"{name}: {step['name']}"

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

    def test_a_tags_only_stack_has_no_branch_trigger_no_change_detection_and_refuses_a_branch_run(
        self,
    ) -> None:
        doc = wf(workflow={"tags": ["v*"], "branchBuilds": False})
        assert doc["on"]["push"] == {"tags": ["v*"]}
        assert list(doc["jobs"]) == ["release-tags-only", "api-build-and-push", "verify"]
        assert "needs" not in build_job(doc)
        refuse = doc["jobs"]["release-tags-only"]
        assert refuse["permissions"] == {}
        (step,) = refuse["steps"]
        assert step["env"] == {"PATTERNS": "v*", "WORKFLOW": "build-push.yml"}
        assert "::error::this stack builds from release tags only ($PATTERNS)" in step["run"]
        assert "gh workflow run $WORKFLOW --ref v1.2.3" in step["run"]


class TestFailureNotification:
    def test_notify_job_runs_after_every_job_only_on_failure(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], workflow={"notify": {"kind": "slack"}})
        job = doc["jobs"]["notify-failure"]
        assert job["needs"] == ["changes", "api-build-and-push", "web-build-and-push", "verify"]
        assert job["if"] == "${{ failure() }}"
        assert job["permissions"] == {}

    def test_webhook_url_reaches_the_shell_only_through_env(self) -> None:
        job = wf(workflow={"notify": {"kind": "dingtalk", "secret": "DINGTALK_HOOK"}})["jobs"][
            "notify-failure"
        ]
        step = job_step(job, "notify")
        assert step["env"]["WEBHOOK_URL"] == "${{ secrets.DINGTALK_HOOK }}"
        assert step["env"]["KIND"] == "dingtalk"

    def test_notify_job_never_waits_for_an_environment(self) -> None:
        doc = wf(github={"environment": "prod"}, workflow={"notify": {"kind": "slack"}})
        assert "environment" not in doc["jobs"]["notify-failure"]


@pytest.mark.parametrize("name", GOLDEN)
def test_rendering_matches_its_golden_file(name: str) -> None:
    """Reviewed examples of the committed file (tests/golden/workflows): a safety net, not a guard."""
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


def test_every_action_the_renderer_uses_is_linted_pinned_by_tag_too() -> None:
    """actionlint checks the inputs of an action pinned by tag only (the OIDC actions: test_oidc)."""
    texts = all_renderings()
    used = {m for text in texts.values() for m in re.findall(r"uses: ([\w./-]+)@", text)}
    tagged = {
        m for name, text in texts.items() if "-by-tag" in name for m in re.findall(r"uses: ([\w./-]+)@", text)
    }
    assert used - tagged == set()


def test_actionlint_with_shellcheck_zizmor_and_the_workflow_schema_find_nothing(workflow_dir: Path) -> None:
    """Every file under every checker; shellcheck reads each distinct `run:` script once (its
    findings depend on the script's text alone: values reach it through env)."""
    files = sorted(workflow_dir.iterdir())
    scripts: dict[str, Path] = {}
    for path in files:
        for job in load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                scripts.setdefault(step.get("run", ""), path)
    covering = sorted(set(scripts.values()))
    rest = [path for path in files if path not in covering]
    assert lint_workflows(*covering) + (lint_workflows(*rest, shellcheck=False) if rest else []) == []


def test_shellcheck_reads_every_script_as_a_file() -> None:
    found = subprocess.run(
        [tool("shellcheck"), "--shell=bash", *map(str, sorted(SCRIPTS.glob("*.sh")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout


# --- multi-arch images, one approval per release ---------------------------------------------


class TestNativeMultiArch:
    def test_each_platform_builds_natively_in_a_job_of_its_own_and_a_gate_keeps_the_image_jobs_name(
        self,
    ) -> None:
        jobs = wf(images=[TWO])["jobs"]
        assert list(jobs) == ["changes", "api-build-amd64", "api-build-arm64", "api-build-and-push", "verify"]
        assert jobs["api-build-amd64"]["runs-on"] == "ubuntu-24.04"
        assert jobs["api-build-arm64"]["runs-on"] == "ubuntu-24.04-arm"
        for platform_job in ("api-build-amd64", "api-build-arm64"):
            assert "docker/setup-qemu-action" not in uses_of(jobs[platform_job]), platform_job
        gate = jobs["api-build-and-push"]
        assert gate["needs"] == ["api-build-amd64", "api-build-arm64"]
        assert gate["permissions"] == {}
        assert "environment" not in gate
        assert uses_of(gate) == []

    def test_a_reviewed_release_has_one_wave_of_jobs_that_declare_the_environment(self) -> None:
        """Every job that holds credentials needs only jobs that hold none: one approval."""
        github = {"environment": "production", "reviewers": {"teams": [1]}, "deploymentTags": ["v*"]}
        workflow = {"tags": ["v*"], "branchBuilds": False}
        for images in ([TWO], [THREE, {"name": "web"}]):
            jobs = wf(images=images, github=github, workflow=workflow)["jobs"]
            reviewed = {job_id for job_id, job in jobs.items() if job.get("environment")}
            assert reviewed
            for job_id in reviewed:
                needs = jobs[job_id].get("needs", [])
                assert not set([needs] if isinstance(needs, str) else needs) & reviewed, job_id

    def test_two_platforms_of_one_architecture_are_two_jobs(self) -> None:
        jobs = wf(images=[{"name": "api", "platforms": ["linux/amd64", "windows/amd64"]}])["jobs"]
        platforms = {
            job_id: steps(job)["docker/build-push-action"]["with"]["platforms"]
            for job_id, job in jobs.items()
            if job_id.startswith("api-build-") and job_id != "api-build-and-push"
        }
        assert platforms == {"api-build-amd64": "linux/amd64", "api-build-windows-amd64": "windows/amd64"}

    def test_platform_jobs_push_by_digest_publish_it_and_the_last_creates_the_image(self) -> None:
        jobs = wf(images=[TWO])["jobs"]
        for arch in ("amd64", "arm64"):
            job = jobs[f"api-build-{arch}"]
            build = steps(job)["docker/build-push-action"]["with"]
            assert build["platforms"] == f"linux/{arch}"
            assert build["outputs"] == "type=image,push-by-digest=true,name-canonical=true,push=true"
            assert build["tags"] == "${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}", "a name, no tag"
            assert build["cache-from"] == f"type=gha,scope=dev+api+linux/{arch}"
            upload = steps(job)["actions/upload-artifact"]["with"]
            assert upload["name"] == f"digests-api-{arch}"
            assert upload["overwrite"] is True, "a re-run of the job replaces its digest"
            download = steps(job)["actions/download-artifact"]["with"]
            assert download == {
                "pattern": "digests-api-*",
                "path": "${{ runner.temp }}/digests",
                "merge-multiple": True,
            }
            merge = job_step(job, "merge")
            assert merge["env"]["PLATFORMS"] == "2"
            assert merge["env"]["DIGESTS"] == "${{ runner.temp }}/digests"
            assert job["outputs"] == {"merged": "${{ steps.merge.outputs.merged }}"}

    def test_every_platform_job_gives_the_image_the_tags_a_single_job_would(self) -> None:
        platform = steps(wf(images=[TWO])["jobs"]["api-build-arm64"])["docker/metadata-action"]["with"]
        single = steps(build_job(wf(images=[TWO], workflow={"emulate": True})))["docker/metadata-action"][
            "with"
        ]
        assert platform == single

    def test_a_platform_without_a_native_runner_builds_under_qemu_on_the_amd64_runner(self) -> None:
        jobs = wf(images=[THREE])["jobs"]
        arm7 = jobs["api-build-arm-v7"]
        assert arm7["runs-on"] == "ubuntu-24.04"
        assert "docker/setup-qemu-action" in uses_of(arm7)
        assert "docker/setup-qemu-action" not in uses_of(jobs["api-build-arm64"])
        assert job_step(arm7, "merge")["env"]["PLATFORMS"] == "3"

    def test_runners_can_be_replaced_or_removed(self) -> None:
        runners = {"linux/amd64": "self-hosted-x64", "linux/arm64": None}
        jobs = wf(images=[TWO], workflow={"runners": runners})["jobs"]
        assert jobs["api-build-arm64"]["runs-on"] == "self-hosted-x64"
        assert "docker/setup-qemu-action" in uses_of(jobs["api-build-arm64"])
        assert {job["runs-on"] for job in jobs.values()} == {"self-hosted-x64"}

    def test_emulate_keeps_one_qemu_job_per_image(self) -> None:
        jobs = wf(images=[THREE], workflow={"emulate": True})["jobs"]
        assert list(jobs) == ["changes", "api-build-and-push", "verify"]
        build = steps(jobs["api-build-and-push"])["docker/build-push-action"]["with"]
        assert build["platforms"] == "linux/amd64,linux/arm64,linux/arm/v7"

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


class TestTimeoutsAndRetries:
    def test_no_job_in_any_rendering_lacks_a_timeout_and_none_runs_on_latest(self) -> None:
        for name, doc in loaded_renderings().items():
            for job_id, job in doc["jobs"].items():
                assert isinstance(job.get("timeout-minutes"), int), f"{name}: {job_id}"
                assert "latest" not in str(job["runs-on"]), f"{name}: {job_id}"

    def test_timeouts_are_per_job_kind_and_configurable(self) -> None:
        jobs = wf(
            images=[TWO], workflow={"timeoutMinutes": {"build": 90, "verify": 7}, "notify": {"kind": "slack"}}
        )["jobs"]
        assert jobs["changes"]["timeout-minutes"] == 10
        assert jobs["api-build-arm64"]["timeout-minutes"] == 90
        assert jobs["api-build-and-push"]["timeout-minutes"] == 15
        assert jobs["verify"]["timeout-minutes"] == 7
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
        assert pause["run"] == "sleep 30"

    def test_the_merge_and_the_promotion_retry_after_the_same_pause(self) -> None:
        multi = wf(images=[TWO])["jobs"]["api-build-amd64"]
        assert job_step(multi, "merge")["env"]["RETRY_PAUSE"] == "30"
        promote = wf(workflow={"tags": ["v*"], "promote": {}})["jobs"]["api-promote"]
        assert job_step(promote, "promote")["env"]["RETRY_PAUSE"] == "30"


class TestImmutableTags:
    def test_a_release_tag_run_never_pushes_the_sha_tag_the_branch_run_owns(self) -> None:
        meta = steps(build_job(wf(images=[{"name": "api", "immutableTags": True}])))["docker/metadata-action"]
        (sha,) = [r for r in meta["with"]["tags"].splitlines() if r.startswith("type=sha")]
        assert sha == "type=sha,enable=${{ github.ref_type != 'tag' }}"

    def test_a_rerun_pushes_nothing_already_there_and_succeeds(self) -> None:
        single = build_job(wf(images=[{"name": "api", "immutableTags": True}]))
        assert job_step(single, "already-pushed")["id"] == "pushed"
        (push,) = [s for s in single["steps"] if s.get("id") == "push"]
        assert push["if"] == "${{ steps.pushed.outputs.all != 'true' }}"
        platform = wf(images=[{**TWO, "immutableTags": True}])["jobs"]["api-build-amd64"]
        assert job_step(platform, "merge")["if"] == "${{ steps.pushed.outputs.all != 'true' }}"
        assert job_step(platform, "merge")["env"]["IMMUTABLE"] == "true"
        assert platform["outputs"]["merged"] == (
            "${{ steps.pushed.outputs.all == 'true' && 'true' || steps.merge.outputs.merged }}"
        )
        assert not [s for s in build_job(wf())["steps"] if s.get("id") == "pushed"]


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
        (sha,) = [r for r in meta["with"]["tags"].splitlines() if r.startswith("type=sha")]
        assert sha == "type=sha,enable=${{ github.ref_type != 'tag' }}"


class TestPromote:
    def test_a_release_tag_retags_the_commits_image_from_this_or_the_named_namespace(self) -> None:
        jobs = wf(images=[TWO], workflow=PROMOTE)["jobs"]
        promote = jobs["api-promote"]
        step = job_step(promote, "promote")
        assert step["env"]["SOURCES"].splitlines() == [
            "${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}",
            "${{ vars.ALIYUN_REGISTRY }}/acme-staging/api",
        ]
        assert step["env"]["PATHSPECS"].splitlines() == [
            ":(glob)api/**",
            ":(glob).github/workflows/build-push.yml",
        ]
        assert step["env"]["TAGS"] == "${{ steps.meta.outputs.tags }}"

    def test_it_fetches_only_the_commits_it_compares(self) -> None:
        promote = wf(workflow=PROMOTE)["jobs"]["api-promote"]
        assert steps(promote)["actions/checkout"]["with"]["fetch-depth"] == 50
        step = job_step(promote, "promote")
        assert step["env"]["HISTORY"] == "50", "the script looks back as far as the checkout fetched"
        assert '--max-count="$HISTORY"' in step["run"]

    def test_builds_wait_for_the_promotion(self) -> None:
        jobs = wf(images=[TWO], workflow=PROMOTE)["jobs"]
        for job_id in ("api-build-amd64", "api-build-arm64"):
            assert jobs[job_id]["needs"] == ["changes", "api-promote"]

    def test_building_can_be_switched_off(self) -> None:
        off = wf(workflow={"tags": ["v*"], "promote": {"build": False}})["jobs"]["api-promote"]
        assert job_step(off, "promote")["env"]["BUILD"] == "false"

    def test_promotion_needs_release_tags(self) -> None:
        with pytest.raises(ConfigError, match=r"workflow.promote.*workflow.tags"):
            settings_for(workflow={"promote": {}})


class TestVerifyRun:
    def test_it_logs_in_as_the_builds_do_and_keeps_going_to_say_what_failed(self) -> None:
        doc = wf(images=[{"name": "api"}, {"name": "web"}], github={"environment": "production"})
        job = doc["jobs"]["verify"]
        assert job["if"] == "${{ github.event_name == 'workflow_dispatch' && inputs.verify }}"
        assert job["environment"] == "production"
        login = steps(job)["docker/login-action"]
        assert login["with"] == steps(build_job(doc))["docker/login-action"]["with"]
        assert login["continue-on-error"] is True
        step = job_step(job, "verify")
        assert step["env"]["LOGIN"] == "${{ steps.login.outcome }}"
        assert step["env"]["IMAGES"].splitlines() == [
            "api\t${{ vars.ALIYUN_REGISTRY }}/${{ vars.API_IMAGE_NAME }}",
            "web\t${{ vars.ALIYUN_REGISTRY }}/${{ vars.WEB_IMAGE_NAME }}",
        ]

    def test_it_pushes_and_builds_nothing(self) -> None:
        for name, doc in loaded_renderings().items():
            if name.endswith("-pull-requests"):
                continue
            job = doc["jobs"]["verify"]
            assert not {"docker/build-push-action", "actions/checkout", "actions/upload-artifact"} & set(
                uses_of(job)
            ), name
            assert "imagetools create" not in str(job), name

    def test_with_oidc_a_failed_login_shows_the_claims_beside_the_subjects_the_role_admits(self) -> None:
        s = settings_for(**OIDC, workflow={"tags": ["v*"]})
        job = load(render(s))["jobs"]["verify"]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        diagnose = job_step(job, "oidc-claims")
        assert diagnose["env"]["SUBJECTS"].splitlines() == [
            "repo:acme/shop:ref:refs/heads/main",
            "repo:acme/shop:ref:refs/tags/v*",
        ], "what the role's trust policy admits (tests/test_oidc.py reads it from the role)"
        assert diagnose["env"]["AUDIENCE"] == "sts.aliyuncs.com"
        assert "steps.aliyun.outcome == 'failure'" in diagnose["if"]
        assert not [st for st in wf()["jobs"]["verify"]["steps"] if st.get("run") == script("oidc-claims")]


def _expressions(value: Any) -> list[str]:
    """Every `${{ ... }}` expression and `if:` condition in a job's part (nested values too)."""
    if isinstance(value, dict):
        found = [value["if"]] if isinstance(value.get("if"), str) else []
        return found + [e for k, v in value.items() if k != "if" for e in _expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in _expressions(v)]
    return re.findall(r"\$\{\{(.*?)\}\}", value) if isinstance(value, str) else []


def test_every_output_read_is_one_a_step_or_job_writes() -> None:
    """`steps.X.outputs.Y` names a step of the job with id X whose script writes Y (an action's
    outputs are the action's), and `steps.X.outcome` a step with id X; `needs.J.outputs.Y` names
    a job J that declares output Y. A typo in any reads as an empty string, which no job-level
    test would notice."""
    checked = 0
    for name, doc in loaded_renderings().items():
        for key, job in doc["jobs"].items():
            steps = {s["id"]: s for s in job.get("steps", []) if "id" in s}
            for expression in _expressions(job):
                for step_id in re.findall(r"\bsteps\.([\w-]+)\.(?:outcome|conclusion)\b", expression):
                    assert step_id in steps, f"{name}: {key} reads steps.{step_id}, which is no step of it"
                    checked += 1
                for step_id, output in re.findall(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert step_id in steps, f"{name}: {key} reads steps.{step_id}, which is no step of it"
                    run, env = steps[step_id].get("run"), steps[step_id].get("env", {})
                    # changes.sh writes one `<key>=` per image key its FILTERS name.
                    keys = {line.partition(" + ")[0] for line in env.get("FILTERS", "").splitlines()}
                    writes = run is None or re.search(rf"\b{output}=", run) or output in keys
                    assert writes, f"{name}: {key}.{step_id} writes no {output}"
                    checked += 1
                for needed, output in re.findall(r"\bneeds\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert needed in job.get("needs", []), (
                        f"{name}: {key} reads {needed}, which it does not need"
                    )
                    assert output in doc["jobs"][needed].get("outputs", {}), (
                        f"{name}: {needed} has no {output}"
                    )
                    checked += 1
    assert checked > 50, "the renderings read outputs"
