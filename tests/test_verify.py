"""`make verify`: tools/verify.py dispatches a verify run with the GitHub CLI and reports it.

A fake `gh` (a bash script first on PATH) answers from files each test writes and logs each
argv as a JSON line, so the tests see exactly the commands. Most tests call `main()` in this
process (the fake gh is still a process of its own); those at the end run `python -m tools.verify`
as `make verify` does, for the module's own exit codes and output. Those children spend most of
a second each importing pydantic and pulumi, so the fixture `end_to_end` starts them all before
the first test, and the rest of the file runs meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, parse
from components.stackfile import StackFileError, describe, stack_config
from tools import verify
from tools.mock_engine import ROOT_DIR

FAKE_GH = r"""
# A fake gh: logs its argv as a JSON line to gh.log, and answers with the files the test wrote,
# answers/<kind>.<n>.{out,err,rc}: the n-th call of that kind, or past the last, the last.
# Builtins only: no process but bash's own.
set -u
dir=$FAKE_GH_DIR
line=
for arg in "$@"; do
  arg=${arg//\\/\\\\}
  arg=${arg//\"/\\\"}
  line+=${line:+, }\"$arg\"
done
printf '[%s]\n' "$line" >>"$dir/gh.log"
case "$1 ${2:-}" in
  "auth status") kind=auth ;;
  "api "*) kind=api ;;
  "workflow run") kind=dispatch && : >"$dir/dispatched" ;;
  "run list") kind=list && [[ -e $dir/dispatched ]] && kind=list-after ;;
  "run view") kind=view ;;
  *) echo "fake gh: unexpected $*" >&2 && exit 64 ;;
