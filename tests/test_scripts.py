"""The shell the committed workflow carries, run as GitHub runs it: each script of
components/workflow_render/scripts with bash, the environment the rendered step gives it (its
`${{ }}` values evaluated by GitHub's own evaluator from the build's row of the table, the stack's
variables and the outputs of the steps before it), fakes of `docker`, `gh` and `sleep` on PATH, a
real git history, a real local HTTP endpoint; every branch of each script: success, retry,
failure, fail-open, every source namespace, immutable re-runs, the exact JSON each webhook kind
receives. Change detection runs as the `changes` job runs: its steps in order, each when its
`if:` says, and what reaches the build matrix is the job's output `builds`."""

from __future__ import annotations

import base64
import fnmatch
import functools
import json
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, event, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from components.config import ConfigError
from components.rules import github_glob
from components.settings import image_key
from components.workflow_render import render, render_pull_requests
from components.workflow_render.parts import SCRIPTS, script
from tests.conftest import OIDC, job_step, settings_for
from tests.fake_tools.docker import index_digest
from tests.fakes import BASH, Fakes, History, StepResult, digest, run_inline, run_script
from tests.jobgraph import evaluate

REGISTRY = "acme-registry.cn-hangzhou.cr.aliyuncs.com"
API = f"{REGISTRY}/acme-dev/api"
WEB = f"{REGISTRY}/acme-dev/web"
TWO = {"name": "api", "platforms": ["linux/amd64", "linux/arm64"]}


# --- the workflow as GitHub hands it to a step ----------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """A stack's rendered workflow, and the values of its GitHub variables (`vars`)."""

    doc: dict[str, Any]
    variables: dict[str, str]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table of builds the `changes` job carries (env BUILDS, JSON lines)."""
        return [json.loads(line) for line in self.doc["jobs"]["changes"]["env"]["BUILDS"].splitlines()]

    def row(self, key: str, leg: int = 1) -> dict[str, Any]:
        (found,) = [r for r in self.rows if r["key"] == key and r.get("leg", 1) == leg]
        return found

    def contexts(self, row: dict[str, Any], temp: Path, **steps: dict[str, Any]) -> dict[str, Any]:
        """What a step of the build job of `row` can read: its row, the variables, the runner's
        temporary directory, and the steps before it (id -> outputs, outcome)."""
        return {"matrix": row, "vars": self.variables, "runner": {"temp": str(temp)}, "steps": steps}


def stack(pull_requests: bool = False, **overrides: Any) -> Stack:
    return _stack(pull_requests, json.dumps(overrides, sort_keys=True))


@functools.cache
def _stack(pull_requests: bool, overrides: str) -> Stack:
    s = settings_for(**json.loads(overrides))
    doc: dict[str, Any] = YAML(typ="safe").load(render_pull_requests(s) if pull_requests else render(s))
    return Stack(doc, s.variables)


def rendered(pull_requests: bool = False, **overrides: Any) -> dict[str, Any]:
    return stack(pull_requests, **overrides).doc


SEGMENT = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# A context an expression reads: a name followed by `.` or `[` that is not itself a property.
CONTEXT = re.compile(r"(?<![\w.'\]-])([A-Za-z_][\w-]*)(?=\s*[.\[])")


def as_text(value: Any) -> str:
    """An expression's value where GitHub puts it in a string (an env value, an input)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value)


