"""This repository's own CI (.github/): lint clean, least privilege, pins, and the stack list.

These are the workflows that test, preview, deploy and drift-check this Pulumi project, not
the build-push workflow it generates (tests/test_workflow_render.py covers that one).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components.pins import PINS
from tools.lint_workflows import tool

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
DEPENDABOT = GITHUB / "dependabot.yml"
STACKS = ROOT / "stacks"

# The workflows that run Pulumi against every stack.
STACK_WORKFLOWS = ("preview", "deploy", "drift")
PULUMI_ACTION = "pulumi/actions"
USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
SHA_REF = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^#\s*(?P<version>v\d+\.\d+\.\d+)$")
# The only write permissions a job of this repository may hold, and where: PR comments, and the
# GitHub OIDC token that the keyless credentials are minted from.
ALLOWED_WRITES = {
    ("preview", "preview"): {"pull-requests", "id-token"},
    ("deploy", "up"): {"id-token"},
    ("drift", "drift"): {"id-token"},
}
APP_TOKEN = "actions/create-github-app-token"  # noqa: S105 - an action, not a token


def check(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe").load(path.read_text())
    assert isinstance(doc, dict), path
    return doc


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / f"{name}.yml")


def stack_files() -> set[str]:
    """Stack names as Pulumi sees them: the X of stacks/Pulumi.X.yaml (or .yml)."""
    names = set()
    for path in STACKS.iterdir():
        match = re.fullmatch(r"Pulumi\.(?P<stack>.+)\.ya?ml", path.name)
        if match:
            names.add(match["stack"])
    return names


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(f"{PULUMI_ACTION}@")]


def jobs(name: str) -> dict[str, dict[str, Any]]:
    return workflow(name)["jobs"]  # type: ignore[no-any-return]


def pulumi_jobs(name: str) -> dict[str, dict[str, Any]]:
    """The jobs that run Pulumi (not the one that lists the stacks)."""
    found = {job_id: job for job_id, job in jobs(name).items() if pulumi_steps(job)}
    assert found, f"{name} runs no {PULUMI_ACTION} step"
    return found


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    # ruamel reads YAML 1.2, where the key `on` stays a string (YAML 1.1 readers make it True).
    value = doc["on"]
    assert isinstance(value, dict), value
    return value


# --- the checkers ----------------------------------------------------------------------


def test_the_expected_workflows_exist() -> None:
    assert {p.stem for p in workflow_files()} >= {"tests", *STACK_WORKFLOWS}
    assert DEPENDABOT.is_file()


def test_actionlint_finds_nothing_in_the_repository_workflows() -> None:
    # shellcheck named: without it on PATH, actionlint would skip every `run:` script silently.
    result = check(
        [tool("actionlint"), f"-shellcheck={tool('shellcheck')}", "-no-color", *map(str, workflow_files())]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_repository_workflows_and_dependabot() -> None:
    files = [*map(str, workflow_files()), str(DEPENDABOT)]
    result = check([tool("zizmor"), "--offline", "--no-progress", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout, result.stdout


def test_every_zizmor_suppression_says_why() -> None:
    for path in [*workflow_files(), DEPENDABOT]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "zizmor: ignore[" in line:
                reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                assert len(reason) > 10, f"{path.name}:{number}: suppression without a reason"


def test_github_workflow_schema_accepts_the_repository_workflows() -> None:
    files = list(map(str, workflow_files()))
    result = check([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_schema_accepts_the_dependabot_config() -> None:
    result = check([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_updates_python_packages_and_renovate_every_action_pin() -> None:
    updates = {u["package-ecosystem"]: u for u in load(DEPENDABOT)["updates"]}
    assert set(updates) == {"pip"}
    assert updates["pip"]["directory"] == "/"
    # Dependabot's pip support reads every requirements*.txt in that directory.
    assert (ROOT / "requirements.txt").is_file()
    assert (ROOT / "requirements-dev.txt").is_file()
    # Actions live in two places (these workflows and components/pins.py) that must carry the
    # same SHA: one tool, Renovate, moves both, in one grouped pull request.
    renovate = json.loads((ROOT / "renovate.json").read_text())
    assert set(renovate["enabledManagers"]) == {"custom.regex", "github-actions"}
    (group,) = [r for r in renovate["packageRules"] if "groupName" in r]
    assert set(group["matchManagers"]) == {"custom.regex", "github-actions"}


# --- the stack list --------------------------------------------------------------------


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_the_stack_matrix_is_read_from_stacks_at_run_time_never_listed(name: str) -> None:
    """A team's own stacks, whatever their names, are previewed, deployed and drift-checked."""
    for job_id, job in jobs(name).items():
        if not pulumi_steps(job):
            continue
        assert job["needs"] == "stacks", f"{name}.{job_id}"
        assert job["strategy"]["matrix"] == {"stack": "${{ fromJSON(needs.stacks.outputs.stacks) }}"}, job_id
        assert "needs.stacks.outputs.stacks != '[]'" in job["if"], f"{name}.{job_id}: no stacks, no matrix"