esac
# Calls are counted in marks appended to a file: no file is ever rewritten (which is slow).
marks=
[[ -e $dir/count.$kind ]] && IFS= read -r -d '' marks <"$dir/count.$kind"
n=${#marks}
printf x >>"$dir/count.$kind"
[[ -e $dir/answers/$kind.last ]] || exit 0
read -r last <"$dir/answers/$kind.last"
answer=$dir/answers/$kind.$((n < last ? n : last))
IFS= read -r -d '' out <"$answer.out"
IFS= read -r -d '' err <"$answer.err"
printf '%s' "$out"
printf '%s' "$err" >&2
read -r rc <"$answer.rc"
exit "$rc"
"""

OWNER_REPO = "acme-platform/shop"
RUN_URL = f"https://github.com/{OWNER_REPO}/actions/runs/"
FAST = ["--interval", "0.01", "--find-timeout", "10"]

DEV: dict[str, dict[str, Any]] = {"github": {"repository": "shop", "branch": "main"}}
QA: dict[str, dict[str, Any]] = {"github": {"repository": "shop", "environment": "qa", "branch": "develop"}}
STAGING: dict[str, dict[str, Any]] = {
    "github": {"repository": "shop", "environment": "staging"},
    "workflow": {"branchBuilds": False, "tags": ["v*-rc*"]},
}
PROD: dict[str, dict[str, Any]] = {
    "github": {
        "repository": "shop",
        "environment": "production",
        "reviewers": {"teams": [4521987]},
        "deploymentTags": ["v*"],
    },
    "workflow": {"branchBuilds": False, "tags": ["v[0-9]+.[0-9]+.[0-9]+"]},
}
BAD_STACK = """\
# The region is misspelt: make synth says so at line 3, and so must make verify.
config:
  alicloud:region: cn-shangai
  github:owner: acme-platform
  acr-pipeline:registry:
    instanceId: cri-8x2kd7sf1mqa3vno
    instanceName: acme
    namespace: acme-dev
  acr-pipeline:github:
    repository: shop
    branch: main
  acr-pipeline:registryUsername: acr-pusher@1234567890123456
  acr-pipeline:registryPassword:
    secure: REPLACE-ME
"""
RELEASES = ["v1.10.0", "v2.0.0-rc.1", "v1.10.0-rc.1", "v1.9.2", "v1.3.0"]
"""The tags of a workflow's successful push runs, as GitHub lists its runs: newest first."""
RUNS_QUERY = [
    *("api", "--method", "GET", "repos/acme-platform/shop/actions/workflows/build-push-production.yml/runs"),
    *("-f", "event=push", "-f", "status=success", "-f", "per_page=100"),
    *("--jq", ".workflow_runs[] | [.head_branch, .id, .html_url] | @tsv"),
]


def stack_text(github: dict[str, Any], workflow: dict[str, Any] | None = None) -> str:
    """A valid stack file (JSON is YAML) like tests/stacks/*.yaml, with these GitHub and
    workflow settings."""
    config: dict[str, Any] = {
        "alicloud:region": "cn-shanghai",
        "github:owner": "acme-platform",
        "acr-pipeline:registry": {
            "instanceId": "cri-8x2kd7sf1mqa3vno",
            "instanceName": "acme",
            "namespace": "acme-verify",
        },
        "acr-pipeline:images": [{"name": "api"}, {"name": "worker", "context": "services/worker"}],
        "acr-pipeline:github": github,
        "acr-pipeline:registryUsername": "acr-pusher@1234567890123456",
        "acr-pipeline:registryPassword": {"secure": "REPLACE-ME"},
    }
    if workflow:
        config["acr-pipeline:workflow"] = workflow
    return json.dumps({"config": config}, indent=2) + "\n"


def run(number: int, ref: str = "main", created: str = "NOW") -> dict[str, Any]:
    """A run as `gh run list --json` gives it (createdAt: NOW, LATER, SKEWED or OLD, stamped when
    the scenario is written)."""
    return {
        "databaseId": number,
        "url": f"{RUN_URL}{number}",
        "createdAt": created,
        "headBranch": ref,
        "status": "queued",
        "conclusion": "",
    }


@dataclass(frozen=True)
class Answer:
    stdout: str = ""
    stderr: str = ""
    rc: int = 0


@dataclass
class Result:
    code: int
    out: str
    err: str
    calls: list[list[str]]


class FakeGh:
    """A temp stacks dir, a fake `gh` first on PATH, the answers it gives and its log."""

    def __init__(self, root: Path) -> None:
        self.stacks, self.bin, self.dir = root / "stacks", root / "bin", root / "gh"
        self.log, self.answers = self.dir / "gh.log", self.dir / "answers"
        for path in (self.stacks, self.bin, self.answers):
            path.mkdir(parents=True)
        gh = self.bin / "gh"
        gh.write_text(f"#!{shutil.which('bash')}{FAKE_GH}")
        gh.chmod(0o755)
        self.answered = False
        self.env = {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "FAKE_GH_DIR": str(self.dir)}
        """What the verify command's environment needs, besides no GITHUB_STEP_SUMMARY."""

    def stack(self, name: str, settings: dict[str, Any]) -> None:
        (self.stacks / f"Pulumi.{name}.yaml").write_text(stack_text(**settings))

    def scenario(
        self,
        *,
        auth: Answer | None = None,
        tags: Sequence[str] = (),
        dispatch: Answer | None = None,
        before: Sequence[dict[str, Any]] = (),
        runs: Sequence[dict[str, Any]] = (),
        appears_after: int = 0,
        views: Sequence[dict[str, Any]] = ({"status": "completed", "conclusion": "success"},),
    ) -> None:
        """What the fake answers, set once (without a call, the defaults): `gh auth status` and
        `gh workflow run` (default: success), the tags of the workflow's successful push runs,
        newest first (`tags`; run ids from 100), the runs `gh run list` shows
        before the dispatch, and after it (`runs` join them from the `appears_after`-th look on;
        createdAt stamped now: see `stamps`), and what `gh run view` says each time (default:
        completed, success), with the URL of the last of `runs`."""
        assert not self.answered, "the answers are set once (a file rewritten is slow to close)"
        self.answered = True
        now = datetime.now(UTC)
        url = runs[-1]["url"] if runs else f"{RUN_URL}0"
        stamps = {
            "NOW": now,
            "LATER": now + timedelta(minutes=1),  # for a child that may take a while to start
            "SKEWED": now - timedelta(seconds=2),  # GitHub's clock a little behind this machine's
            "OLD": now - timedelta(hours=1),
        }

        def listed(found: Sequence[dict[str, Any]]) -> Answer:
            stamped = [
                {**r, "createdAt": stamps[r["createdAt"]].strftime("%Y-%m-%dT%H:%M:%SZ")} for r in found
            ]
            return Answer(json.dumps(stamped) + "\n")

        answers: dict[str, list[Answer]] = {
            "auth": [auth or Answer("github.com\n  Logged in to github.com account octocat (keyring)\n")],
            "api": [Answer("".join(f"{t}\t{100 + n}\t{RUN_URL}{100 + n}\n" for n, t in enumerate(tags)))],
            "dispatch": [dispatch or Answer()],
            "list": [listed([*before])],
            "list-after": [listed([*before]) for _ in range(appears_after)] + [listed([*before, *runs])],
            "view": [Answer(json.dumps({"conclusion": "", "url": url, **view}) + "\n") for view in views],
        }
        for kind, given in answers.items():
            for n, answer in enumerate(given):
                (self.answers / f"{kind}.{n}.out").write_text(answer.stdout)
                (self.answers / f"{kind}.{n}.err").write_text(answer.stderr)
                (self.answers / f"{kind}.{n}.rc").write_text(f"{answer.rc}\n")
            (self.answers / f"{kind}.last").write_text(f"{len(given) - 1}\n")

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def of(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls if c[: len(prefix)] == list(prefix)]

    def main(self, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
        """`main()` in this process, the fake gh as a real process."""
        if not self.answered:
            self.scenario()
        code = verify.main([*args, "--stacks-dir", str(self.stacks)])
        out, err = capsys.readouterr()
        return Result(code, out, err, self.calls)

    def start(self, *args: str, path: str | None = None) -> Started:
        """`python -m tools.verify <args>` as `make verify` runs it, the stacks in
        ACR_PIPELINE_STACKS, started (`path`: PATH instead of the fake first)."""
        if not self.answered:
            self.scenario()
        env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
        env.update(self.env, ACR_PIPELINE_STACKS=str(self.stacks), **({"PATH": path} if path else {}))
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.verify", *args],
            cwd=ROOT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Started(process, self)


@dataclass
class Started:
    """A `python -m tools.verify` under way."""

    process: subprocess.Popen[str]
    gh: FakeGh

    def result(self) -> Result:
        out, err = self.process.communicate(timeout=60)
        return Result(self.process.returncode, out, err, self.gh.calls)


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    """A fake gh for `main()` in this process."""
    fake = FakeGh(tmp_path)
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return fake


@pytest.fixture(scope="module", autouse=True)
def end_to_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Started]]:
    """`python -m tools.verify`, as `make verify` runs it, in the situations the tests at the end
    of this file check, all started before the first test (see the module's docstring)."""
    dev = FakeGh(tmp_path_factory.mktemp("dev"))
    dev.stack("dev", DEV)
    # Of the runs listed after the dispatch, only 43 is the new one: 41 was there before it,
    # 40 is an hour old, 42 is on another ref.
    dev.scenario(
        before=[run(41, created="LATER")],
        runs=[run(40, created="OLD"), run(42, ref="feature", created="LATER"), run(43, created="LATER")],
        views=[
            {"status": "queued"},
            {"status": "in_progress"},
            {"status": "completed", "conclusion": "success"},
        ],
    )
    no_gh = FakeGh(tmp_path_factory.mktemp("no-gh"))
    no_gh.stack("dev", DEV)
    nothing = tmp_path_factory.mktemp("empty-path")
    bad = FakeGh(tmp_path_factory.mktemp("bad"))
    (bad.stacks / "Pulumi.dev.yaml").write_text(BAD_STACK)
    started = {
        "dev": dev.start("dev", *FAST),
        "no-gh": no_gh.start("dev", *FAST, path=str(nothing)),
        "bad": bad.start("dev", *FAST),
    }
    yield started
    for each in started.values():
        if each.process.poll() is None:
            each.process.kill()
        each.process.communicate()