def fill(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each text with every `${{ }}` in it replaced as GitHub replaces it, under its own contexts,
    by GitHub's evaluator (one node process for all). An expression that reads a context the test
    did not give fails the test: the test must say what GitHub would substitute."""
    found = [
        (n, match, contexts) for n, (text, contexts) in enumerate(cases) for match in SEGMENT.finditer(text)
    ]
    for n, match, contexts in found:
        missing = set(CONTEXT.findall(match[1])) - set(contexts)
        assert not missing, (
            f"the test must say what GitHub gives `{cases[n][0]}` ({match[0]} reads {missing})"
        )
    answers = iter(evaluate([(match[1].strip(), contexts) for _, match, contexts in found]) if found else [])
    return [SEGMENT.sub(lambda _: as_text(next(answers)), text) for text, _ in cases]


def substitute(values: dict[str, str], contexts: dict[str, Any]) -> dict[str, str]:
    """`fill` for named values under the same contexts."""
    return dict(zip(values, fill([(value, contexts) for value in values.values()]), strict=True))


def env_of(
    doc: dict[str, Any], job: str, step: dict[str, Any], contexts: dict[str, Any], given: dict[str, str]
) -> dict[str, str]:
    """The environment GitHub gives `step`: the workflow's, the job's and the step's env (the
    nearer one wins), each `${{ }}` evaluated with `contexts` unless the test gives its value.
    A test gives only values that are expressions, and only of variables the step has."""
    declared = {**(doc.get("env") or {}), **(doc["jobs"][job].get("env") or {}), **(step.get("env") or {})}
    values = {key: as_text(value) for key, value in declared.items()}
    for key in given:
        assert key in values, f"GitHub gives the step no {key}"
        assert "${{" in values[key], f"{key} is `{values[key]}` in the workflow, not the test's to say"
    return substitute({k: v for k, v in values.items() if k not in given}, contexts) | given


def step_env(
    doc: dict[str, Any], job: str, script_name: str, contexts: dict[str, Any] | None = None, **given: str
) -> dict[str, str]:
    """The env of the step of `job` that runs scripts/<script_name>.sh."""
    return env_of(doc, job, job_step(doc["jobs"][job], script_name), contexts or {}, given)


def condition(text: str | None) -> str:
    """The expression of an `if:` (GitHub reads it with or without `${{ }}`)."""
    assert text is not None
    match = SEGMENT.fullmatch(text.strip())
    return (match[1] if match else text).strip()


def inline_step(doc: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    (step,) = [s for s in doc["jobs"][job]["steps"] if s["name"] == name]
    return step  # type: ignore[no-any-return]


def uses(doc: dict[str, Any], job: str, action: str) -> dict[str, Any]:
    (step,) = [s for s in doc["jobs"][job]["steps"] if s.get("uses", "").startswith(f"{action}@")]
    return step  # type: ignore[no-any-return]


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path / "fakes")


# Histories made once and copied for each test (a copy is cheaper than the commits again).


@pytest.fixture(scope="module")
def first_commit(tmp_path_factory: pytest.TempPathFactory) -> History:
    history = History(tmp_path_factory.mktemp("first") / "repo")
    history.commit("first", "api/main.py", "frontend/index.html", "README.md")
    return history


@pytest.fixture(scope="module")
def release_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """before (main) -> api-change (feature); docs (main); the merge of feature; tagged (main)."""
    history = History(tmp_path_factory.mktemp("release") / "repo")
    history.commit("before", "api/main.py")
    history.run("checkout", "-q", "-b", "feature")
    history.commit("api-change", "api/main.py")
    history.run("checkout", "-q", "main")
    history.commit("docs", "README.md")
    history.run("merge", "-q", "--no-ff", "-m", "merge", "feature")
    history.commits["merge"] = history.run("rev-parse", "HEAD")
    history.commit("tagged", "README.md", content="tagged")
    return history


# --- change detection: the `changes` job ----------------------------------------------------------


def push_event(head: str, ref_type: str = "branch", event: str = "push", ref: str = "main") -> dict[str, Any]:
    """The `github` context of a run (a push of `head`, or what `event` and `ref_type` say)."""
    return {"event_name": event, "ref_type": ref_type, "ref_name": ref, "sha": head, "token": "t"}


def pull_request_event(base: str, head: str) -> dict[str, Any]:
    pull = {"base": {"sha": base}, "head": {"sha": head}}
    return {"event_name": "pull_request", "event": {"pull_request": pull}, "token": "t"}


@dataclass
class Planned:
    """What a run of the `changes` job did."""

    steps: dict[str, StepResult | None]
    """Each step by id: what it did, or None when its `if:` skipped it."""
    builds: str
    """The job's output `builds`: the build job's matrix."""

    @property
    def listed(self) -> StepResult | None:
        return self.steps.get("changes")

    @property
    def plan(self) -> StepResult:
        result = self.steps["plan"]
        assert result is not None
        return result

    @property
    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.builds)
        return rows

    @property
    def keys(self) -> list[str]:
        """The image key of each build the matrix gets, in its order."""
        return [row["key"] for row in self.rows]


def plan_builds(doc: dict[str, Any], tmp: Path, fakes: Fakes, github: dict[str, Any]) -> Planned:
    """Run the `changes` job of `doc` as GitHub runs it for the event `github`: each step in order
    when its `if:` holds (`success()` implied, as GitHub implies it), its env from the rendered
    workflow and the outputs of the steps before it; then the job's output `builds`."""
    job = doc["jobs"]["changes"]
    done: dict[str, Any] = {}
    results: dict[str, StepResult | None] = {}
    failed = False
    for step in job["steps"]:
        contexts = {"github": github, "steps": done}
        if "if" in step and "cancelled()" in step["if"]:
            assert condition(step["if"]) == "!cancelled()", step["if"]
            runs = True  # nothing is cancelled here
        else:
            runs = not failed and ("if" not in step or bool(evaluate([(condition(step["if"]), contexts)])[0]))
        if not runs:
            results[step["id"]] = None
            done[step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            continue
        env = env_of(doc, "changes", step, contexts, {})
        if step["run"] == script("changes"):
            result = run_script("changes", env, tmp, fakes)
        elif step["run"] == script("plan"):
            result = run_script("plan", env, tmp, fakes)
        else:
            assert step["run"] not in {script(p.stem) for p in SCRIPTS.glob("*.sh")}, step["name"]
            result = run_inline(step["run"], env, tmp, fakes)
        outcome = "success" if result.returncode == 0 else "failure"
        failed = failed or result.returncode != 0
        results[step["id"]] = result
        done[step["id"]] = {"outputs": result.outputs, "outcome": outcome, "conclusion": outcome}
    builds = substitute({"builds": job["outputs"]["builds"]}, {"steps": done})["builds"]
    return Planned(results, builds)


ANCESTOR = "{first}, the last successful run, is not an ancestor of this commit"


class TestChangeDetection:
    IMAGES: ClassVar[list[dict[str, Any]]] = [{"name": "api"}, {"name": "web", "context": "frontend"}]

    def detect(self, fakes: Fakes, tmp: Path, head: str, **overrides: Any) -> Planned:
        """A push of `head` to main."""
        doc = rendered(**{"images": self.IMAGES, **overrides})
        planned = plan_builds(doc, tmp, fakes, push_event(head))
        assert planned.listed is not None, "a branch push lists the files changed"
        assert planned.listed.returncode == 0, planned.listed.stderr
        assert planned.plan.returncode == 0, planned.plan.stderr
        return planned

    @pytest.fixture(autouse=True)
    def _first(self, first_commit: History) -> None:
        self.template = first_commit

    def history(self, fakes: Fakes, tmp: Path) -> History:
        """A history of one commit, `first`, that the test may add to."""
        history = self.template.copy(tmp / "repo")
        fakes.state["repo"] = str(history.path)
        fakes.save()
        return history

    def succeeded(self, fakes: Fakes, *shas: str, branch: str = "main", event: str = "push") -> None:
        """The workflow's runs: successful ones at shas, oldest first, and no other."""
        fakes.state["runs"] = [
            {"head_sha": sha, "head_branch": branch, "event": event, "conclusion": "success"}
            for sha in reversed(shas)
        ]
        fakes.save()

    def test_a_verify_run_that_built_nothing_is_not_the_last_successful_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        web = history.commit("web change", "frontend/app.js")  # its build failed: no run counts
        self.succeeded(fakes, history.commits["first"])
        verify = {**fakes.state["runs"][0], "head_sha": web, "event": "workflow_dispatch"}
        fakes.state["runs"].insert(0, verify)  # `make verify` on that commit, newer
        fakes.save()
        head = history.commit("api change", "api/main.py")
        assert self.detect(fakes, tmp_path, head).keys == ["api", "web"], "web's failed build is built again"

    def test_a_push_builds_only_the_images_whose_files_changed_since_the_last_successful_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("web change", "frontend/app.js")
        planned = self.detect(fakes, tmp_path, head)
        assert planned.keys == ["web"]
        assert planned.rows == [stack(images=self.IMAGES).row("web")], "the row as the table has it"
        assert planned.listed is not None
        assert planned.listed.outputs == {"files": '["frontend/app.js"]'}
        assert f"1 files changed since {history.commits['first'][:7]}" in planned.listed.stdout
        assert planned.plan.summary == "Images to build: web.\n"

    def test_changes_of_a_failed_run_are_not_lost(self, fakes: Fakes, tmp_path: Path) -> None:
        """Not since the previous push: that run failed (or was cancelled) before pushing."""
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        history.commit("api change, whose run failed", "api/main.py")
        head = history.commit("web change", "frontend/app.js")
        assert self.detect(fakes, tmp_path, head).keys == ["api", "web"]

    def test_it_asks_the_rest_api_for_the_last_successful_run_of_this_workflow_on_this_branch(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        self.detect(fakes, tmp_path, history.commit("x", "README.md"))
        lookup, compare = fakes.calls("gh")
        assert lookup[:4] == ["gh", "api", "--method", "GET"]
        assert lookup[4] == "repos/acme/shop/actions/workflows/build-push.yml/runs"
        assert {"branch=main", "event=push", "status=success", "per_page=1"} <= set(lookup)
        assert compare[2] == f"repos/acme/shop/compare/{history.commits['first']}...{history.commits['x']}"

    @pytest.mark.parametrize(
        ("situation", "reason"),
        [
            ("no earlier run", "no earlier successful run on main"),
            ("lookup fails", "the last successful run could not be looked up"),
            ("comparison fails", "the comparison with {first} failed"),
            ("history rewritten", f"{ANCESTOR} (the comparison is diverged: a rewritten history"),
            ("older commit run again", f"{ANCESTOR} (the comparison is behind: a rewritten history"),
            ("too many files", "300 files changed since {first}, more than GitHub's comparison lists"),
        ],
    )  # fmt: skip
    def test_it_fails_open_listing_nothing_and_every_row_is_built(
        self, fakes: Fakes, tmp_path: Path, situation: str, reason: str
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("docs", "README.md", content="changed")
        base = history.commits["first"]  # what the comparison is with
        if situation == "no earlier run":
            self.succeeded(fakes)
        elif situation == "lookup fails":
            fakes.state["runs_fail"] = True
        elif situation == "comparison fails":
            fakes.state["compare_fails"] = True
        elif situation == "history rewritten":
            # The last successful run built `docs`; a force push replaced it.
            self.succeeded(fakes, base := head)
            history.run("reset", "-q", "--hard", history.commits["first"])
            head = history.commit("rewritten docs", "README.md", content="other")
        elif situation == "too many files":
            head = history.commit("many", *[f"docs/{n}.md" for n in range(301)])
        elif situation == "older commit run again":
            # A re-run of an older commit: the last successful run is ahead of it.
            self.succeeded(fakes, base := history.commit("api", "api/main.py"))
        fakes.save()
        planned = self.detect(fakes, tmp_path, head)
        assert planned.listed is not None
        assert planned.listed.outputs == {}, "no list of files"
        notice = f"::notice::{reason.format(first=base[:7])}"
        assert notice in planned.listed.stdout
        assert planned.listed.stdout.rstrip().endswith(": building every image")
        assert planned.rows == stack(images=self.IMAGES).rows
        assert planned.plan.summary == "Images to build: api, web.\n"

    @pytest.mark.parametrize(("files", "listed"), [(299, True), (300, False)])
    def test_a_comparison_of_300_files_may_have_more_and_fails_open(
        self, fakes: Fakes, tmp_path: Path, files: int, listed: bool
    ) -> None:
        """GitHub lists at most 300 files: 299 is the whole list, 300 may not be."""
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("many", *[f"docs/{n}.md" for n in range(files)])
        planned = self.detect(fakes, tmp_path, head)
        assert planned.listed is not None
        assert ("files" in planned.listed.outputs) is listed
        assert planned.keys == ([] if listed else ["api", "web"])

    def test_nothing_changed_builds_nothing_and_the_build_job_does_not_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        planned = self.detect(fakes, tmp_path, history.commits["first"])
        assert planned.listed is not None
        assert planned.listed.outputs == {"files": "[]"}
        assert planned.builds == "[]"
        assert planned.plan.summary == "Images to build: none.\n"
        # The build job's own condition, after the status function GitHub alone supplies.
        build = condition(rendered(images=self.IMAGES)["jobs"]["build"]["if"])
        assert build.startswith("!cancelled() && ")
        rest = build.removeprefix("!cancelled() && ")
        needs = {"changes": {"outputs": {"builds": planned.builds}, "result": "success"}}
        assert evaluate([(rest, {"needs": needs})]) == [False]

    def test_file_names_with_spaces_other_scripts_and_json_escapes_are_matched_as_they_are(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """gh writes `&`, `<` and `>` as JSON escapes (Go's encoding/json): read back as they are."""
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        names = ["api/handlers/größe mit leer.py", 'api/a&b <c> "d".py']
        planned = self.detect(fakes, tmp_path, history.commit("names", *names))
        assert planned.keys == ["api"]
        assert planned.listed is not None
        assert sorted(json.loads(planned.listed.outputs["files"])) == sorted(names)

    def test_the_workflow_file_itself_rebuilds_every_image(self, fakes: Fakes, tmp_path: Path) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("ci", ".github/workflows/build-push.yml")
        assert self.detect(fakes, tmp_path, head).keys == ["api", "web"]

    def test_a_file_renamed_out_of_an_image_is_a_change_of_that_image(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        history.run("mv", "api/main.py", "docs-main.py")
        planned = self.detect(fakes, tmp_path, history.commit("moved"))
        assert planned.keys == ["api"]
        assert planned.listed is not None
        assert json.loads(planned.listed.outputs["files"]) == ["docs-main.py", "api/main.py"]

    @pytest.mark.parametrize(
        ("changed", "built"),
        [
            ("api/docs/readme.md", False),  # excluded by the later `!` pattern
            ("api/docs/keep/this.md", True),  # ... and included again by the one after it
            ("api/main.py", True),
            ("libs/shared/x.py", False),  # `*` does not cross `/`
            ("libs/x.py", True),
            ("deep/down/Dockerfile.api", True),  # `**/` is any number of directories
            ("Dockerfile.api", True),  # ... none included
        ],
    )
    def test_patterns_follow_githubs_glob_in_order_with_exclusions(
        self, fakes: Fakes, tmp_path: Path, changed: str, built: bool
    ) -> None:
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        head = history.commit("change", changed)
        paths = ["api/**", "!api/docs/**", "api/docs/keep/**", "libs/*.py", "**/Dockerfile.api"]
        images = [{"name": "api", "paths": paths}, {"name": "web", "context": "frontend"}]
        assert self.detect(fakes, tmp_path, head, images=images).keys == (["api"] if built else [])

    def test_every_row_of_an_image_is_kept_or_dropped_together(self, fakes: Fakes, tmp_path: Path) -> None:
        """A multi-arch image is a row per platform: a change builds both, no change neither."""
        images = [TWO, {"name": "web", "context": "frontend"}]
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        api = self.detect(fakes, tmp_path, history.commit("api", "api/main.py"), images=images)
        assert [(r["key"], r["platforms"]) for r in api.rows] == [
            ("api", "linux/amd64"),
            ("api", "linux/arm64"),
        ]
        assert api.rows == stack(images=images).rows[:2]
        self.succeeded(fakes, history.commits["api"])
        web = self.detect(fakes, tmp_path, history.commit("web", "frontend/app.js"), images=images)
        assert web.keys == ["web"]

    @pytest.mark.parametrize(
        ("changed", "built"), [("api/main.py", ["api"]), ("api-v2/main.py", ["api-v2"]), ("api2/x", [])]
    )
    def test_an_image_whose_name_begins_with_anothers_builds_alone(
        self, fakes: Fakes, tmp_path: Path, changed: str, built: list[str]
    ) -> None:
        """api and api-v2 (keys api and api-v2): a change under api-v2/ never builds api, nor the
        reverse."""
        images = [{"name": "api"}, {"name": "api-v2"}]
        assert [r["key"] for r in stack(images=images).rows] == ["api", "api-v2"]
        history = self.history(fakes, tmp_path)
        self.succeeded(fakes, history.commits["first"])
        planned = self.detect(fakes, tmp_path, history.commit("change", changed), images=images)
        assert planned.keys == built

    @pytest.mark.parametrize(
        "github",
        [
            push_event("0" * 40, ref_type="tag", ref="v1.2.0"),
            push_event("0" * 40, event="workflow_dispatch"),
        ],
        ids=["release tag", "manual run"],
    )
    def test_a_release_tag_or_a_manual_run_lists_no_files_and_builds_every_row(
        self, fakes: Fakes, tmp_path: Path, github: dict[str, Any]
    ) -> None:
        images = [TWO, {"name": "web", "context": "frontend"}]
        doc = rendered(images=images, workflow={"tags": ["v*"]})
        planned = plan_builds(doc, tmp_path, fakes, github)
        assert planned.listed is None, "the changes step does not run"
        assert fakes.calls("gh") == []
        assert planned.rows == stack(images=images, workflow={"tags": ["v*"]}).rows
        assert planned.keys == ["api", "api", "web"]

    def test_a_tags_only_stack_builds_every_row_on_a_release_tag(self, fakes: Fakes, tmp_path: Path) -> None:
        overrides: dict[str, Any] = {"images": [TWO], "workflow": {"tags": ["v*"], "branchBuilds": False}}
        doc = rendered(**overrides)
        planned = plan_builds(doc, tmp_path, fakes, push_event("0" * 40, ref_type="tag", ref="v1.2.0"))
        assert list(planned.steps) == ["plan"]
        assert planned.plan.returncode == 0, planned.plan.stderr
        assert planned.rows == stack(**overrides).rows
        assert len(planned.rows) == 2

    def test_a_pull_request_compares_with_its_base_even_when_the_base_moved_on(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        history = self.history(fakes, tmp_path)
        history.run("checkout", "-q", "-b", "feature")
        head = history.commit("feature", "frontend/app.js")
        history.run("checkout", "-q", "main")
        base = history.commit("main moved on", "api/main.py")
        doc = rendered(pull_requests=True, images=self.IMAGES, workflow={"pullRequests": True})
        planned = plan_builds(doc, tmp_path, fakes, pull_request_event(base, head))
        assert planned.keys == ["web"], "the pull request's own changes"
        assert [call[2] for call in fakes.calls("gh")] == [f"repos/acme/shop/compare/{base}...{head}"]


# --- GitHub's glob, as plan.sh matches it (jq's regular expressions) -------------------------------


def plan_for(paths: list[str], files: list[str], tmp: Path) -> tuple[bool, tuple[str, ...]]:
    """Whether plan.sh builds an image of these path patterns when `files` changed (the rendered
    workflow's FILTERS and BUILDS), and the image's patterns as the stack reads them."""
    overrides: dict[str, Any] = {"images": [{"name": "app", "paths": paths}]}
    doc = rendered(**overrides)
    env = step_env(doc, "changes", "plan", FILES=json.dumps(files))
    result = run_script("plan", env, tmp)
    assert result.returncode == 0, result.stderr
    kept = [row["key"] for row in json.loads(result.outputs["builds"])]
    settings = settings_for(**overrides)
    return kept == ["app"], settings.paths(settings.images[0])


def github_wants(paths: tuple[str, ...], files: list[str]) -> bool:
    """The rule, in Python: a file is the image's when the last of its patterns that matches it
    is not a `!` one; the image builds when one of the files is."""

    def wants(file: str) -> bool:
        found = False
        for path in paths:
            if github_glob(path.removeprefix("!")).match(file):
                found = not path.startswith("!")
        return found

    return any(wants(file) for file in files)


GLOBS = ["api/**", "**/main", "v[!0-9]*", "a.b?c", "docs/*.md", "x+y(z)", "**", "*.py", "[ab]/c", "x/**/y"]
PATHS = ["api/x", "api", "main", "a/b/main", "vx1", "v1", "a.bxc", "a.b/c", "docs/a.md", "docs/a/b.md"]
PATHS += ["x+y(z)", "xy(z)", "top.py", "dir/top.py", "a/c", "c/c", "x/y", "x/a/b/y", "xy", "größe.py"]


@pytest.mark.parametrize("glob", GLOBS)
def test_the_patterns_plan_reads_are_githubs_glob(glob: str, tmp_path: Path) -> None:
    """Each pattern, as the workflow's FILTERS carry it and plan.sh's jq matches it, matches exactly
    what the Python rule (components.rules.github_glob) matches, on a table of paths."""
    answers = {path: plan_for([glob], [path], tmp_path)[0] for path in PATHS}
    assert answers == {path: bool(github_glob(glob).match(path)) for path in PATHS}
    assert any(answers.values()), "the table meets the pattern"


PIECES = ["a", "b", "/", ".", "-", "_", "+", "(", ")", "|", "^", "$", "é", " ", "]", "&", "*", "**"]
PIECES += ["**/", "?", "[ab]", "[!a]", "[a-c]", "[.]", "[é-]"]
NAMES = ["a", "b", "c", "/", ".", "-", "+", "(", ")", "|", "^", "$", "é", " ", "]", "[", "&", "x", "\\"]


WILD = {
    "*": ["", "a", "ab", "a/b", "é."],
    "**": ["", "a", "a/b", "/"],
    "**/": ["", "a/", "a/b/"],
    "?": ["a", "/", "é"],
}
SET = ["a", "b", "c", ".", "-", "é", "z", "/"]


@st.composite
def filters_and_files(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """An image's path patterns (a `!` one excludes), and changed files: made up, or made from one
    of the patterns (each wildcard and set filled in, sometimes with what it does not match)."""
    globs = draw(st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6), min_size=1, max_size=4))
    paths = ["".join(g) if draw(st.sampled_from([True, True, False])) else "!" + "".join(g) for g in globs]
    files = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            files.append("".join(draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=8))))
            continue
        pieces = draw(st.sampled_from(globs))
        filled = [draw(st.sampled_from(WILD.get(p, SET if p.startswith("[") else [p]))) for p in pieces]
        files.append("".join(filled))
    return paths, files


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], deadline=None)
@given(case=filters_and_files())
def test_plan_keeps_an_image_exactly_when_githubs_path_filters_would(
    case: tuple[list[str], list[str]],
) -> None:
    """Any patterns in any order (a `!` one excludes, a later one overrides), any files: plan.sh
    keeps the image exactly when the Python rule says GitHub would build it."""
    paths, files = case
    try:
        settings_for(images=[{"name": "app", "paths": paths}])
    except ConfigError:
        reject()  # not a pattern a stack may have
    with tempfile.TemporaryDirectory() as tmp:
        kept, read = plan_for(paths, files, Path(tmp))
    event("built" if kept else "not built")
    assert kept == github_wants(read, files)


# --- pushing: the image created once every build of it is in --------------------------------------


class Artifacts:
    """This run's artifacts, as actions/upload-artifact and download-artifact keep them: a name
    -> its files (a single file is uploaded under its own name)."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, str]] = {}

    def upload(self, step: dict[str, Any], contexts: dict[str, Any]) -> str:
        inputs = substitute({k: as_text(v) for k, v in step["with"].items()}, contexts)
        path = Path(inputs["path"])
        if not path.is_file():
            assert inputs["if-no-files-found"] == "error"
            raise AssertionError(f"upload-artifact fails: no file at {path}")
        if inputs["name"] in self.stored:
            assert inputs["overwrite"] == "true", "a second upload of a name fails without overwrite"
        self.stored[inputs["name"]] = {path.name: path.read_text()}
        return inputs["name"]

    def download(self, step: dict[str, Any], contexts: dict[str, Any]) -> list[str]:
        """The artifacts whose names match the pattern (minimatch), each file into `path`."""
        inputs = substitute({k: as_text(v) for k, v in step["with"].items()}, contexts)
        assert inputs["merge-multiple"] == "true", "each artifact's files straight into the path"
        names = [name for name in self.stored if minimatch(name, inputs["pattern"])]
        for name in names:
            for file, text in self.stored[name].items():
                target = Path(inputs["path"]) / file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        return names


def minimatch(name: str, pattern: str) -> bool:
    """minimatch (download-artifact's matcher) on a name without `/`: `*` any characters, `?` one."""
    assert not set(pattern) & set("[]{}()!+@\\"), f"a pattern minimatch reads otherwise: {pattern}"
    regex = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


@dataclass
class Build:
    """One leg of the build job (a row of the table) after its push: its steps that record and
    publish its digest, collect its image's, and create the image (scripts/merge.sh)."""

    stack: Stack
    row: dict[str, Any]
    temp: Path
    fakes: Fakes
    artifacts: Artifacts
    done: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """What its push by digest pushed (the fake registry holds it: TestCreatingTheImage)."""
        return digest(f"{self.row['key']} {self.row['platforms']}")

    def contexts(self) -> dict[str, Any]:
        return self.stack.contexts(self.row, self.temp, **self.done)

    def pushed(self, retried: bool = False) -> None:
        """`Push by digest` gave its digest (or failed, and its retry gave it); `Record the digest`
        and the upload run."""
        self.temp.mkdir(parents=True, exist_ok=True)
        failed = {"outputs": {}, "outcome": "failure"}
        ok = {"outputs": {"digest": self.digest}, "outcome": "success"}
        self.done |= {"push": failed, "retry": ok} if retried else {"push": ok}
        step = inline_step(self.stack.doc, "build", "Record the digest")
        env = env_of(self.stack.doc, "build", step, self.contexts(), {})
        result = run_inline(step["run"], env, self.temp, self.fakes)
        assert result.returncode == 0, result.stderr
        self.artifacts.upload(uses(self.stack.doc, "build", "actions/upload-artifact"), self.contexts())

    def merge(self, tags: list[str]) -> StepResult:
        """Collect the digests published so far, and run merge.sh."""
        self.artifacts.download(uses(self.stack.doc, "build", "actions/download-artifact"), self.contexts())
        env = step_env(self.stack.doc, "build", "merge", self.contexts(), TAGS="\n".join(tags))
        result = run_script("merge", env, self.temp, self.fakes)
        self.done["merge"] = {
            "outputs": result.outputs,
            "outcome": "success" if result.returncode == 0 else "failure",
        }
        return result


class TestCreatingTheImage:
    """scripts/merge.sh in each build of a by-digest stack: the last build of an image creates it."""

    IMAGES: ClassVar[list[dict[str, Any]]] = [TWO, {"name": "web"}]
    TAGS: ClassVar[list[str]] = [f"{API}:main", f"{API}:sha-abc1234"]

    def builds(self, fakes: Fakes, tmp: Path, key: str = "api", immutable: bool = False) -> list[Build]:
        """The builds of image `key`, sharing the run's artifacts; every image's digests pushed."""
        images = [{**image, "immutableTags": immutable} for image in self.IMAGES]
        found = stack(images=images)
        artifacts = Artifacts()
        every = [
            Build(found, row, tmp / f"{row['key']}-{row['leg']}", fakes, artifacts) for row in found.rows
        ]
        for build in every:
            pushed = fakes.manifest(
                f"{REGISTRY}/acme-dev/{build.row['image']}", f"{build.row['key']} {build.row['platforms']}"
            )
            assert pushed == build.digest
            if build.row["key"] != key:
                build.pushed()  # another image's builds, done first
        return [b for b in every if b.row["key"] == key]

    def creates(self, fakes: Fakes) -> list[list[str]]:
        return [c for c in fakes.calls("docker") if c[3] == "create"]

    def test_the_last_build_of_an_image_creates_it_from_every_digest_under_every_tag(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path)
        assert (amd64.row["legs"], arm64.row["legs"]) == (2, 2)
        amd64.pushed()
        first = amd64.merge(self.TAGS)
        assert first.returncode == 0, first.stderr
        assert first.outputs == {"merged": "false"}
        assert "::notice::1 of 2 builds of the image pushed so far: the last one creates it" in first.stdout
        assert self.creates(fakes) == []
        arm64.pushed()
        last = arm64.merge(self.TAGS)
        assert last.returncode == 0, last.stderr
        sources = [f"{API}@{digest('api linux/amd64')}", f"{API}@{digest('api linux/arm64')}"]
        assert self.creates(fakes) == [
            ["docker", "buildx", "imagetools", "create", "-t", self.TAGS[0], "-t", self.TAGS[1], *sources]
        ]
        created = index_digest([digest("api linux/amd64"), digest("api linux/arm64")])
        assert last.outputs == {"merged": "true", "digest": created}
        assert {tag: fakes.tags()[tag] for tag in self.TAGS} == dict.fromkeys(self.TAGS, created)
        assert sorted(p.name for p in (arm64.temp / "digests").iterdir()) == ["1", "2"], "web's is not api's"

    def test_a_build_whose_push_was_retried_publishes_the_retrys_digest(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path)
        amd64.pushed(retried=True)
        arm64.pushed()
        assert arm64.merge(self.TAGS).outputs["merged"] == "true"
        assert f"{API}@{amd64.digest}" in self.creates(fakes)[0]

    def test_an_image_of_one_build_is_created_from_its_one_digest_as_an_index(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """web beside a multi-arch image: pushed by digest too, and created by its only build
        (`imagetools create` wraps one manifest in an index: its digest is not the pushed one)."""
        (web,) = self.builds(fakes, tmp_path, key="web")
        assert web.row["legs"] == 1
        web.pushed()
        result = web.merge([f"{WEB}:main"])
        assert result.returncode == 0, result.stderr
        assert self.creates(fakes) == [
            ["docker", "buildx", "imagetools", "create", "-t", f"{WEB}:main", f"{WEB}@{web.digest}"]
        ]
        assert result.outputs["merged"] == "true"
        assert result.outputs["digest"] == fakes.tags()[f"{WEB}:main"] != web.digest

    def test_a_failed_create_is_retried_once_after_the_pause(self, fakes: Fakes, tmp_path: Path) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path)
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["fail_create"] = 1
        fakes.save()
        result = arm64.merge(self.TAGS)
        assert result.returncode == 0, result.stderr
        assert len(self.creates(fakes)) == 2
        assert fakes.calls("sleep") == [["sleep", "30"]]
        assert result.outputs["merged"] == "true"

    @pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
    def test_a_create_that_fails_twice_fails_the_build_saying_what(
        self, fakes: Fakes, tmp_path: Path, immutable: bool
    ) -> None:
        """Also in an immutable repository whose tags nobody created: no notice that another build
        did, and no digest looked up or recorded after the failure."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=immutable)
        assert arm64.row.get("immutable", False) is immutable
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["fail_create"] = 2
        fakes.save()
        result = arm64.merge([f"{API}:sha-abc1234"])
        assert result.returncode == 1
        assert f"::error::could not create the image {API} from {API}@" in result.stdout
        assert "another build of the image created it first" not in result.stdout
        assert result.outputs == {}
        assert not [c for c in fakes.calls("docker") if "--format" in c], "no digest looked up"
        assert fakes.calls("sleep") == [["sleep", "30"]], "one pause, before the one retry"

    @pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
    def test_two_builds_finishing_together_make_one_image(
        self, fakes: Fakes, tmp_path: Path, immutable: bool
    ) -> None:
        """Both find both digests: the first creates the image, the second creates the same image
        again, or, in an immutable repository that refuses it, finds its tags there."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=immutable)
        amd64.pushed()
        arm64.pushed()
        tags = [f"{API}:sha-abc1234", f"{API}:1.2.0"]
        first = arm64.merge(tags)
        fakes.refresh()
        fakes.state["immutable"] = immutable
        fakes.save()
        second = amd64.merge(tags)
        assert first.returncode == second.returncode == 0, second.stderr
        assert len(self.creates(fakes)) == 2
        said = "::notice::another build of the image created it first" in second.stdout
        assert said is immutable
        assert second.outputs == first.outputs == {"merged": "true", "digest": fakes.tags()[tags[0]]}
        assert fakes.calls("sleep") == []

    def test_an_immutable_repository_holding_only_some_of_the_tags_fails_the_build(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """Not another build's image: one of this run's tags is missing, so nobody made it."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True)
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["immutable"] = True
        fakes.save()
        fakes.manifest(API, "an older image", "sha-abc1234")
        result = arm64.merge([f"{API}:sha-abc1234", f"{API}:1.2.0"])
        assert result.returncode == 1
        assert "another build of the image created it first" not in result.stdout
        assert f"{API}:1.2.0" not in fakes.tags()


KEYED = ["api", "api-v2", "api.v2", "api_v2", "api/v2", "ap", "api2", "apiv2", "api-v2-beta", "a"]
"""Image names, some whose keys begin with another's (image_key: `.` and `/` become `-`)."""


def test_one_images_digest_pattern_never_collects_another_images_digests() -> None:
    """The names the rendered steps give a build's digest (`digest.<key>.<leg>`) and the pattern
    its image collects them by (`digest.<key>.*`): by fnmatch and by minimatch (`*` any
    characters, `.` included), an image's pattern matches its own builds' names and no other's."""
    doc = stack(images=[TWO, {"name": "api-v2", "platforms": ["linux/amd64", "linux/arm64"]}]).doc
    name = str(uses(doc, "build", "actions/upload-artifact")["with"]["name"])
    pattern = str(uses(doc, "build", "actions/download-artifact")["with"]["pattern"])
    keys = sorted({image_key(n) for n in KEYED})
    assert len(keys) < len(KEYED), "some names share a key (and never one stack)"
    legs = [(key, leg) for key in keys for leg in (1, 2, 12)]
    names = fill([(name, {"matrix": {"key": key, "leg": leg}}) for key, leg in legs])
    patterns = fill([(pattern, {"matrix": {"key": key, "leg": 1}}) for key in keys])
    assert names[0] == "digest.a.1"
    assert patterns[0] == "digest.a.*"
    for key, wanted in zip(keys, patterns, strict=True):
        for (other, _), artifact in zip(legs, names, strict=True):
            assert fnmatch.fnmatchcase(artifact, wanted) is (other == key), (wanted, artifact)
            assert minimatch(artifact, wanted) is (other == key), (wanted, artifact)


# --- releasing: the image of the tagged commit, retagged -------------------------------------------


class TestPromotion:
    """scripts/promote.sh in each build of an image on a release tag, on a real history with a merge."""

    NAMESPACES: ClassVar[list[str]] = ["acme-staging", "acme-qa"]

    @pytest.fixture
    def history(self, release_history: History, tmp_path: Path) -> History:
        return release_history.copy(tmp_path / "repo")

    def promote(
        self, fakes: Fakes, tmp: Path, history: History, build: bool = False, leg: int = 1, **overrides: Any
    ) -> StepResult:
        workflow = {"tags": ["v*"], "promote": {"build": build, "fromNamespaces": self.NAMESPACES}}
        found = stack(workflow=workflow, **overrides)
        row = found.row("api", leg)
        env = step_env(found.doc, "build", "promote", found.contexts(row, tmp), TAGS=f"{API}:1.2.0")
        return run_script("promote", env, tmp, fakes, cwd=history.path)

    def sha(self, history: History, commit: str) -> str:
        return f"sha-{history.commits[commit][:7]}"

    def creates(self, fakes: Fakes) -> list[list[str]]:
        return [c for c in fakes.calls("docker") if c[3] == "create"]

    @pytest.mark.parametrize(
        ("built", "found"),
        [
            ("api-change", True),  # the feature commit whose run built the merged change
            ("merge", True),
            ("tagged", True),  # a later run, whose sha is nearer the tag
            ("docs", False),  # main's commit beside the feature: built without the merged change
            ("before", False),  # an image of older inputs is not this release's
        ],
    )
    def test_it_takes_only_an_image_built_from_the_tagged_commits_files(
        self, fakes: Fakes, tmp_path: Path, history: History, built: str, found: bool
    ) -> None:
        image = fakes.index(API, ["amd64", "arm64"], self.sha(history, built))
        result = self.promote(fakes, tmp_path, history)
        if not found:
            assert result.returncode == 1
            assert "::error::no image of this commit" in result.stdout
            assert result.outputs == {"promoted": "false"}
            assert self.creates(fakes) == []
            return
        assert result.returncode == 0, result.stderr
        source = f"{API}:{self.sha(history, built)}"
        assert self.creates(fakes) == [
            ["docker", "buildx", "imagetools", "create", "-t", f"{API}:1.2.0", f"{API}@{image}"]
        ], "retagged by digest: the very image looked at"
        assert result.outputs == {"promoted": "true", "released": source, "digest": image}
        assert fakes.tags()[f"{API}:1.2.0"] == image, "an index is copied as it is"
        assert f"::notice::released {source} ({image}) as it is: no rebuild" in result.stdout

    def test_the_newest_commit_with_the_same_files_is_taken(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        for commit in ("api-change", "merge", "tagged"):
            fakes.index(API, [commit], self.sha(history, commit))
        result = self.promote(fakes, tmp_path, history)
        assert result.outputs["released"] == f"{API}:{self.sha(history, 'tagged')}"

    def test_this_stacks_repository_is_asked_first_then_each_namespace_in_order(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """Every candidate, newest first, in each source: the image's repository, then the same
        name in each namespace listed."""
        result = self.promote(fakes, tmp_path, history)
        candidates = [self.sha(history, c) for c in ("tagged", "merge", "api-change")]
        sources = [API, *(f"{REGISTRY}/{namespace}/api" for namespace in self.NAMESPACES)]
        asked = [c[4] for c in fakes.calls("docker") if c[3] == "inspect"]
        assert asked == [f"{source}:{candidate}" for source in sources for candidate in candidates]
        assert all(c[5:] == ["--format", "{{.Manifest.Digest}}"] for c in fakes.calls("docker"))
        assert result.returncode == 1
        assert (
            f"::error::no image of this commit ({' '.join(candidates)}) in {' '.join(sources)}; "
            "promote.build is false"
        ) in result.stdout

    def test_another_namespace_is_taken_only_when_this_stacks_repository_has_none(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        qa = f"{REGISTRY}/acme-qa/api"
        staging = f"{REGISTRY}/acme-staging/api"
        fakes.index(qa, ["qa"], self.sha(history, "tagged"))
        image = fakes.index(staging, ["staging"], self.sha(history, "merge"))
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stderr
        assert result.outputs["released"] == f"{staging}:{self.sha(history, 'merge')}", "the first listed"
        assert self.creates(fakes)[0][-1] == f"{staging}@{image}"
        fakes.index(API, ["own"], self.sha(history, "api-change"))
        assert (
            self.promote(fakes, tmp_path, history).outputs["released"]
            == f"{API}:{self.sha(history, 'api-change')}"
        )

    def test_an_image_from_another_namespace_can_be_pulled_by_the_digest_reported(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """A single-platform image (a stack pushing its tags directly): the release is an index
        wrapping it, and the digest reported, the source's, names it in this repository too."""
        staging = f"{REGISTRY}/acme-staging/api"
        image = fakes.manifest(staging, "staging", self.sha(history, "tagged"))
        result = self.promote(fakes, tmp_path, history)
        assert result.outputs["digest"] == image
        assert fakes.tags()[f"{API}:1.2.0"] != image
        fakes.refresh()
        assert f"{API}@{image}" in fakes.state["manifests"], "docker pull IMAGE@digest finds it"

    def test_the_other_builds_of_the_image_find_it_and_retag_nothing(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """A multi-arch image's second build: promoted (so it builds nothing), the same release
        said, and only the first build creates the tag."""
        image = fakes.index(API, ["amd64", "arm64"], self.sha(history, "merge"))
        result = self.promote(fakes, tmp_path, history, leg=2, images=[TWO])
        assert result.returncode == 0, result.stderr
        released = f"{API}:{self.sha(history, 'merge')}"
        assert result.outputs == {"promoted": "true", "released": released, "digest": image}
        assert self.creates(fakes) == []
        assert "::notice::released" not in result.stdout
        first = self.promote(fakes, tmp_path, history, leg=1, images=[TWO])
        assert first.outputs == result.outputs
        assert len(self.creates(fakes)) == 1

    def test_with_building_allowed_no_image_means_build_it(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode == 0
        assert result.outputs == {"promoted": "false"}
        assert "::notice::no image of this commit yet: building it" in result.stdout
        assert self.creates(fakes) == []

    def test_every_path_of_the_image_is_compared(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """An image whose Dockerfile is outside its context: a change there is a change of it."""
        fakes.index(API, ["merge"], self.sha(history, "merge"))
        history.commit("dockerfile", "docker/api.Dockerfile")
        images = [{"name": "api", "dockerfile": "docker/api.Dockerfile"}]
        assert self.promote(fakes, tmp_path, history, images=images).returncode == 1
        assert self.promote(fakes, tmp_path, history).returncode == 0, "api/** only: the same image"

    def test_a_failed_retag_is_retried_once_after_the_pause_then_fails(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        image = fakes.index(API, ["tagged"], self.sha(history, "tagged"))
        fakes.state["fail_create"] = 1
        fakes.save()
        assert self.promote(fakes, tmp_path, history).returncode == 0
        assert fakes.calls("sleep") == [["sleep", "30"]]
        fakes.refresh()
        fakes.state["fail_create"] = 2
        fakes.save()
        failed = self.promote(fakes, tmp_path, history)
        assert failed.returncode == 1
        source = f"{API}:{self.sha(history, 'tagged')}"
        assert f"::error::could not retag {source} ({image}) as the release" in failed.stdout
        assert "promoted" not in failed.outputs
        assert len(self.creates(fakes)) == 4


# --- what a run says -------------------------------------------------------------------------------


class TestSummaries:
    def summary(
        self, tmp: Path, found: Stack, row: dict[str, Any], tags: list[str], **steps: dict[str, Any]
    ) -> tuple[StepResult, bool]:
        """summary.sh with the env the build of `row` gives it after `steps`, and whether the
        step's `if:` lets it run."""
        step = job_step(found.doc["jobs"]["build"], "summary")
        contexts = found.contexts(row, tmp, **steps)
        (runs,) = evaluate([(condition(step["if"]), contexts)])
        env = env_of(found.doc, "build", step, contexts, {"TAGS": "\n".join(tags)})
        return run_script("summary", env, tmp), bool(runs)

    def test_the_image_created_says_where_it_is_its_tags_digest_platforms_and_how_to_pull_it(
        self, tmp_path: Path
    ) -> None:
        found = stack(images=[TWO])
        merged = {"merge": {"outputs": {"merged": "true", "digest": "sha256:9f"}}}
        result, runs = self.summary(
            tmp_path, found, found.row("api", 2), [f"{API}:main", f"{API}:sha-abc1234"], **merged
        )
        assert runs
        assert result.returncode == 0, result.stderr
        assert result.summary == (
            f"### `{API}`\n\n\n\n| | |\n|---|---|\n| tags | `main` `sha-abc1234` |\n"
            "| digest | `sha256:9f` |\n| platforms | linux/amd64, linux/arm64 |\n\n"
            f"```sh\ndocker pull {API}@sha256:9f\n```\n"
        )

    def test_a_build_that_did_not_create_the_image_says_nothing(self, tmp_path: Path) -> None:
        found = stack(images=[TWO])
        _, runs = self.summary(
            tmp_path, found, found.row("api", 1), [], merge={"outputs": {"merged": "false"}}
        )
        assert not runs

    def test_an_image_pushed_under_its_tags_says_the_digest_of_the_push_or_its_retry(
        self, tmp_path: Path
    ) -> None:
        found = stack()
        steps = {"push": {"outputs": {}, "outcome": "failure"}}
        steps |= {"retry": {"outputs": {"digest": "sha256:77"}, "outcome": "success"}}
        result, runs = self.summary(tmp_path, found, found.row("api"), [f"{API}:main"], **steps)
        assert runs
        assert "| digest | `sha256:77` |" in result.summary
        assert "| platforms | linux/amd64 |" in result.summary
        assert "Released" not in result.summary

    def test_a_promotion_says_which_image_it_released_once_per_image(self, tmp_path: Path) -> None:
        found = stack(images=[TWO], workflow={"tags": ["v*"], "promote": {}})
        source = f"{REGISTRY}/acme-staging/api:sha-abc1234"
        promoted = {"promote": {"outputs": {"promoted": "true", "released": source, "digest": "sha256:1"}}}
        result, runs = self.summary(tmp_path, found, found.row("api", 1), [f"{API}:1.2.0"], **promoted)
        assert runs
        assert result.summary.startswith(
            f"### `{API}`\n\nReleased `{source}` as it is, no rebuild.\n\n| | |\n"
        )
        assert f"docker pull {API}@sha256:1" in result.summary
        _, second = self.summary(tmp_path, found, found.row("api", 2), [f"{API}:1.2.0"], **promoted)
        assert not second, "the image's other build says nothing"


def test_the_fake_registry_refuses_what_buildx_refuses_and_creates_as_buildx_does(fakes: Fakes) -> None:
    """The tests above lean on tests/fake_tools/docker.py: a malformed reference, a source the
    registry does not hold, a create without a tag or a source, an unknown `--format` fail; one
    index is copied as it is, one manifest wrapped in a new index, several make an index."""
    amd64, arm64 = fakes.manifest(API, "amd64"), fakes.manifest(API, "arm64")
    index = fakes.index(API, ["x", "y"], "multi")

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(fakes.bin / "docker"), "buildx", "imagetools", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    refused = [
        ("create", "-t", f"{API}:x", f"{API}@sha256:aaa"),  # a digest is 64 hex digits
        ("create", "-t", f"{API}:x", f"{API}@{digest('never pushed')}"),
        ("create", "-t", f"{API}:x", f"{REGISTRY}/acme-staging/api@{amd64}"),  # another repository's
        ("create", f"{API}@{amd64}"),
        ("create", "-t", f"{API}:x"),
        ("create", "-t", f"{API}:Bad Tag", f"{API}@{amd64}"),
        ("inspect", f"{API}:missing"),
        ("inspect", f"{API}:multi", "--format", "{{json .Manifest}}"),
    ]
    for args in refused:
        assert docker(*args).returncode != 0, args
    assert fakes.tags() == {f"{API}:multi": index}
    assert docker("create", "-t", f"{API}:copy", f"{API}:multi").returncode == 0
    assert docker("create", "-t", f"{API}:wrapped", f"{API}@{amd64}").returncode == 0
    assert docker("create", "-t", f"{API}:both", f"{API}@{amd64}", f"{API}@{arm64}").returncode == 0
    tags = fakes.tags()
    assert tags[f"{API}:copy"] == index
    assert tags[f"{API}:wrapped"] == index_digest([amd64]) != amd64
    assert tags[f"{API}:both"] == index_digest([amd64, arm64])
    shown = docker("inspect", f"{API}:both", "--format", "{{.Manifest.Digest}}")
    assert shown.stdout == f"{tags[f'{API}:both']}\n"


def test_the_temporary_credentials_are_blanked_for_the_steps_that_follow(tmp_path: Path) -> None:
    doc = rendered(**OIDC)
    env = step_env(doc, "build", "forget-credentials")
    result = run_script("forget-credentials", env, tmp_path)
    assert result.returncode == 0
    assert result.env == {name: "" for name in env["CREDENTIALS"].split()}
    assert {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"} <= set(result.env)


# --- a local HTTP endpoint (webhooks, GitHub's OIDC token) -----------------------------------------


class Endpoint:
    """An HTTP server on 127.0.0.1 that records each request and answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, bytes] = (200, b'{"ok": true}')
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                endpoint.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                status, body = endpoint.reply
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 - the http.server names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll: shutdown() waits for the loop to look, 0.5 s by default.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.server.shutdown()


class TestFailureNotice:
    TEXT = 'build-push failed: acme/shop main "quoted" \\ back\nline'

    @pytest.mark.parametrize(
        ("kind", "payload"),
        [
            ("dingtalk", {"msgtype": "text", "text": {"content": TEXT}}),
            ("feishu", {"msg_type": "text", "content": {"text": TEXT}}),
            ("slack", {"text": TEXT}),
        ],
    )
    def test_each_webhook_kind_receives_exactly_its_json(
        self, tmp_path: Path, endpoint: Endpoint, kind: str, payload: dict[str, Any]
    ) -> None:
        doc = rendered(workflow={"notify": {"kind": kind}})
        env = step_env(doc, "notify-failure", "notify", WEBHOOK_URL=f"{endpoint.url}/hook", TEXT=self.TEXT)
        result = run_script("notify", env, tmp_path)
        assert result.returncode == 0, result.stderr
        (request,) = endpoint.requests
        assert (request["method"], request["path"]) == ("POST", "/hook")
        assert request["headers"]["Content-Type"] == "application/json"
        assert json.loads(request["body"]) == payload

    def test_the_text_names_the_repository_and_ref_and_links_the_failed_run(self) -> None:
        doc = rendered(workflow={"notify": {"kind": "slack"}})
        (step,) = [s for s in doc["jobs"]["notify-failure"]["steps"] if "TEXT" in s.get("env", {})]
        github = {
            "repository": "acme/shop",
            "ref_name": "main",
            "server_url": "https://github.com",
            "run_id": "42",
        }
        text = re.sub(r"\$\{\{ github\.(\w+) \}\}", lambda m: github[m[1]], step["env"]["TEXT"])
        assert text == "build-push failed: acme/shop main https://github.com/acme/shop/actions/runs/42"

    def test_a_webhook_that_refuses_fails_the_job(self, tmp_path: Path, endpoint: Endpoint) -> None:
        endpoint.reply = (403, b"no")  # (curl retries a 5xx once, a second later)
        doc = rendered(workflow={"notify": {"kind": "slack"}})
        env = step_env(doc, "notify-failure", "notify", WEBHOOK_URL=endpoint.url, TEXT="x")
        result = run_script("notify", env, tmp_path)
        assert result.returncode != 0
        assert len(endpoint.requests) == 1, "posted once: a 4xx is not retried"
        assert "403" in result.stderr

    def test_a_kind_it_cannot_write_fails_posting_nothing(self, tmp_path: Path, endpoint: Endpoint) -> None:
        """No stack renders one (settings admit dingtalk, feishu and slack): the rendered step with
        its KIND changed by hand, as an edited workflow would have it."""
        doc = rendered(workflow={"notify": {"kind": "slack"}})
        env = step_env(doc, "notify-failure", "notify", WEBHOOK_URL=endpoint.url, TEXT="x") | {
            "KIND": "teams"
        }
        result = run_script("notify", env, tmp_path)
        assert result.returncode == 1
        assert result.stdout == "::error::unknown webhook kind teams\n"
        assert endpoint.requests == []


# --- verify runs ---------------------------------------------------------------------------------


class TestVerify:
    def verify(self, fakes: Fakes, tmp: Path, login: str = "success", **overrides: Any) -> Any:
        doc = rendered(images=[{"name": "api"}, {"name": "web"}], **overrides)
        images = f"api\t{API}\nweb\t{REGISTRY}/acme-dev/web\n"
        env = step_env(doc, "verify", "verify", REGISTRY=REGISTRY, LOGIN=login, IMAGES=images)
        return run_script("verify", env, tmp, fakes)

    def test_repositories_that_answer_no_such_tag_are_reachable_and_nothing_is_pushed(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        fakes.state["errors"] = {
            "/api:": "ERROR: manifest unknown: manifest tagged by acr-pipeline-verify is not found"
        }
        fakes.save()
        result = self.verify(fakes, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "| registry | image | login | reachable |" in result.summary
        assert f"| `{REGISTRY}` | `acme-dev/api` | success | yes |" in result.summary
        assert f"| `{REGISTRY}` | `acme-dev/web` | success | yes |" in result.summary
        assert all(call[3] == "inspect" for call in fakes.calls("docker"))
        assert {call[4] for call in fakes.calls("docker")} == {
            f"{API}:acr-pipeline-verify",
            f"{REGISTRY}/acme-dev/web:acr-pipeline-verify",
        }

    @pytest.mark.parametrize(
        ("answer", "says"),
        [
            ("ERROR: unauthorized: authentication required", "no: the login may not read it"),
            ("ERROR: denied: requested access to the resource is denied", "no: the login may not read it"),
            ("ERROR: NAME_UNKNOWN: repository name not known to registry", "no: no such repository"),
            (
                "ERROR: dial tcp: lookup acme-registry: no such host",
                "no: ERROR: dial tcp: lookup acme-registry: no such host",
            ),
        ],
    )
    def test_a_repository_the_login_cannot_read_fails_the_run_saying_why(
        self, fakes: Fakes, tmp_path: Path, answer: str, says: str
    ) -> None:
        fakes.state["errors"] = {"/web:": answer}
        fakes.save()
        result = self.verify(fakes, tmp_path)
        assert result.returncode == 1
        assert f"| `acme-dev/web` | success | {says} |" in result.summary
        assert "::error::verification failed" in result.stdout

    def test_a_failed_login_asks_nothing_and_fails(self, fakes: Fakes, tmp_path: Path) -> None:
        result = self.verify(fakes, tmp_path, login="failure")
        assert result.returncode == 1
        assert "| failure | not asked: the login failed |" in result.summary
        assert fakes.calls("docker") == []

    @pytest.mark.parametrize("mode", ["password", "oidc"])
    def test_the_login_the_report_shows_is_the_login_steps_outcome_and_a_failed_token_trade_fails_it(
        self, mode: str
    ) -> None:
        """What GitHub hands the script as LOGIN, by its own evaluator: with OIDC a failed trade of
        the token for credentials is a failed login, whatever the login step then did."""
        doc = rendered(**(OIDC if mode == "oidc" else {}))
        step = job_step(doc["jobs"]["verify"], "verify")
        login = step["env"]["LOGIN"].removeprefix("${{").removesuffix("}}").strip()
        cases = {
            ("success", "success"): "success",
            ("success", "failure"): "failure",
            ("failure", "failure"): "failure",
            ("failure", "success"): "failure" if mode == "oidc" else "success",
        }
        steps = [{"aliyun": {"outcome": trade}, "login": {"outcome": outcome}} for trade, outcome in cases]
        assert evaluate([(login, {"steps": s}) for s in steps]) == list(cases.values())


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


class TestOidcDiagnosis:
    CLAIMS: ClassVar[dict[str, str]] = {
        "sub": "repo:acme/shop:ref:refs/heads/main",
        "aud": "sts.aliyuncs.com",
        "iss": "https://token.actions.githubusercontent.com",
        "ref": "refs/heads/main",
    }

    def diagnose(self, tmp: Path, endpoint: Endpoint, claims: dict[str, Any], **overrides: Any) -> Any:
        token = jwt(claims)
        endpoint.reply = (200, json.dumps({"value": token}).encode())
        doc = rendered(**OIDC, **overrides)
        # What the runner itself gives a job with `id-token: write`.
        env = step_env(doc, "verify", "oidc-claims") | {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{endpoint.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-1234",
        }
        result = run_script("oidc-claims", env, tmp)
        for text in (result.stdout, result.stderr, result.summary):
            assert token not in text, "the token is never printed"
            assert token.split(".")[1] not in text
        return result

    def test_it_asks_githubs_endpoint_for_a_token_for_sts_with_the_request_token(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        self.diagnose(tmp_path, endpoint, self.CLAIMS)
        (request,) = endpoint.requests
        assert request["path"] == "/token?api-version=2.0&audience=sts.aliyuncs.com"
        assert request["headers"]["Authorization"] == "bearer request-token-1234"

    def test_a_subject_the_role_does_not_admit_is_named_beside_those_it_does(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {**self.CLAIMS, "sub": "repo:acme/shop:ref:refs/heads/feature", "ref": "refs/heads/feature"}
        result = self.diagnose(tmp_path, endpoint, claims, workflow={"tags": ["v*"]})
        assert result.returncode == 1
        assert (
            "::error::sub: the token's subject repo:acme/shop:ref:refs/heads/feature is none of those"
            in result.stdout
        )
        assert (
            "| sub | `repo:acme/shop:ref:refs/heads/feature` | `repo:acme/shop:ref:refs/heads/main` "
            "`repo:acme/shop:ref:refs/tags/v*` |"
        ) in result.summary
        assert "| ref | `refs/heads/feature` | |" in result.summary
        assert "| environment | `(none)` | |" in result.summary

    def test_a_tag_the_role_admits_by_pattern_passes_and_another_audience_is_named(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {
            **self.CLAIMS,
            "sub": "repo:acme/shop:ref:refs/tags/v1.2.0",
            "aud": "api://AzureADTokenExchange",
        }
        result = self.diagnose(tmp_path, endpoint, claims, workflow={"tags": ["v*"]})
        errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
        assert errors == [
            "::error::aud: the token's audience is api://AzureADTokenExchange, "
            "the trust policy admits sts.aliyuncs.com"
        ]

    def test_an_environment_stack_admits_only_its_environments_subject(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        claims = {**self.CLAIMS, "sub": "repo:acme/shop:environment:staging", "environment": "staging"}
        result = self.diagnose(tmp_path, endpoint, claims, github={"environment": "production"})
        assert "sub: the token's subject repo:acme/shop:environment:staging" in result.stdout
        assert "`repo:acme/shop:environment:production`" in result.summary

    def test_when_every_claim_matches_it_says_where_else_to_look(
        self, tmp_path: Path, endpoint: Endpoint
    ) -> None:
        result = self.diagnose(tmp_path, endpoint, self.CLAIMS)
        assert result.returncode == 1
        assert "The token matches the trust policy" in result.summary


def test_every_script_is_valid_bash_and_run_by_a_test_here() -> None:
    """`bash -n` on each script file, and each is run above (shellcheck reads them in the
    workflow checkers' test)."""
    assert BASH
    source = Path(__file__).read_text()
    names = sorted(p.stem for p in SCRIPTS.glob("*.sh"))
    assert names
    for name in names:
        subprocess.run([BASH, "-n", str(SCRIPTS / f"{name}.sh")], check=True)
        assert re.search(rf'run_script\(\s*"{name}"', source), f"no test here runs {name}.sh"


# --- the few lines of shell that are not scripts ---------------------------------------------------

INLINE = {
    "Build every image",
    "Pause before pushing again",
    "Record the digest",
    "Say how to run it",
    "Summarize what was built",
    "Check every build",
}
"""Every `run:` that is not one of the scripts, by step name; each run by a test below."""


def test_every_other_run_step_is_one_of_the_few_lines_tested_here() -> None:
    docs = [
        rendered(
            images=[TWO, {"name": "web", "immutableTags": True}], workflow={"tags": ["v*"], "promote": {}}
        ),
        rendered(workflow={"tags": ["v*"], "branchBuilds": False}),
        rendered(pull_requests=True, images=[TWO], workflow={"pullRequests": True}),
        rendered(**OIDC),
    ]
    placed = {script(p.stem) for p in SCRIPTS.glob("*.sh")}
    found = {
        step["name"]
        for doc in docs
        for job in doc["jobs"].values()
        for step in job["steps"]
        if "run" in step and step["run"] not in placed
    }
    assert found == INLINE
    source = Path(__file__).read_text()
    for name in INLINE:
        assert f'"{name}")' in source.split("\nclass TestInlineSteps")[1], f"no test runs `{name}`"


class TestInlineSteps:
    def test_a_build_records_its_digest_under_its_leg(self, tmp_path: Path) -> None:
        found = stack(images=[TWO])
        step = inline_step(found.doc, "build", "Record the digest")
        steps = {"push": {"outputs": {"digest": "sha256:abc"}, "outcome": "success"}}
        env = env_of(found.doc, "build", step, found.contexts(found.row("api", 2), tmp_path, **steps), {})
        assert run_inline(step["run"], env, tmp_path).returncode == 0
        assert [p.name for p in (tmp_path / "digest").iterdir()] == ["2"]
        assert (tmp_path / "digest" / "2").read_text() == "sha256:abc\n"

    def test_a_tags_only_stacks_branch_run_fails_saying_how_to_run_it(self, tmp_path: Path) -> None:
        doc = rendered(workflow={"tags": ["v[0-9]+.[0-9]+.[0-9]+", "release-*"], "branchBuilds": False})
        step = inline_step(doc, "release-tags-only", "Say how to run it")
        result = run_inline(step["run"], env_of(doc, "release-tags-only", step, {}, {}), tmp_path)
        assert result.returncode == 1
        assert result.stdout == (
            "::error::this stack builds from release tags only (v[0-9]+.[0-9]+.[0-9]+, release-*): a run "
            "from a branch builds nothing. Run it from a tag: gh workflow run build-push.yml --ref v1.2.3 "
            "(add -f verify=true to verify)\n"
        )

    def test_the_pause_before_pushing_again_sleeps_the_retry_pause(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        step = inline_step(rendered(), "build", "Pause before pushing again")
        result = run_inline(step["run"], {}, tmp_path, fakes)
        assert result.returncode == 0
        assert fakes.calls("sleep") == [["sleep", "30"]]

    def test_a_tags_only_stack_plans_every_row(self, fakes: Fakes, tmp_path: Path) -> None:
        overrides: dict[str, Any] = {
            "images": [TWO, {"name": "web"}],
            "workflow": {"tags": ["v*"], "branchBuilds": False},
        }
        doc = rendered(**overrides)
        step = inline_step(doc, "changes", "Build every image")
        result = run_inline(step["run"], env_of(doc, "changes", step, {}, {}), tmp_path, fakes)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.outputs["builds"]) == stack(**overrides).rows

    def test_a_pull_requests_build_says_what_it_built_and_that_nothing_was_pushed(
        self, tmp_path: Path
    ) -> None:
        found = stack(pull_requests=True, images=[TWO], workflow={"pullRequests": True})
        step = inline_step(found.doc, "build", "Summarize what was built")
        env = env_of(found.doc, "build", step, {"matrix": found.row("api", 2)}, {})
        result = run_inline(step["run"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.summary == "### api: built for linux/arm64, not pushed (a pull request's build)\n"

    def test_the_check_of_every_build_fails_saying_why(self, tmp_path: Path) -> None:
        doc = rendered(pull_requests=True, workflow={"pullRequests": True})
        step = inline_step(doc, "builds", "Check every build")
        result = run_inline(step["run"], env_of(doc, "builds", step, {}, {}), tmp_path)
        assert result.returncode == 1
        assert result.stdout == "::error::a build, or the plan of the builds, failed: see the jobs above\n"