@pytest.mark.parametrize("name", ["drift"])
def test_the_stack_list_job_finds_exactly_the_stack_files(name: str, tmp_path: Path) -> None:
    (step,) = [s for s in jobs(name)["stacks"]["steps"] if s.get("id") == "list"]
    for case, names in enumerate((sorted(stack_files()), ["production"], ["eu-staging", "prod.v2"], [])):
        stacks = tmp_path / str(case) / "stacks"
        stacks.mkdir(parents=True)
        for stack in names:
            (stacks / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
        (stacks / "stack.schema.json").write_text("{}")
        output = stacks.parent / "output"
        env = {"GITHUB_OUTPUT": str(output), "PATH": os.environ["PATH"]}
        subprocess.run([tool("bash"), "-e", "-c", step["run"]], cwd=stacks.parent, env=env, check=True)
        assert output.read_text() == f"stacks={json.dumps(names, separators=(',', ':'))}\n", names


def test_deploy_lists_every_stack_file_the_creators_of_oidc_providers_first(tmp_path: Path) -> None:
    """Matrix jobs are created in list order and run one at a time (max-parallel: 1), so a stack
    that names the account's OIDC provider deploys after the stack that creates it."""
    (step,) = [s for s in jobs("deploy")["stacks"]["steps"] if s.get("id") == "list"]
    assert step["run"] == '.venv/bin/python -m tools.check_stacks order >> "$GITHUB_OUTPUT"'
    installs = [s.get("run") for s in jobs("deploy")["stacks"]["steps"]]
    assert installs.index("make install") < installs.index(step["run"])
    (up,) = pulumi_jobs("deploy").values()
    assert up["strategy"]["max-parallel"] == 1
    dev = (ROOT / "tests" / "stacks" / "Pulumi.dev.yaml").read_text()
    keyless = dev[: dev.index("  acr-pipeline:registryUsername")] + "  acr-pipeline:auth:\n    mode: oidc\n"
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.a-dev.yaml").write_text(keyless + "    oidcProvider: github-actions\n")
    (stacks / "Pulumi.z-prod.yaml").write_text(
        keyless.replace("namespace: acme-dev", "namespace: acme-z")
        .replace("branch: main", "branch: main\n    environment: production")
        .replace("pullRequests: true", "pullRequests: false")
    )
    output = tmp_path / "output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "ACR_PIPELINE_STACKS": str(stacks)}
    subprocess.run([tool("bash"), "-e", "-c", step["run"]], cwd=ROOT, env=env, check=True)
    assert output.read_text() == 'stacks=["z-prod","a-dev"]\n'


def test_a_protected_stack_is_planned_offline_on_pull_requests_and_never_previewed_with_its_secrets(
    tmp_path: Path,
) -> None:
    """A pull request's code runs in preview.yml: a stack whose environment has reviewers or
    deployment rules gets `make synth` there (no secret at all), the others a preview with
    their own environment's secrets."""
    (step,) = [s for s in jobs("preview")["stacks"]["steps"] if s.get("id") == "list"]
    assert step["run"] == '.venv/bin/python -m tools.check_stacks previews >> "$GITHUB_OUTPUT"'
    runs = [s.get("run") for s in jobs("preview")["stacks"]["steps"]]
    assert runs.index("make program") < runs.index(step["run"])
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for name in ("dev", "prod", "staging"):
        fixture = ROOT / "tests" / "stacks" / f"Pulumi.{name}.yaml"
        (stacks / f"Pulumi.{name}.yaml").write_text(fixture.read_text())
    output = tmp_path / "output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "ACR_PIPELINE_STACKS": str(stacks)}
    subprocess.run([tool("bash"), "-e", "-c", step["run"]], cwd=ROOT, env=env, check=True)
    assert output.read_text() == 'stacks=["dev","staging"]\noffline=["prod"]\n'
    offline = jobs("preview")["offline"]
    assert offline["strategy"]["matrix"] == {"stack": "${{ fromJSON(needs.stacks.outputs.offline) }}"}
    assert "secrets." not in json.dumps(offline)
    assert "id-token" not in offline["permissions"]
    assert any("tools.synth" in str(s.get("run", "")) for s in offline["steps"])


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_a_stacks_passphrase_is_read_only_in_an_environment_of_that_stack(name: str) -> None:
    """A repository-level secret is readable by any branch's workflow (a pull request runs its
    own copy of preview.yml): each job that reads a stack's secrets runs in that stack's
    environment, whose rules decide which runs get them."""
    for job_id, job in jobs(name).items():
        if "secrets.PULUMI_CONFIG_PASSPHRASE" in json.dumps(job):
            expected = "preview-${{ matrix.stack }}" if name == "preview" else "${{ matrix.stack }}"
            assert job.get("environment") == expected, f"{name}.{job_id}"


def test_deploy_verifies_each_stack_after_up_unless_a_reviewer_must_approve_or_nothing_is_there() -> None:
    (job,) = pulumi_jobs("deploy").values()
    names = [s.get("name") for s in job["steps"]]
    (verify,) = [s for s in job["steps"] if "tools.verify" in str(s.get("run", ""))]
    assert names.index(verify["name"]) > names.index("pulumi up")
    assert verify["run"] == '.venv/bin/python -m tools.verify "$STACK" --no-wait-for-reviewers --not-yet-ok'
    assert verify["env"] == {
        "STACK": "${{ matrix.stack }}",
        "GH_TOKEN": "${{ steps.app.outputs.token || secrets.PULUMI_GITHUB_TOKEN }}",
    }
    (app,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{APP_TOKEN}@")]
    assert app["with"]["permission-actions"] == "write", "dispatching a workflow"


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_every_pulumi_step_targets_the_matrix_stack(name: str) -> None:
    found = 0
    for job_id, job in jobs(name).items():
        for step in pulumi_steps(job):
            found += 1
            assert step["with"]["stack-name"] == "${{ matrix.stack }}", (name, job_id)
            assert job["strategy"]["fail-fast"] is False, f"{name}.{job_id}: one stack's failure hides none"
    assert found, f"{name} runs no {PULUMI_ACTION} step"


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_the_pulumi_cli_is_pinned_at_a_version_that_imports_then_updates(name: str) -> None:
    for job_id, job in pulumi_jobs(name).items():
        (step,) = pulumi_steps(job)
        version = str(step["with"]["pulumi-version"])
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}.{job_id}: pin an exact CLI version"
        assert tuple(map(int, version.split("."))) >= (3, 174, 0), f"{name}.{job_id}: adopt needs 3.174.0+"


def test_deploy_refreshes_first_so_a_hand_edited_workflow_file_does_not_409() -> None:
    for job in pulumi_jobs("deploy").values():
        (step,) = pulumi_steps(job)
        assert step["with"]["refresh"] is True


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_the_program_environment_is_installed_before_pulumi_runs(name: str) -> None:
    # Pulumi's python host expects .venv (Pulumi.yaml: virtualenv .venv).
    for job_id, job in pulumi_jobs(name).items():
        runs = [s.get("run") for s in job["steps"]]
        first_pulumi = next(i for i, s in enumerate(job["steps"]) if s in pulumi_steps(job))
        assert "make install" in runs[:first_pulumi], (name, job_id)


# --- triggers --------------------------------------------------------------------------


def test_tests_run_on_every_push_and_pull_request() -> None:
    on = triggers(workflow("tests"))
    assert set(on) == {"push", "pull_request"}
    assert on["push"] is None, "tests run on every branch"
    (job,) = jobs("tests").values()
    assert [s.get("run") for s in job["steps"] if "run" in s] == ["make test"]


def test_preview_runs_on_pull_requests_and_never_on_pull_request_target() -> None:
    on = triggers(workflow("preview"))
    assert set(on) == {"pull_request"}
    for path in workflow_files():
        assert "pull_request_target" not in triggers(load(path)), path.name


def test_deploy_runs_on_pushes_to_main_only() -> None:
    assert triggers(workflow("deploy")) == {"push": {"branches": ["main"]}}


def test_drift_is_scheduled_and_can_be_run_by_hand() -> None:
    on = triggers(workflow("drift"))
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert on["schedule"]
    assert all("cron" in entry for entry in on["schedule"])


# --- what each Pulumi step does --------------------------------------------------------


def test_preview_jobs_comment_on_the_pull_request_with_write_permission() -> None:
    for job_id, job in pulumi_jobs("preview").items():
        assert job["permissions"]["pull-requests"] == "write", job_id
        (step,) = pulumi_steps(job)
        assert step["with"]["command"] == "preview"
        assert step["with"]["comment-on-pr"] is True
        # The built-in token posts the comment; the provider's token is another secret.
        assert step["with"]["github-token"] == "${{ github.token }}"
        # The default edits the stack's earlier comment: one comment per stack, kept current.
        assert step["with"].get("edit-pr-comment", True) is True


def test_deploy_runs_up_for_each_stack_in_the_environment_of_that_name() -> None:
    for job_id, job in pulumi_jobs("deploy").items():
        (step,) = pulumi_steps(job)
        assert step["with"]["command"] == "up", job_id
        assert job["environment"] == "${{ matrix.stack }}", job_id
        assert step["with"]["stack-name"] == job["environment"], job_id


def test_one_pulumi_operation_per_stack_and_a_running_up_is_never_cancelled() -> None:
    groups: dict[str, str] = {}
    for name in ("deploy", "drift"):
        for job_id, job in pulumi_jobs(name).items():
            concurrency = job["concurrency"]
            assert "${{ matrix.stack }}" in concurrency["group"], (name, job_id)
            assert concurrency["cancel-in-progress"] is False, (name, job_id)
            groups[name] = concurrency["group"]
    assert groups["deploy"] == groups["drift"], "drift's refresh and deploy's up share the stack's lock"
    assert "concurrency" not in workflow("deploy"), "a workflow-level group would serialize all stacks"


def test_drift_refreshes_then_fails_on_any_change() -> None:
    for job_id, job in pulumi_jobs("drift").items():
        (step,) = pulumi_steps(job)
        assert step["with"]["command"] == "preview", job_id
        assert step["with"]["expect-no-changes"] is True, job_id
        # Without a refresh, the preview compares the program with the recorded state only
        # and never sees a change made by hand.
        assert step["with"]["refresh"] is True, job_id
        assert "comment-on-pr" not in step["with"], job_id


def test_only_preview_and_deploy_and_drift_read_secrets() -> None:
    for path in workflow_files():
        if path.stem not in STACK_WORKFLOWS:
            assert "secrets." not in path.read_text(), path.name


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_credentials_reach_only_the_pulumi_step(name: str) -> None:
    doc = workflow(name)
    assert "env" not in doc, f"{name}: no workflow-level env"
    for job_id, job in jobs(name).items():
        assert "env" not in job, (name, job_id)
        for step in job["steps"]:
            if step in pulumi_steps(job):
                continue
            if str(step.get("uses", "")).startswith(f"{APP_TOKEN}@"):
                # The App's private key, from which a one-hour token is minted, and nothing else.
                assert [k for k, v in step["with"].items() if "secrets." in str(v)] == ["private-key"]
                continue
            if "tools.verify" in str(step.get("run", "")):
                # The GitHub token that dispatches the verify run, and nothing else.
                assert [k for k, v in step["env"].items() if "secrets." in str(v)] == ["GH_TOKEN"]
                continue
            assert "secrets." not in str(step), (name, job_id, step.get("name"))


KEYLESS = {
    "aliyun/configure-aliyun-credentials-action": "vars.ALIBABA_CLOUD_ROLE_ARN != ''",
    "pulumi/auth-actions": "vars.PULUMI_BACKEND_URL == '' && vars.PULUMI_ORGANIZATION != ''",
    APP_TOKEN: "vars.PULUMI_GITHUB_APP_ID != ''",
}


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_credentials_are_minted_for_the_job_and_a_stored_secret_is_only_the_fallback(name: str) -> None:
    for job_id, job in pulumi_jobs(name).items():
        (pulumi,) = pulumi_steps(job)
        before = job["steps"][: job["steps"].index(pulumi)]
        minted = {
            str(s["uses"]).split("@")[0]: s
            for s in before
            if "uses" in s and s["uses"].split("@")[0] in KEYLESS
        }
        assert {action: step["if"] for action, step in minted.items()} == KEYLESS, f"{name}.{job_id}"
        env = pulumi["env"]
        for key, secret in (
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            ("PULUMI_ACCESS_TOKEN", "PULUMI_ACCESS_TOKEN"),
        ):
            assert env[key] == f"${{{{ env.{key} || secrets.{secret} }}}}", f"{name}: {key}"
        assert env["GITHUB_TOKEN"] == "${{ steps.app.outputs.token || secrets.PULUMI_GITHUB_TOKEN }}"  # noqa: S105


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_the_app_token_is_scoped_to_the_stacks_repository_and_read_only_outside_deploy(name: str) -> None:
    for job in pulumi_jobs(name).values():
        (app,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{APP_TOKEN}@")]
        assert app["with"]["owner"] == "${{ steps.target.outputs.owner }}"
        assert app["with"]["repositories"] == "${{ steps.target.outputs.repository }}"
        levels = {k: v for k, v in app["with"].items() if k.startswith("permission-")}
        writes = {k for k, v in levels.items() if v == "write"}
        assert (writes != set()) == (name == "deploy"), f"{name}: {sorted(writes)}"
        (target,) = [s for s in job["steps"] if s.get("id") == "target"]
        assert target["run"] == '.venv/bin/python -m tools.stackfile target "$STACK" >> "$GITHUB_OUTPUT"'


# --- privileges and text ---------------------------------------------------------------


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.stem)
def test_permissions_are_least_privilege(path: Path) -> None:
    doc = load(path)
    assert doc["permissions"] in ({}, {"contents": "read"}), f"{path.name}: top-level permissions"
    for job_id, job in doc["jobs"].items():
        permissions = job["permissions"]
        assert isinstance(permissions, dict), f"{path.name}.{job_id}: name each permission"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes == ALLOWED_WRITES.get((path.stem, job_id), set()), (path.name, job_id, writes)
        assert set(permissions.values()) <= {"read", "write", "none"}, (path.name, job_id)


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.stem)
def test_checkouts_keep_no_credentials(path: Path) -> None:
    for job_id, job in load(path)["jobs"].items():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, (path.name, job_id)


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.stem)
def test_no_expression_is_spliced_into_a_shell_script(path: Path) -> None:
    """Values reach `run:` through `env:` only (expression injection)."""
    for job_id, job in load(path)["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in str(step.get("run", "")), (path.name, job_id, step.get("name"))


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.stem)
def test_every_action_is_pinned_by_sha_with_its_version_comment(path: Path) -> None:
    lines = [m for line in path.read_text().splitlines() if (m := USES.match(line))]
    assert lines, f"{path.name} uses no action"
    for match in lines:
        ref = SHA_REF.match(match["ref"])
        assert ref, f"{path.name}: {match['ref']} is not pinned by a full commit SHA"
        comment = VERSION_COMMENT.match(match["rest"].strip())
        assert comment, f"{path.name}: {match['ref']} lacks its `# vX.Y.Z` comment"
        pin = PINS.get(ref["action"])
        if pin is not None:
            # One version of each action across the repository: the pin table's.
            assert (ref["sha"], comment["version"]) == (pin.sha, pin.version), (
                f"{path.name}: {ref['action']} differs from components/pins.py; move both together"
            )


def test_preview_deploy_and_drift_use_the_pinned_pulumi_action() -> None:
    pin = PINS[PULUMI_ACTION]
    for name in STACK_WORKFLOWS:
        for job in jobs(name).values():
            for step in pulumi_steps(job):
                assert step["uses"] == f"{PULUMI_ACTION}@{pin.sha}", name


def test_the_ci_guide_names_every_secret_and_variable_the_workflows_read() -> None:
    section = (ROOT / "docs" / "ci.md").read_text()
    names = {
        m
        for path in workflow_files()
        for m in re.findall(r"\$\{\{\s*(?:secrets|vars)\.(\w+)\s*\}\}", path.read_text())
    }
    assert names, "the workflows read no secret or variable"
    missing = sorted(n for n in names if f"`{n}`" not in section)
    assert not missing, f"docs/ci.md does not list {missing}"