def dispatched(workflow: str, ref: str) -> list[str]:
    return ["workflow", "run", workflow, "-R", OWNER_REPO, "--ref", ref, "-f", "verify=true"]


def test_durations_take_seconds_minutes_or_hours() -> None:
    assert [verify.duration(t) for t in ("90", "90s", "30m", "1h", "0.01")] == [90, 90, 1800, 3600, 0.01]
    with pytest.raises(Exception, match="not a duration"):
        verify.duration("soon")


# --- which workflow, repository and ref -----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "workflow", "ref"),
    [(DEV, "build-push.yml", "main"), (QA, "build-push-qa.yml", "develop")],
    ids=["repository", "environment"],
)
def test_branch_stack_dispatches_its_workflow_file_on_its_branch(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], settings: dict[str, Any], workflow: str, ref: str
) -> None:
    gh.stack("s", settings)
    gh.scenario(runs=[run(7, ref=ref)])
    result = gh.main(capsys, "s", *FAST)
    assert result.code == 0, result.err
    assert gh.of("workflow", "run") == [dispatched(workflow, ref)]
    assert all(c[c.index("--workflow") + 1] == workflow for c in gh.of("run", "list"))


def test_tags_only_stack_dispatches_on_the_tag_of_its_last_successful_release_run(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """prod's `v[0-9]+.[0-9]+.[0-9]+` passes over the release candidates' runs to v1.10.0, the
    newest release that was built, and says which run it took it from."""
    gh.stack("prod", PROD)
    gh.scenario(tags=RELEASES, runs=[run(9, ref="v1.10.0")])
    result = gh.main(capsys, "prod", *FAST)
    assert result.code == 0, result.err
    assert gh.of("api") == [RUNS_QUERY]
    assert gh.of("workflow", "run") == [dispatched("build-push-production.yml", "v1.10.0")]
    assert (
        f"ref       : v1.10.0 (the tag of the last successful release run, 100: {RUN_URL}100)" in result.out
    )


def test_a_tag_that_only_sorts_highest_is_never_the_one_verified(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anyone who may push a tag can push v999.0.0; it is no release until its run succeeded (in
    a reviewed environment: a reviewer approved it). A hotfix released after v2.0.0 is the last
    release, though v2.0.0 sorts higher."""
    gh.stack("prod", PROD)
    gh.scenario(tags=["v1.9.3", "v2.0.0"], runs=[run(9, ref="v1.9.3")])
    result = gh.main(capsys, "prod", *FAST)
    assert result.code == 0, result.err
    assert gh.of("workflow", "run") == [dispatched("build-push-production.yml", "v1.9.3")]


def test_tags_only_environment_stack_dispatches_on_its_last_released_candidate_tag(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """staging's `v*-rc*`: v2.0.0-rc.1, the newest candidate built, in its own workflow file."""
    gh.stack("staging", STAGING)
    gh.scenario(tags=RELEASES, runs=[run(9, ref="v2.0.0-rc.1")])
    result = gh.main(capsys, "staging", *FAST)
    assert result.code == 0, result.err
    assert gh.of("workflow", "run") == [dispatched("build-push-staging.yml", "v2.0.0-rc.1")]


def test_tags_only_stack_skips_tags_its_environment_refuses(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag the workflow builds but the environment's deployment tags refuse would never run."""
    gh.stack("prod", {**PROD, "github": {**PROD["github"], "deploymentTags": ["v1.*"]}})
    gh.scenario(tags=["v2.0.0", "v1.3.0"], runs=[run(9, ref="v1.3.0")])  # v2.0.0 ran by --ref
    result = gh.main(capsys, "prod", *FAST)
    assert result.code == 0, result.err
    assert gh.of("workflow", "run") == [dispatched("build-push-production.yml", "v1.3.0")]


def test_tags_only_stack_without_a_successful_release_run_says_how_to_push_a_tag(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.stack("prod", PROD)
    gh.scenario(tags=["v1.4.0-rc.1", "latest"])
    result = gh.main(capsys, "prod", *FAST)
    assert result.code == 2
    assert result.out == ""
    (message,) = result.err.splitlines()
    assert message.startswith("error: stack 'prod' builds from release tags")
    assert (
        "has no successful run of a tag matching its patterns yet (workflow.tags v[0-9]+.[0-9]+.[0-9]+"
        in message
    )
    assert "git push origin <tag>" in message
    assert gh.of("workflow", "run") == []


def test_ref_option_overrides_the_stacks_ref(gh: FakeGh, capsys: pytest.CaptureFixture[str]) -> None:
    gh.stack("prod", PROD)
    gh.scenario(tags=RELEASES, runs=[run(5, ref="v1.3.0")])
    result = gh.main(capsys, "prod", "--ref", "refs/tags/v1.3.0", *FAST)
    assert result.code == 0, result.err
    assert gh.of("api") == []
    assert gh.of("workflow", "run") == [dispatched("build-push-production.yml", "refs/tags/v1.3.0")]
    assert f"{RUN_URL}5" in result.out


# --- the run's outcome ------------------------------------------------------------------------------


@pytest.mark.parametrize("sign", [True, False])
def test_a_signing_stacks_verify_prints_the_check_anyone_pulling_an_image_runs(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], sign: bool
) -> None:
    gh.stack("dev", {**DEV, "workflow": {"sign": sign}})
    gh.scenario(runs=[run(8)])
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 0, result.err
    identity = (
        r"'^https://github\.com/acme\-platform/shop/\.github/workflows/build\-push\.yml@refs/(heads/main)$'"
    )
    check = (
        "  cosign verify --certificate-oidc-issuer https://token.actions.githubusercontent.com "
        f"--certificate-identity-regexp {identity} "
        "acme-registry.cn-shanghai.cr.aliyuncs.com/acme-verify/api:main"
    )
    assert (check in result.out.splitlines()) is sign
    assert ("cosign" in result.out) is sign


def test_failed_run_exits_1_with_its_url(gh: FakeGh, capsys: pytest.CaptureFixture[str]) -> None:
    gh.stack("dev", DEV)
    gh.scenario(
        runs=[run(8)], views=[{"status": "in_progress"}, {"status": "completed", "conclusion": "failure"}]
    )
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 1
    assert "Conclusion: failure" in result.out
    assert f"{RUN_URL}8" in result.out


@pytest.mark.parametrize("conclusion", ["cancelled", "timed_out", "startup_failure"])
def test_any_other_conclusion_than_success_exits_1(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], conclusion: str
) -> None:
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8)], views=[{"status": "completed", "conclusion": conclusion}])
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 1
    assert f"Conclusion: {conclusion}" in result.out


def test_a_run_waiting_for_review_says_the_reviewers_must_approve_it(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each status once, when it changes; `waiting` names the environment and its reviewers."""
    gh.stack("prod", PROD)
    waiting = {"status": "waiting"}
    gh.scenario(
        tags=RELEASES,
        runs=[run(9, ref="v1.10.0")],
        views=[
            waiting,
            waiting,
            waiting,
            {"status": "in_progress"},
            {"status": "completed", "conclusion": "success"},
        ],
    )
    result = gh.main(capsys, "prod", *FAST)
    assert result.code == 0, result.err
    lines, url = result.out.splitlines(), f"{RUN_URL}9"
    said = [line for line in lines if line.startswith("  waiting")]
    assert said == [
        f"  waiting: a reviewer of environment 'production' must approve it (Review deployments at {url})"
    ]
    assert "Waiting for it: a reviewer of environment 'production' must approve it first" in lines


def test_no_wait_exits_0_after_the_url_and_writes_the_step_summary(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# deploy\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gh.stack("prod", PROD)
    gh.scenario(tags=RELEASES, runs=[run(9, ref="v1.10.0")])
    result = gh.main(capsys, "prod", "--no-wait", *FAST)
    assert result.code == 0, result.err
    assert f"Run: {RUN_URL}9" in result.out
    assert gh.of("run", "view") == []
    assert summary.read_text() == (
        "# deploy\n- acr-pipeline verify: stack `prod`, ref `v1.10.0`, "
        f"[run 9]({RUN_URL}9): **dispatched; waiting for approval**\n"
    )


def test_the_step_summary_gets_the_conclusion(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8)], views=[{"status": "completed", "conclusion": "failure"}])
    assert gh.main(capsys, "dev", *FAST).code == 1
    assert (
        summary.read_text()
        == f"- acr-pipeline verify: stack `dev`, ref `main`, [run 8]({RUN_URL}8): **failure**\n"
    )


def test_a_run_that_shows_up_late_is_still_found(gh: FakeGh, capsys: pytest.CaptureFixture[str]) -> None:
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8)], appears_after=3)
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 0, result.err
    assert len(gh.of("run", "list")) == 1 + 4  # the look before the dispatch, then four after it


def test_a_run_stamped_a_little_before_the_dispatch_is_found(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub's clock may be a few seconds behind this machine's."""
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8, created="SKEWED")])
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 0, result.err
    assert f"Run: {RUN_URL}8" in result.out


def test_a_run_that_never_appears_times_out_clearly(gh: FakeGh, capsys: pytest.CaptureFixture[str]) -> None:
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(3, created="OLD"), run(4, ref="other")])
    result = gh.main(capsys, "dev", "--interval", "0.02", "--find-timeout", "0.1")
    assert result.code == 1
    (message,) = result.err.splitlines()
    assert message == (
        "error: dispatched, but no run of build-push.yml on main showed up within 0.1 s; look for it at "
        f"https://github.com/{OWNER_REPO}/actions/workflows/build-push.yml"
    )
    assert gh.of("run", "view") == []


def test_a_run_that_never_completes_times_out_with_its_url(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8)], views=[{"status": "in_progress"}])
    result = gh.main(capsys, "dev", "--interval", "0.02", "--find-timeout", "2", "--timeout", "0.1")
    assert result.code == 1
    assert (
        result.err
        == f"error: the run has not completed after 0.1 s (status: in_progress); it goes on: {RUN_URL}8\n"
    )


UNEXPECTED = 'HTTP 422: Unexpected inputs provided: ["verify"]'


def test_a_refused_dispatch_says_what_gh_said_and_what_to_do(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.stack("dev", DEV)
    gh.scenario(
        dispatch=Answer(
            stderr="could not create workflow dispatch event: " + UNEXPECTED + "\n",
            rc=1,
        )
    )
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: `gh workflow run build-push.yml -R acme-platform/shop --ref main -f verify=true` failed: "
        "could not create workflow dispatch event: " + UNEXPECTED,
        "  the workflow at main has no `verify` input: commit the current workflow with "
        "`pulumi up --stack dev` (for a tag, verify on one made after that, with --ref)",
    ]


@pytest.mark.parametrize("not_yet_ok", [False, True], ids=["by-hand", "deploy-ci"])
def test_a_tags_only_stack_before_its_first_tag_is_nothing_to_verify_yet(
    gh: FakeGh,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    not_yet_ok: bool,
) -> None:
    """By hand, a mistake to fix (exit 2); in deploy CI (`--not-yet-ok`), a notice in the job
    summary, and the deploy goes on."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gh.stack("prod", PROD)
    gh.scenario(tags=["v1.4.0-rc.1", "latest"])
    result = gh.main(capsys, "prod", *FAST, *(["--not-yet-ok"] if not_yet_ok else []))
    assert gh.of("workflow", "run") == []
    assert result.code == (0 if not_yet_ok else 2)
    if not_yet_ok:
        assert "`prod`: nothing to verify yet: stack 'prod' builds from release tags" in summary.read_text()
    else:
        assert "no successful run of a tag matching its patterns yet" in result.err
        assert not summary.exists()


@pytest.mark.parametrize(
    "refusal", [UNEXPECTED, "HTTP 404: could not find any workflow named build-push.yml"]
)
def test_a_workflow_still_in_its_pull_request_is_nothing_to_verify_yet(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], refusal: str
) -> None:
    """workflow.viaPullRequest: until the pull request is merged, the branch has the old workflow
    (no verify input) or none."""
    gh.stack("dev", {**DEV, "workflow": {"viaPullRequest": True}})
    gh.scenario(dispatch=Answer(stderr=f"could not create workflow dispatch event: {refusal}\n", rc=1))
    by_hand = gh.main(capsys, "dev", *FAST)
    assert by_hand.code == 2
    assert "it waits in a pull request (workflow.viaPullRequest). Merge it, then `make verify STACK=dev`" in (
        by_hand.err
    )


def test_in_deploy_ci_a_workflow_still_in_its_pull_request_is_a_notice(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.stack("dev", {**DEV, "workflow": {"viaPullRequest": True}})
    gh.scenario(dispatch=Answer(stderr=f"could not create workflow dispatch event: {UNEXPECTED}\n", rc=1))
    result = gh.main(capsys, "dev", "--no-wait-for-reviewers", "--not-yet-ok", *FAST)
    assert result.code == 0
    assert result.out.startswith("Nothing to verify yet: the workflow at main is not yet the one")


# --- what must be fixed first -------------------------------------------------------------------


def test_gh_not_logged_in_one_message_exit_2_and_no_token(
    gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "gho_" + "x" * 36
    gh.stack("dev", DEV)
    gh.scenario(auth=Answer(stderr=f"github.com\n  X Failed to log in using token ({token})\n", rc=1))
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        "error: gh is not logged in to GitHub: run `gh auth login`, or set GH_TOKEN to a token that may "
        f"run workflows (actions: write) in {OWNER_REPO}\n"
    )
    assert token not in result.out + result.err
    assert gh.calls == [["auth", "status"]]


def test_gh_errors_never_show_a_token(gh: FakeGh, capsys: pytest.CaptureFixture[str]) -> None:
    token = "ghp_" + "y" * 36
    gh.stack("dev", DEV)
    gh.scenario(dispatch=Answer(stderr=f"HTTP 401: Bad credentials (token {token})\n", rc=1))
    result = gh.main(capsys, "dev", *FAST)
    assert result.code == 1
    assert token not in result.out + result.err
    assert "[token]" in result.err


def synth_message(stack: str, stacks: Path) -> str:
    """What `make synth` prints for the stack's mistake (tools/synth.py)."""
    try:
        parse(*stack_config(stack, stacks), stack)
    except (ConfigError, StackFileError) as err:
        return f"error: {describe(err, stack, stacks)}\n"
    raise AssertionError("the stack is valid")


@pytest.mark.parametrize(
    ("stack", "text"),
    [("broken", "config:\n  alicloud:region: [cn-shanghai\n"), ("missing", None)],
    ids=["yaml-syntax", "no-such-stack"],
)
def test_an_unusable_stack_file_gives_the_synth_message_exit_2(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], stack: str, text: str | None
) -> None:
    gh.stack("dev", DEV)
    if text is not None:
        (gh.stacks / f"Pulumi.{stack}.yaml").write_text(text)
    result = gh.main(capsys, stack, *FAST)
    assert result.code == 2
    assert result.err == synth_message(stack, gh.stacks)
    assert gh.calls == []


# --- end to end: `python -m tools.verify`, started by the fixture end_to_end ----------------------


def test_branch_stack_dispatches_on_its_branch_and_exits_0_with_the_run_url(
    end_to_end: dict[str, Started],
) -> None:
    """End to end, as `make verify STACK=dev` runs it (the scenario: `end_to_end`)."""
    result = end_to_end["dev"].result()
    gh = end_to_end["dev"].gh
    assert result.code == 0, result.err
    assert result.err == ""
    assert gh.of("workflow", "run") == [dispatched("build-push.yml", "main")]
    assert gh.calls[0] == ["auth", "status"]
    assert gh.of("api") == []  # a branch stack needs no release run
    listed = gh.of("run", "list")
    assert listed[0] == [
        *("run", "list", "-R", OWNER_REPO, "--workflow", "build-push.yml", "--event", "workflow_dispatch"),
        *("--limit", "20", "--json", "databaseId,url,createdAt,headBranch,status,conclusion"),
    ]
    assert {tuple(c) for c in listed} == {tuple(listed[0])}
    views = gh.of("run", "view")
    assert views[0] == ["run", "view", "43", "-R", OWNER_REPO, "--json", "status,conclusion,url"]
    assert len(views) == 3
    assert "repository: acme-platform/shop" in result.out
    assert "workflow  : build-push.yml" in result.out
    assert "ref       : main (github.branch" in result.out
    assert "queued" in result.out
    assert "in progress" in result.out
    assert "Conclusion: success" in result.out
    assert f"{RUN_URL}43" in result.out
    assert f"{RUN_URL}42" not in result.out


def test_without_gh_on_path_one_clear_message_exit_2(end_to_end: dict[str, Started]) -> None:
    result = end_to_end["no-gh"].result()
    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        "error: this needs the GitHub CLI, `gh`, which is not on PATH: install it (https://cli.github.com), "
        "then run `gh auth login`\n"
    )


def test_a_bad_stack_file_gives_the_synth_message_exit_2(end_to_end: dict[str, Started]) -> None:
    result = end_to_end["bad"].result()
    stacks = end_to_end["bad"].gh.stacks
    assert result.code == 2
    assert result.out == ""
    assert result.err == synth_message("dev", stacks)
    assert "cn-shangai" in result.err
    assert "Pulumi.dev.yaml:3:" in result.err  # at its line
    assert "Traceback" not in result.err
    assert end_to_end["bad"].gh.calls == []  # before any gh


@pytest.mark.parametrize(("stack", "waits"), [("prod", False), ("dev", True)])
def test_in_deploy_ci_it_waits_for_a_stack_nobody_must_approve_and_links_one_somebody_must(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], stack: str, waits: bool
) -> None:
    gh.stack(stack, PROD if stack == "prod" else DEV)
    ref = "v1.10.0" if stack == "prod" else "main"
    gh.scenario(
        tags=RELEASES, runs=[run(9, ref=ref)], views=[{"status": "completed", "conclusion": "failure"}]
    )
    result = gh.main(capsys, stack, "--no-wait-for-reviewers", *FAST)
    assert bool(gh.of("run", "view")) is waits
    assert result.code == (1 if waits else 0), "waited for (and failed), or linked for a reviewer"


def test_without_a_stack_it_verifies_dev_as_make_synth_would_or_says_what_to_name(
    gh: FakeGh, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gh.stack("dev", DEV)
    gh.scenario(runs=[run(8)])
    result = gh.main(capsys, *FAST)
    assert result.code == 0, result.err
    assert "Dispatched a verify run of stack 'dev'" in result.out
    two = tmp_path / "two"
    two.mkdir()
    for name in ("eu", "us"):
        (two / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    assert verify.main(["--stacks-dir", str(two)]) == 2
    assert capsys.readouterr().err == (
        "error: name the stack to verify: make verify STACK=<stack> (stacks: eu, us)\n"
    )
