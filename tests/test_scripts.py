"""The shell the committed workflow carries, run as GitHub runs it: each script of
components/workflow_render/scripts with bash, the environment the rendered step gives it (its
`${{ }}` values evaluated by GitHub's own evaluator from the build's row of the table, the stack's
variables and the outputs of the steps before it), fakes of `docker`, `gh` and `sleep` on PATH, a
real git history, a real local HTTP endpoint; every branch of each script: success, retry,
failure, fail-open, every source namespace, immutable re-runs, the exact JSON each webhook kind
receives. Change detection runs as the `changes` job runs: its steps in order, each when its
`if:` says (head.sh, changes.sh, plan.sh), and what reaches the build matrix is the job's output
`builds`, what reaches the tag rules its output `current`. A build runs as a leg of the build job
runs, from its promotion to its summary (tests' Build), each step when its `if:` says: two legs
of one image race, a found image against a built one, and the fake registry keeps each platform
image's config (its revision label), as the scripts read it."""

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
from tests.conftest import INLINE_RUNS, OIDC, job_step, settings_for
from tests.fake_tools.docker import index_digest
from tests.fakes import BASH, Fakes, History, StepResult, digest, run_inline, run_script
from tests.jobgraph import as_text, evaluate, expressions, spans
from tests.jobgraph import substitute as fill_in

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

    def contexts(
        self, row: dict[str, Any], temp: Path, github: dict[str, Any] | None = None, **steps: dict[str, Any]
    ) -> dict[str, Any]:
        """What a step of the build job of `row` can read: its row, the variables, the runner's
        temporary directory, the steps before it (id -> outputs, outcome) and, when given, the
        run's `github` context."""
        found = {"matrix": row, "vars": self.variables, "runner": {"temp": str(temp)}, "steps": steps}
        return found | ({"github": github} if github is not None else {})


def stack(pull_requests: bool = False, **overrides: Any) -> Stack:
    return _stack(pull_requests, json.dumps(overrides, sort_keys=True))


@functools.cache
def _stack(pull_requests: bool, overrides: str) -> Stack:
    s = settings_for(**json.loads(overrides))
    doc: dict[str, Any] = YAML(typ="safe").load(render_pull_requests(s) if pull_requests else render(s))
    return Stack(doc, s.variables)


def rendered(pull_requests: bool = False, **overrides: Any) -> dict[str, Any]:
    return stack(pull_requests, **overrides).doc


# A context an expression reads: a name followed by `.` or `[` that is not itself a property.
CONTEXT = re.compile(r"(?<![\w.'\]-])([A-Za-z_][\w-]*)(?=\s*[.\[])")


def fill(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each text with every `${{ }}` in it replaced as GitHub replaces it, under its own contexts,
    by GitHub's evaluator (one node process for all). An expression that reads a context the test
    did not give fails the test: the test must say what GitHub would substitute."""
    for text, contexts in cases:
        for inner in expressions(text):
            missing = set(CONTEXT.findall(inner)) - set(contexts)
            assert not missing, f"the test must say what GitHub gives `{text}` (`{inner}` reads {missing})"
    return fill_in(cases)


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
    found = spans(text.strip())
    whole = len(found) == 1 and found[0][:2] == (0, len(text.strip()))
    return (found[0][2] if whole else text).strip()


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
    outputs: dict[str, str]
    """The job's outputs (`builds`: the build job's matrix; `current`: whether the run's commit
    is its branch's head)."""

    @property
    def builds(self) -> str:
        return self.outputs["builds"]

    @property
    def head(self) -> StepResult | None:
        return self.steps.get("head")

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
    workflow and the outputs of the steps before it; then the job's outputs."""
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
        if step["run"] == script("head"):
            result = run_script("head", env, tmp, fakes)
        elif step["run"] == script("changes"):
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
    outputs = substitute({k: as_text(v) for k, v in job["outputs"].items()}, {"steps": done})
    return Planned(results, outputs)


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
        head, lookup, compare = fakes.calls("gh")
        assert head[2] == "repos/acme/shop/branches/main", "head.sh's question first"
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
        asked = [call[2] for call in fakes.calls("gh")]
        assert asked == ([] if github["ref_type"] == "tag" else ["repos/acme/shop/branches/main"])
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


# --- the branch's head: only its run moves the branch's tag and latest ---------------------------


def metadata_tags(
    doc: dict[str, Any], row: dict[str, Any], github: dict[str, Any], current: str
) -> list[str]:
    """The tags docker/metadata-action (src/meta.ts) makes of the rendered build job's rules on a
    push of a branch, `needs.changes.outputs.current` being `current`: each rule's `${{ }}` as
    GitHub substitutes it, then `enable` (its `{{is_default_branch}}` rendered, `true` or
    `false`, anything else refused as the action refuses it); `type=ref,event=branch` gives the
    branch, `type=sha` `sha-<short sha>`, `type=raw` its value; a tag's rules nothing."""
    assert github["ref_type"] == "branch"
    rules = [
        rule for rule in uses(doc, "build", "docker/metadata-action")["with"]["tags"].splitlines() if rule
    ]
    needs = {"changes": {"outputs": {"builds": json.dumps([row]), "current": current}, "result": "success"}}
    contexts = {"github": github, "matrix": row, "needs": needs}
    default = "true" if github["ref_name"] == github["default_branch"] else "false"
    tags = []
    for rule in fill([(rule, contexts) for rule in rules]):
        attrs = dict(part.split("=", 1) for part in rule.split(","))
        enable = attrs.get("enable", "true").replace("{{is_default_branch}}", default)
        assert enable in ("true", "false"), f"metadata-action: Invalid value for enable attribute: {enable}"
        if enable == "false":
            continue
        if attrs["type"] == "ref" and attrs["event"] == "branch":
            tags.append(github["ref_name"])
        elif attrs["type"] == "sha":
            tags.append(f"sha-{github['sha'][:7]}")
        elif attrs["type"] == "raw":
            tags.append(attrs["value"])
        else:
            assert (attrs["type"], attrs.get("event", "tag")) in {("ref", "tag"), ("semver", "tag")}, rule
    return tags


class TestHead:
    """scripts/head.sh, the first step of the `changes` job: whether the run's commit is still its
    branch's head (a re-run of an older commit, or a run a newer push overtook, is not)."""

    IMAGES: ClassVar[list[dict[str, Any]]] = [{"name": "api"}]

    @pytest.fixture
    def history(self, first_commit: History, fakes: Fakes, tmp_path: Path) -> History:
        history = first_commit.copy(tmp_path / "repo")
        fakes.state["repo"] = str(history.path)
        fakes.save()
        return history

    def head(self, fakes: Fakes, tmp: Path, sha: str, branch: str = "main") -> StepResult:
        """head.sh with the env the rendered step gives it on a push of `sha` to `branch`."""
        doc = rendered(images=self.IMAGES)
        env = step_env(doc, "changes", "head", {"github": push_event(sha, ref=branch)})
        return run_script("head", env, tmp, fakes)

    def test_the_run_of_the_branchs_head_is_current(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        result = self.head(fakes, tmp_path, history.commits["first"])
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"current": "true"}
        assert result.stdout == ""
        assert fakes.calls("gh") == [["gh", "api", "repos/acme/shop/branches/main", "--jq", ".commit.sha"]]

    def test_a_run_a_newer_push_overtook_is_not_current_and_says_so(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        newer = history.commit("newer", "api/main.py")
        result = self.head(fakes, tmp_path, history.commits["first"])
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"current": "false"}
        first = history.commits["first"][:7]
        assert result.stdout == (
            f"::notice::{first} is not the head of main ({newer}): its sha- tag is pushed; "
            "main and latest stay where they are\n"
        )

    @pytest.mark.parametrize("failure", ["the API fails", "no such branch"])
    def test_a_branch_that_cannot_be_looked_up_is_not_current(
        self, fakes: Fakes, tmp_path: Path, history: History, failure: str
    ) -> None:
        """Nothing moves when in doubt (and the step does not fail: the sha- tag is pushed)."""
        branch = "main"
        if failure == "the API fails":
            fakes.state["branches_fail"] = True
            fakes.save()
        else:
            branch = "gone"  # deleted since the push
        result = self.head(fakes, tmp_path, history.commits["first"], branch=branch)
        assert result.returncode == 0, result.stderr
        assert result.outputs == {"current": "false"}
        assert result.stdout == (
            f"::notice::{history.commits['first'][:7]} is not the head of {branch} (which could not be "
            f"looked up): its sha- tag is pushed; {branch} and latest stay where they are\n"
        )

    @pytest.mark.parametrize(
        ("github", "current"),
        [
            (push_event("", ref_type="tag", ref="v1.2.0"), ""),
            (push_event("", event="workflow_dispatch"), "true"),
            (push_event(""), "true"),
        ],
        ids=["release tag", "manual run", "push"],
    )
    def test_the_changes_job_asks_on_a_branchs_runs_only_and_outputs_current(
        self, fakes: Fakes, tmp_path: Path, history: History, github: dict[str, Any], current: str
    ) -> None:
        """The step of the rendered `changes` job, run as GitHub runs it: skipped on a release tag
        (nothing there follows a branch), and its answer is the job's output `current`."""
        github = {**github, "sha": history.commits["first"]}
        planned = plan_builds(rendered(images=self.IMAGES), tmp_path, fakes, github)
        assert list(planned.steps) == ["head", "changes", "plan"], "asked first"
        assert (planned.head is None) is (github["ref_type"] == "tag")
        assert planned.outputs["current"] == current
        assert planned.plan.returncode == 0

    @pytest.mark.parametrize("current", ["", "false", "true"])
    @pytest.mark.parametrize("branch", ["main", "develop"])
    def test_only_the_branchs_head_moves_the_branch_tag_and_latest(self, current: str, branch: str) -> None:
        """The rendered metadata step's rules, each `${{ }}` by GitHub's evaluator, as
        metadata-action reads them: a run that is not the head (`false`, or `''` when the step
        did not answer) pushes its sha- alone; `latest` only on the default branch."""
        sha = "0123456789abcdef0123456789abcdef01234567"
        overrides: dict[str, Any] = {"images": self.IMAGES, "github": {"branch": branch}}
        found = stack(**overrides)
        github = {**push_event(sha, ref=branch), "default_branch": "main"}
        tags = metadata_tags(found.doc, found.row("api"), github, current)
        moved = [branch, *(["latest"] if branch == "main" else [])] if current == "true" else []
        assert tags == [*moved[:1], "sha-0123456", *moved[1:]]

    @pytest.mark.parametrize("current", ["", "false", "true"])
    def test_an_immutable_image_never_gets_the_branch_tag_nor_latest(self, current: str) -> None:
        """A stack with both kinds of image: the rules switched off by `matrix.immutable` too."""
        sha = "0123456789abcdef0123456789abcdef01234567"
        found = stack(images=[{"name": "api"}, {"name": "web", "immutableTags": True}])
        github = {**push_event(sha), "default_branch": "main"}
        immutable = metadata_tags(found.doc, found.row("web"), github, current)
        mutable = metadata_tags(found.doc, found.row("api"), github, current)
        assert immutable == ["sha-0123456"]
        assert mutable == (["main", "sha-0123456", "latest"] if current == "true" else ["sha-0123456"])


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


THIS = "3f5c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
"""The commit of the runs below that is not a release history's."""
OTHER = "9a8b7c6d5e4f30211f2e3d4c5b6a798877665544"
BRANCH_RUN = push_event(THIS)
RELEASE_RUN = push_event(THIS, ref_type="tag", ref="v1.2.0")
SKIPPED = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}


def finished(result: StepResult) -> dict[str, Any]:
    """A step's result as the steps after it read it (`steps.<id>`)."""
    outcome = "success" if result.returncode == 0 else "failure"
    return {"outputs": result.outputs, "outcome": outcome, "conclusion": outcome}


def step_by_id(doc: dict[str, Any], job: str, id_: str) -> dict[str, Any]:
    (step,) = [s for s in doc["jobs"][job]["steps"] if s.get("id") == id_]
    return step  # type: ignore[no-any-return]


@dataclass
class Build:
    """One leg of the build job (a row of the table) of a run (`github`), from its promotion on,
    as GitHub runs it: each step when its `if:` says (by GitHub's evaluator), with the env of the
    rendered step evaluated from the steps before it. Its push by digest pushes to the fake
    registry an image of the run's commit (its org.opencontainers.image.revision label, as
    docker/metadata-action labels a build); a re-run (`attempt`) builds other digests."""

    stack: Stack
    row: dict[str, Any]
    temp: Path
    fakes: Fakes
    artifacts: Artifacts
    github: dict[str, Any]
    repo: Path | None = None
    """The checkout: the history promote.sh reads."""
    attempt: int = 1
    done: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    """What its push by digest pushed (nothing when it was skipped)."""

    @property
    def doc(self) -> dict[str, Any]:
        return self.stack.doc

    def contexts(self) -> dict[str, Any]:
        return self.stack.contexts(self.row, self.temp, self.github, **self.done)

    def runs(self, step: dict[str, Any]) -> bool:
        """Whether GitHub runs `step` now (the steps before it succeeded): its `if:`."""
        self.temp.mkdir(parents=True, exist_ok=True)
        if "if" not in step:
            return True
        (answer,) = evaluate([(condition(step["if"]), self.contexts())])
        return bool(answer)

    def promote(self) -> StepResult | None:
        """`Find the image built from this commit` (scripts/promote.sh), or None when skipped."""
        step = job_step(self.doc["jobs"]["build"], "promote")
        if not self.runs(step):
            self.done["promote"] = SKIPPED
            return None
        env = env_of(self.doc, "build", step, self.contexts(), {})
        result = run_script("promote", env, self.temp, self.fakes, cwd=self.repo)
        self.done["promote"] = finished(result)
        return result

    def pushed(self, retried: bool = False) -> None:
        """`Build` and `Push by digest` (when it fails, `Push by digest (again)`), each when its
        `if:` says; then `Record the digest` and the upload, which always run."""
        for id_ in ("build", "push", "retry"):
            step = step_by_id(self.doc, "build", id_)
            if not self.runs(step):
                self.done[id_] = SKIPPED
            elif id_ == "build":
                self.done[id_] = {"outputs": {}, "outcome": "success", "conclusion": "success"}
            elif id_ == "push" and retried:
                assert step["continue-on-error"] is True
                self.done[id_] = {"outputs": {}, "outcome": "failure", "conclusion": "success"}
            else:
                seed = (
                    f"{self.row['key']} {self.row['platforms']} {self.github['sha']} attempt {self.attempt}"
                )
                repository = f"{REGISTRY}/acme-dev/{self.row['image']}"
                platform = self.row["platforms"]
                self.digest = self.fakes.manifest(
                    repository, seed, platform=platform, revision=self.github["sha"]
                )
                self.done[id_] = {
                    "outputs": {"digest": self.digest},
                    "outcome": "success",
                    "conclusion": "success",
                }
        if all(s["name"] != "Record the digest" for s in self.doc["jobs"]["build"]["steps"]):
            return  # pushed under its tags: nothing to collect
        step = inline_step(self.doc, "build", "Record the digest")
        assert self.runs(step), "a build records what it has, pushed or found"
        env = env_of(self.doc, "build", step, self.contexts(), {})
        result = run_inline(step["run"], env, self.temp, self.fakes)
        assert result.returncode == 0, result.stderr
        upload = uses(self.doc, "build", "actions/upload-artifact")
        assert self.runs(upload)
        self.artifacts.upload(upload, self.contexts())

    def merge(self, tags: list[str]) -> StepResult:
        """Collect the digests published so far, and run merge.sh."""
        download = uses(self.doc, "build", "actions/download-artifact")
        assert self.runs(download)
        self.artifacts.download(download, self.contexts())
        step = job_step(self.doc["jobs"]["build"], "merge")
        assert self.runs(step)
        env = env_of(self.doc, "build", step, self.contexts(), {"TAGS": "\n".join(tags)})
        result = run_script("merge", env, self.temp, self.fakes)
        self.done["merge"] = finished(result)
        return result

    def sign(self) -> StepResult | None:
        """`Install cosign` and `Sign the image by its digest` (scripts/sign.sh) when their `if:`
        says, with what the runner gives the job (`runner_env`), or None when skipped."""
        step = job_step(self.doc["jobs"]["build"], "sign")
        install = uses(self.doc, "build", "sigstore/cosign-installer")
        if not self.runs(step):
            assert not self.runs(install), "cosign is installed where it signs, only there"
            return None
        assert self.runs(install)
        env = env_of(self.doc, "build", step, self.contexts(), {}) | runner_env(
            self.doc, "build", self.github
        )
        return run_script("sign", env, self.temp, self.fakes)

    def summary(self, tags: list[str]) -> StepResult | None:
        """`Summarize what was pushed`, or None when its `if:` skips it."""
        step = job_step(self.doc["jobs"]["build"], "summary")
        if not self.runs(step):
            return None
        env = env_of(self.doc, "build", step, self.contexts(), {"TAGS": "\n".join(tags)})
        return run_script("summary", env, self.temp)


WORKFLOW = "acme/shop/.github/workflows/build-push.yml"
"""The stack's workflow, as GITHUB_WORKFLOW_REF names it (before `@<ref>`)."""


def runner_env(doc: dict[str, Any], job: str, github: dict[str, Any]) -> dict[str, str]:
    """What the runner gives every step of `job` that cosign reads: the workflow's ref and the
    run's commit, and the ID token's request URL and token only when the job's `permissions`
    grant `id-token: write` (without them there is no keyless certificate)."""
    kind = "tags" if github.get("ref_type") == "tag" else "heads"
    env = {"GITHUB_WORKFLOW_REF": f"{WORKFLOW}@refs/{kind}/{github['ref_name']}", "GITHUB_SHA": github["sha"]}
    if (doc["jobs"][job].get("permissions") or {}).get("id-token") == "write":
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "https://pipelines.actions.example/idtoken"  # noqa: S105
        env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "runtime-token"  # noqa: S105
    return env


def builds_of(
    found: Stack,
    key: str,
    fakes: Fakes,
    tmp: Path,
    github: dict[str, Any],
    repo: Path | None = None,
    attempt: int = 1,
) -> list[Build]:
    """The builds of image `key` in a run, sharing the run's artifacts."""
    artifacts = Artifacts()
    return [
        Build(
            found,
            row,
            tmp / f"{row['key']}-{row.get('leg', 1)}-{attempt}",
            fakes,
            artifacts,
            github,
            repo,
            attempt,
        )
        for row in found.rows
        if row["key"] == key
    ]


def creates(fakes: Fakes) -> list[list[str]]:
    return [c for c in fakes.calls("docker") if c[3] == "create"]


def label_reads(fakes: Fakes) -> list[str]:
    """The references whose image config (labels) was read."""
    return [
        c[4] for c in fakes.calls("docker") if c[3] == "inspect" and c[5:] == ["--format", "{{json .Image}}"]
    ]


class TestCreatingTheImage:
    """scripts/merge.sh in each build of a by-digest stack: the last build of an image creates it."""

    IMAGES: ClassVar[list[dict[str, Any]]] = [TWO, {"name": "web"}]
    TAGS: ClassVar[list[str]] = [f"{API}:main", f"{API}:sha-{THIS[:7]}"]
    RELEASE: ClassVar[list[str]] = [f"{API}:v1.2.0", f"{API}:1.2.0"]

    def builds(
        self,
        fakes: Fakes,
        tmp: Path,
        key: str = "api",
        immutable: bool = False,
        github: dict[str, Any] = BRANCH_RUN,
        attempt: int = 1,
    ) -> list[Build]:
        """The builds of image `key` in a run; the other image's builds done first."""
        images = [{**image, "immutableTags": immutable} for image in self.IMAGES]
        found = stack(images=images)
        for build in builds_of(found, "web" if key == "api" else "api", fakes, tmp, github, attempt=attempt):
            build.pushed()
        return builds_of(found, key, fakes, tmp, github, attempt=attempt)

    def immutable(self, fakes: Fakes) -> None:
        """The repository refuses a push to a tag it has (ACR EE's immutable tags)."""
        fakes.refresh()
        fakes.state["immutable"] = True
        fakes.save()

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
        assert creates(fakes) == []
        arm64.pushed()
        last = arm64.merge(self.TAGS)
        assert last.returncode == 0, last.stderr
        sources = [f"{API}@{amd64.digest}", f"{API}@{arm64.digest}"]
        assert creates(fakes) == [
            ["docker", "buildx", "imagetools", "create", "-t", self.TAGS[0], "-t", self.TAGS[1], *sources]
        ]
        created = index_digest([amd64.digest, arm64.digest])
        assert last.outputs == {"merged": "true", "digest": created, "released": ""}
        assert {tag: fakes.tags()[tag] for tag in self.TAGS} == dict.fromkeys(self.TAGS, created)
        assert fakes.revisions(self.TAGS[0]) == {"linux/amd64": THIS, "linux/arm64": THIS}
        assert sorted(p.name for p in (arm64.temp / "digests").iterdir()) == ["1", "2"], "web's is not api's"
        assert label_reads(fakes) == [], "a mutable repository's tags are not looked at"

    def test_a_build_whose_push_was_retried_publishes_the_retrys_digest(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path)
        amd64.pushed(retried=True)
        assert amd64.done["push"]["outcome"] == "failure"
        assert amd64.done["retry"]["outputs"] == {"digest": amd64.digest}
        arm64.pushed()
        assert arm64.done["retry"] == SKIPPED
        assert arm64.merge(self.TAGS).outputs["merged"] == "true"
        assert f"{API}@{amd64.digest}" in creates(fakes)[0]

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
        assert creates(fakes) == [
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
        assert len(creates(fakes)) == 2
        assert fakes.calls("sleep") == [["sleep", "30"]]
        assert result.outputs["merged"] == "true"

    @pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
    def test_a_create_that_fails_twice_fails_the_build_saying_what(
        self, fakes: Fakes, tmp_path: Path, immutable: bool
    ) -> None:
        """Also in an immutable repository whose tags nobody created: no digest looked up or
        recorded after the failure."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=immutable)
        assert arm64.row.get("immutable", False) is immutable
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["fail_create"] = 2
        fakes.save()
        result = arm64.merge([f"{API}:sha-{THIS[:7]}"])
        assert result.returncode == 1
        sources = f"{API}@{amd64.digest} {API}@{arm64.digest}"
        assert f"::error::could not create the image {API} from {sources}" in result.stdout
        assert result.outputs == {}
        calls = fakes.calls("docker")
        last_create = max(i for i, c in enumerate(calls) if c[3] == "create")
        assert not calls[last_create + 1 :], "no digest looked up after the failure"
        assert fakes.calls("sleep") == [["sleep", "30"]], "one pause, before the one retry"

    @pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
    def test_two_builds_finishing_together_make_one_image(
        self, fakes: Fakes, tmp_path: Path, immutable: bool
    ) -> None:
        """Both find both digests: the first creates the image; the second creates the same image
        again, or, in an immutable repository, finds every tag there holding this commit's image
        and creates nothing."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=immutable, github=RELEASE_RUN)
        amd64.pushed()
        arm64.pushed()
        if immutable:
            self.immutable(fakes)
        first = arm64.merge(self.RELEASE)
        second = amd64.merge(self.RELEASE)
        assert first.returncode == second.returncode == 0, second.stdout + second.stderr
        assert len(creates(fakes)) == (1 if immutable else 2)
        assert (
            second.outputs
            == first.outputs
            == {"merged": "true", "digest": fakes.tags()[self.RELEASE[0]], "released": ""}
        )
        assert fakes.calls("sleep") == []

    def test_a_mutable_repositorys_tags_move_to_the_new_image_unread(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """`main` held another commit's image: a mutable tag moves, its image is not looked at."""
        older = fakes.index(API, ["older amd64", "older arm64"], "main", revision=OTHER)
        amd64, arm64 = self.builds(fakes, tmp_path)
        amd64.pushed()
        arm64.pushed()
        result = arm64.merge(self.TAGS)
        assert result.returncode == 0, result.stderr
        assert fakes.tags()[self.TAGS[0]] == result.outputs["digest"] != older
        assert label_reads(fakes) == []

    @pytest.mark.parametrize(
        "held",
        [
            [OTHER, OTHER],
            [None, None],
            [THIS, OTHER],
            [THIS, None],
        ],
        ids=[
            "another commit",
            "no revision label",
            "a platform of another commit",
            "a platform without labels",
        ],
    )
    @pytest.mark.parametrize("existing", [0, 1], ids=["first tag there", "second tag there"])
    def test_an_immutable_tag_holding_another_commits_image_fails_the_merge_naming_the_tag_and_both_commits(
        self, fakes: Fakes, tmp_path: Path, held: list[str | None], existing: int
    ) -> None:
        """An immutable tag never moves, nor is it taken for this release: the build fails and
        nothing is created (the other tags are not made of someone else's image either)."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        tag = self.RELEASE[existing]
        older = fakes.index(API, ["older amd64", "older arm64"], tag.rsplit(":", 1)[1], revisions=held)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        result = arm64.merge(self.RELEASE)
        assert result.returncode == 1
        (error,) = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
        assert error.startswith(f"::error::{tag} exists and holds an image of commit ")
        assert all(label in error for label in held if label), "the commits the image says"
        assert f", not of {THIS} that this run releases: an immutable tag never moves" in error
        assert result.outputs == {}
        assert creates(fakes) == []
        assert {t: d for t, d in fakes.tags().items() if t.startswith(f"{API}:")} == {tag: older}

    def test_a_partly_pushed_immutable_release_converges_in_the_retry(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """The registry failed after pushing one tag: the retry asks again which tags are there,
        keeps that one (this commit's image) and creates only the missing one from that very
        image, in the same run: no tag moves, every tag is one image, no re-run needed."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["cut_after"] = 1
        fakes.save()
        result = arm64.merge(self.RELEASE)
        assert result.returncode == 0, result.stdout + result.stderr
        first = index_digest([amd64.digest, arm64.digest])
        assert creates(fakes)[-1] == [
            "docker",
            "buildx",
            "imagetools",
            "create",
            "-t",
            self.RELEASE[1],
            f"{API}@{first}",
        ]
        assert {t: fakes.tags()[t] for t in self.RELEASE} == dict.fromkeys(self.RELEASE, first)
        assert result.outputs == {"merged": "true", "digest": first, "released": ""}

    def test_a_partly_pushed_immutable_release_converges_on_a_re_run(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """Both creates failed after the first tag was pushed: the build fails. Its re-run builds
        other digests (a build is not reproducible), keeps the tag there and creates the missing
        one from that very image."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        fakes.state["cut_after"] = 1
        fakes.state["fail_create"] = 1
        fakes.save()
        failed = arm64.merge(self.RELEASE)
        assert failed.returncode == 1
        first = index_digest([amd64.digest, arm64.digest])
        assert {t: fakes.tags().get(t) for t in self.RELEASE} == {
            self.RELEASE[0]: first,
            self.RELEASE[1]: None,
        }
        again = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN, attempt=2)
        for build in again:
            build.pushed()
        assert {again[0].digest, again[1].digest}.isdisjoint({amd64.digest, arm64.digest})
        before = len(creates(fakes))
        result = again[1].merge(self.RELEASE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert creates(fakes)[before:] == [
            ["docker", "buildx", "imagetools", "create", "-t", self.RELEASE[1], f"{API}@{first}"]
        ]
        assert {t: fakes.tags()[t] for t in self.RELEASE} == dict.fromkeys(self.RELEASE, first)
        assert result.outputs == {"merged": "true", "digest": first, "released": ""}

    def test_an_immutable_tag_the_registry_will_not_show_fails_the_merge_naming_it(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        """Only "not found" means a tag is missing: a registry that refuses to answer (401) is
        named as such, not met by a push that would fail with a vaguer message."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        fakes.refresh()
        denied = "ERROR: unexpected status from HEAD request: 401 Unauthorized"
        fakes.state["errors"] = {self.RELEASE[0]: denied}
        fakes.save()
        result = arm64.merge(self.RELEASE)
        assert result.returncode == 1
        assert f"::error::could not inspect {self.RELEASE[0]}: {denied}" in result.stdout
        assert creates(fakes) == []
        assert result.outputs == {}

    @pytest.mark.parametrize("missing", [0, 1], ids=["first tag missing", "second tag missing"])
    def test_the_missing_tags_are_made_of_the_image_an_immutable_tag_holds(
        self, fakes: Fakes, tmp_path: Path, missing: int
    ) -> None:
        """Whichever tag is there, the one missing is created from its image, not from this
        attempt's builds."""
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        there = self.RELEASE[1 - missing]
        earlier = fakes.index(API, ["earlier amd64", "earlier arm64"], there.rsplit(":", 1)[1], revision=THIS)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        result = arm64.merge(self.RELEASE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert creates(fakes) == [
            ["docker", "buildx", "imagetools", "create", "-t", self.RELEASE[missing], f"{API}@{earlier}"]
        ]
        assert {t: fakes.tags()[t] for t in self.RELEASE} == dict.fromkeys(self.RELEASE, earlier)
        assert result.outputs == {"merged": "true", "digest": earlier, "released": ""}
        assert label_reads(fakes) == [there]

    def test_an_immutable_release_whose_tags_are_all_there_creates_nothing(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path, immutable=True, github=RELEASE_RUN)
        earlier = fakes.index(API, ["earlier amd64", "earlier arm64"], "v1.2.0", "1.2.0", revision=THIS)
        self.immutable(fakes)
        amd64.pushed()
        arm64.pushed()
        result = arm64.merge(self.RELEASE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert creates(fakes) == []
        assert fakes.calls("sleep") == []
        assert result.outputs == {"merged": "true", "digest": earlier, "released": ""}
        assert sorted(label_reads(fakes)) == sorted(self.RELEASE), "each tag checked"


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


# --- releasing: the image of the tagged commit, found and checked -----------------------------------


class TestPromotion:
    """scripts/promote.sh in a build of an image on a release tag, on a real history with a merge:
    it finds the image built from the tagged commit's files, checks it, and tags nothing."""

    NAMESPACES: ClassVar[list[str]] = ["acme-staging", "acme-qa"]

    @pytest.fixture
    def history(self, release_history: History, tmp_path: Path) -> History:
        return release_history.copy(tmp_path / "repo")

    def build(
        self, fakes: Fakes, tmp: Path, history: History, build: bool = False, leg: int = 1, **overrides: Any
    ) -> Build:
        """A build of api in a run of the release tag on `tagged`."""
        workflow = {"tags": ["v*"], "promote": {"build": build, "fromNamespaces": self.NAMESPACES}}
        found = stack(workflow=workflow, **{"images": [TWO], **overrides})
        github = push_event(history.commits["tagged"], ref_type="tag", ref="v1.2.0")
        return Build(
            found, found.row("api", leg), tmp / f"leg-{leg}", fakes, Artifacts(), github, history.path
        )

    def promote(self, fakes: Fakes, tmp: Path, history: History, **options: Any) -> StepResult:
        result = self.build(fakes, tmp, history, **options).promote()
        assert result is not None, "the step runs on a release tag"
        return result

    def sha(self, history: History, commit: str) -> str:
        return f"sha-{history.commits[commit][:7]}"

    def image(
        self,
        fakes: Fakes,
        history: History,
        commit: str,
        repository: str = API,
        revisions: list[str | None] | None = None,
    ) -> str:
        """A branch run's image of `commit` under its sha- tag, two platforms, each labelled with
        `commit` (or with `revisions`)."""
        labels = revisions if revisions is not None else [history.commits[commit]] * 2
        seeds = [f"{repository} {commit} amd64", f"{repository} {commit} arm64"]
        return fakes.index(repository, seeds, self.sha(history, commit), revisions=labels)

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
        image = self.image(fakes, history, built)
        result = self.promote(fakes, tmp_path, history)
        assert creates(fakes) == [], "it finds; the build that creates the image releases"
        if not found:
            assert result.returncode == 1
            assert "::error::no image of this commit's files in" in result.stdout
            assert result.outputs == {"promoted": "false"}
            return
        assert result.returncode == 0, result.stderr
        source = f"{API}:{self.sha(history, built)}"
        assert result.outputs == {"promoted": "true", "released": source, "digest": image}
        assert f"::notice::releasing {source} ({image}) as it is: no rebuild" in result.stdout

    def test_the_newest_commit_with_the_same_files_is_taken(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        for commit in ("api-change", "merge", "tagged"):
            self.image(fakes, history, commit)
        result = self.promote(fakes, tmp_path, history)
        assert result.outputs["released"] == f"{API}:{self.sha(history, 'tagged')}"

    def test_this_stacks_repository_is_asked_first_then_each_namespace_in_order(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """Every candidate, newest first, in each source: the image's repository, then the same
        name in each namespace listed; by digest only (nothing found, no labels read)."""
        result = self.promote(fakes, tmp_path, history)
        candidates = [self.sha(history, c) for c in ("tagged", "merge", "api-change")]
        sources = [API, *(f"{REGISTRY}/{namespace}/api" for namespace in self.NAMESPACES)]
        asked = [c[4] for c in fakes.calls("docker") if c[3] == "inspect"]
        assert asked == [f"{source}:{candidate}" for source in sources for candidate in candidates]
        assert all(c[5:] == ["--format", "{{.Manifest.Digest}}"] for c in fakes.calls("docker"))
        assert result.returncode == 1
        assert result.stdout == (
            f"::error::no image of this commit's files in {' '.join(sources)} (tags sha-<commit> of the "
            "last 50 commits whose files are this commit's); promote.build is false\n"
        )
        assert result.outputs == {"promoted": "false"}

    def test_another_namespace_is_taken_only_when_this_stacks_repository_has_none(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        qa = f"{REGISTRY}/acme-qa/api"
        staging = f"{REGISTRY}/acme-staging/api"
        self.image(fakes, history, "tagged", repository=qa)
        image = self.image(fakes, history, "merge", repository=staging)
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stderr
        released = f"{staging}:{self.sha(history, 'merge')}"
        assert result.outputs == {"promoted": "true", "released": released, "digest": image}, (
            "the first listed"
        )
        self.image(fakes, history, "api-change")
        again = self.promote(fakes, tmp_path, history)
        assert again.outputs["released"] == f"{API}:{self.sha(history, 'api-change')}"

    def test_the_labels_checked_are_the_found_images_read_by_its_digest(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """Not the tag again (it could move in between): the digest found, in the source found."""
        staging = f"{REGISTRY}/acme-staging/api"
        image = self.image(fakes, history, "merge", repository=staging)
        self.promote(fakes, tmp_path, history)
        assert label_reads(fakes) == [f"{staging}@{image}"]

    @pytest.mark.parametrize(
        "labels",
        [
            ["docs", "docs"],  # another commit's image under this sha-
            [None, None],  # no revision label: not built by this pipeline
            ["merge", None],  # this commit\'s platform beside an unlabelled one
            ["merge", "docs"],  # platforms of two commits
            ["merge:7", "merge:7"],  # the commit's short sha: not the full commit
        ],
        ids=["another commit", "no label", "a platform without", "two commits", "a short sha"],
    )
    def test_a_sha_tag_holding_an_image_of_another_commit_is_never_released(
        self, fakes: Fakes, tmp_path: Path, history: History, labels: list[str | None]
    ) -> None:
        """The run fails naming the tag, its digest, the commits the image says (jq's `unique`:
        sorted; `none` for a platform without the label) and the commit the tag names, and what to
        do; it looks no further (an image found is never passed over)."""
        commits = history.commits

        def revision(label: str | None) -> str | None:
            """A commit's sha, or its first N hex digits for `<commit>:N`; None: no label."""
            if label is None:
                return None
            name, _, length = label.partition(":")
            return commits[name][: int(length)] if length else commits[name]

        revisions = [revision(label) for label in labels]
        said = " ".join(sorted({r or "none" for r in revisions})) if any(revisions) else "none"
        image = self.image(fakes, history, "merge", revisions=revisions)
        self.image(fakes, history, "api-change", repository=f"{REGISTRY}/acme-staging/api")
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode == 1
        candidate = f"{API}:{self.sha(history, 'merge')}"
        assert result.stdout == (
            f"::error::{candidate} ({image}) is an image of commit {said}, not of "
            f"{commits['merge']} that its tag names: it was not built by this pipeline from that commit. "
            f"Delete the tag (the next branch build of {commits['merge']} pushes it anew), or release a "
            "commit whose image this pipeline built\n"
        )
        assert result.outputs == {}, "neither promoted nor built"
        assert label_reads(fakes) == [f"{API}@{image}"]
        assert fakes.calls("docker")[-1][4] == f"{API}@{image}", "nothing asked after"

    @pytest.mark.parametrize(
        "answer",
        [
            "ERROR: {ref}: not found",
            "ERROR: manifest unknown: manifest unknown",
            "ERROR: unexpected status code: MANIFEST_UNKNOWN",
            "ERROR: name unknown: repository name not known to registry",
            "ERROR: unexpected status code: NAME_UNKNOWN",
        ],
        ids=["buildx's 404", "manifest unknown", "MANIFEST_UNKNOWN", "name unknown", "NAME_UNKNOWN"],
    )
    def test_only_not_there_means_look_further(
        self, fakes: Fakes, tmp_path: Path, history: History, answer: str
    ) -> None:
        own = f"{API}:{self.sha(history, 'tagged')}"
        fakes.state["errors"] = {f"{API}:": answer.format(ref=own)}
        fakes.save()
        image = self.image(fakes, history, "tagged", repository=f"{REGISTRY}/acme-staging/api")
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.outputs["digest"] == image

    @pytest.mark.parametrize(
        "answer",
        [
            "ERROR: unauthorized: authentication required",
            "ERROR: denied: requested access to the resource is denied",
            "ERROR: failed to do request: Head https://acme-registry/v2/: dial tcp: i/o timeout",
            "ERROR: unexpected status from HEAD request: 500 Internal Server Error",
            "ERROR: toomanyrequests: rate limit exceeded",
        ],
    )
    def test_a_failed_inspect_that_is_not_not_found_fails_the_step_saying_what(
        self, fakes: Fakes, tmp_path: Path, history: History, answer: str
    ) -> None:
        """Never an empty digest, never a rebuild of what may be there: the step fails naming the
        reference and what docker said, and asks nothing more."""
        self.image(fakes, history, "merge")
        candidate = f"{API}:{self.sha(history, 'tagged')}"
        fakes.state["errors"] = {candidate: answer}
        fakes.save()
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode == 1
        assert result.stdout == f"::error::could not inspect {candidate}: {answer}\n"
        assert result.outputs == {}
        assert [c[4] for c in fakes.calls("docker")] == [candidate]

    def test_a_failed_read_of_the_labels_fails_the_step(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        image = self.image(fakes, history, "merge")
        fakes.state["errors"] = {f"@{image}": "ERROR: unexpected status: 502 Bad Gateway"}
        fakes.save()
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode != 0
        assert result.outputs == {}
        assert "502 Bad Gateway" in result.stderr

    def test_with_building_allowed_no_image_means_build_it(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        result = self.promote(fakes, tmp_path, history, build=True)
        assert result.returncode == 0
        assert result.outputs == {"promoted": "false"}
        assert result.stdout.endswith("::notice::no image of this commit's files yet: building it\n")

    def test_every_path_of_the_image_is_compared(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """An image whose Dockerfile is outside its context: a change there is a change of it."""
        self.image(fakes, history, "merge")
        history.commit("dockerfile", "docker/api.Dockerfile")
        images = [{"name": "api", "dockerfile": "docker/api.Dockerfile"}]
        assert self.promote(fakes, tmp_path, history, images=images).returncode == 1
        assert self.promote(fakes, tmp_path, history).returncode == 0, "api/** only: the same image"

    def test_every_build_of_the_image_finds_the_same_image_and_none_tags_it(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        image = self.image(fakes, history, "merge")
        first = self.promote(fakes, tmp_path, history, leg=1, images=[TWO])
        second = self.promote(fakes, tmp_path, history, leg=2, images=[TWO])
        released = f"{API}:{self.sha(history, 'merge')}"
        assert first.outputs == second.outputs == {"promoted": "true", "released": released, "digest": image}
        assert creates(fakes) == []

    @pytest.mark.parametrize("build", [False, True], ids=["promote only", "else build"])
    @pytest.mark.parametrize("leg", [1, 2])
    def test_an_image_of_fewer_platforms_than_this_stack_builds_is_never_released(
        self, fakes: Fakes, tmp_path: Path, history: History, build: bool, leg: int
    ) -> None:
        """Staging builds linux/amd64 only; this stack amd64 and arm64: its image from staging
        would leave arm64 nodes without one. Every build of the image says so."""
        staging = f"{REGISTRY}/acme-staging/api"
        merge = history.commits["merge"]
        image = fakes.manifest(staging, "staging amd64", self.sha(history, "merge"), revision=merge)
        result = self.promote(fakes, tmp_path, history, build=build, leg=leg)
        said = (
            f"{staging}:{self.sha(history, 'merge')} ({image}) is an image for linux/amd64, not for "
            "linux/amd64, linux/arm64 that this stack builds"
        )
        assert result.returncode == (0 if build else 1)
        assert ("::warning::" if build else "::error::") + said in result.stdout
        assert result.outputs.get("promoted") == ("false" if build else None)

    def test_a_branch_run_looks_for_nothing(self, fakes: Fakes, tmp_path: Path, history: History) -> None:
        build = self.build(fakes, tmp_path, history, build=True)
        build.github = push_event(history.commits["tagged"])
        assert build.promote() is None
        assert fakes.calls("docker") == []


class TestReleasing:
    """A two-platform image on a release tag, its two builds run as GitHub runs them from the
    promotion on (tests' Build): whatever any build found is what the image's creating build
    releases, whichever build finishes last; a build that found it builds and pushes nothing."""

    TAGS: ClassVar[list[str]] = [f"{API}:v1.2.0", f"{API}:1.2.0"]

    @pytest.fixture
    def history(self, release_history: History, tmp_path: Path) -> History:
        return release_history.copy(tmp_path / "repo")

    def builds(
        self, fakes: Fakes, tmp: Path, history: History, images: list[dict[str, Any]] | None = None
    ) -> list[Build]:
        promotion = {"build": True, "fromNamespaces": ["acme-staging"]}
        found = stack(images=images or [TWO], workflow={"tags": ["v*"], "promote": promotion})
        github = push_event(history.commits["tagged"], ref_type="tag", ref="v1.2.0")
        return builds_of(found, "api", fakes, tmp, github, history.path)

    def branch_run(self, fakes: Fakes, history: History, commit: str = "merge", repository: str = API) -> str:
        """A branch run of `commit` pushed its image under sha-<commit>: its digest."""
        sha = history.commits[commit]
        seeds = [f"branch {commit} amd64", f"branch {commit} arm64"]
        return fakes.index(repository, seeds, f"sha-{sha[:7]}", revision=sha)

    def promoted(self, build: Build) -> bool:
        result = build.promote()
        assert result is not None
        assert result.returncode == 0, result.stdout + result.stderr
        return result.outputs["promoted"] == "true"

    @pytest.mark.parametrize("last", ["the build that built", "the build that found"])
    def test_a_build_that_found_the_image_while_the_other_built_releases_the_found_image(
        self, fakes: Fakes, tmp_path: Path, history: History, last: str
    ) -> None:
        """Build 1 found nothing and built; meanwhile a branch run pushed the commit's image and
        build 2 found it: the image's creating build, whichever, releases the found image (not a
        mix of a build and a found platform), and every tag points at it."""
        builder, finder = self.builds(fakes, tmp_path, history)
        assert not self.promoted(builder)
        if last == "the build that found":
            builder.pushed()
            assert builder.digest, "it built and pushed"
            assert builder.merge(self.TAGS).outputs == {"merged": "false"}
        found = self.branch_run(fakes, history)
        assert self.promoted(finder)
        finder.pushed()
        assert finder.done["build"] == finder.done["push"] == finder.done["retry"] == SKIPPED
        assert finder.digest == ""
        released = f"{API}:sha-{history.commits['merge'][:7]}"
        recorded = (finder.temp / "digest" / "2").read_text()
        assert recorded == f"{found} {released}\n", "its digest and the image's tag"
        if last == "the build that found":
            creator, other = finder, builder
        else:
            assert finder.merge(self.TAGS).outputs == {"merged": "false"}
            builder.pushed()
            assert builder.digest, "it built and pushed"
            creator, other = builder, finder
        result = creator.merge(self.TAGS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.outputs == {"merged": "true", "digest": found, "released": released}
        assert creates(fakes) == [
            [
                "docker",
                "buildx",
                "imagetools",
                "create",
                "-t",
                self.TAGS[0],
                "-t",
                self.TAGS[1],
                f"{API}@{found}",
            ]
        ]
        assert {tag: fakes.tags()[tag] for tag in self.TAGS} == dict.fromkeys(self.TAGS, found)
        merge = history.commits["merge"]
        assert fakes.revisions(self.TAGS[0]) == {"linux/amd64": merge, "linux/arm64": merge}
        said = creator.summary(self.TAGS)
        assert said is not None
        assert f"Released `{released}` as it is, no rebuild." in said.summary
        assert f"docker pull {API}@{found}" in said.summary
        assert other.summary(self.TAGS) is None, "the other build says nothing"

    def test_when_both_builds_built_it_their_digests_make_the_image(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path, history)
        for build in (amd64, arm64):
            assert not self.promoted(build)
        amd64.pushed()
        assert amd64.merge(self.TAGS).outputs == {"merged": "false"}
        arm64.pushed()
        result = arm64.merge(self.TAGS)
        assert result.returncode == 0, result.stdout + result.stderr
        sources = [f"{API}@{amd64.digest}", f"{API}@{arm64.digest}"]
        assert creates(fakes)[0][-2:] == sources
        created = index_digest([amd64.digest, arm64.digest])
        assert result.outputs == {"merged": "true", "digest": created, "released": ""}
        tagged = history.commits["tagged"]
        assert fakes.revisions(self.TAGS[1]) == {"linux/amd64": tagged, "linux/arm64": tagged}
        said = arm64.summary(self.TAGS)
        assert said is not None
        assert "Released" not in said.summary

    def test_when_both_builds_found_it_nothing_is_built_and_it_is_released(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        found = self.branch_run(fakes, history, commit="tagged")
        amd64, arm64 = self.builds(fakes, tmp_path, history)
        for build in (amd64, arm64):
            assert self.promoted(build)
        amd64.pushed()
        assert amd64.merge(self.TAGS).outputs == {"merged": "false"}
        arm64.pushed()
        result = arm64.merge(self.TAGS)
        assert amd64.digest == arm64.digest == "", "neither built"
        assert result.outputs["digest"] == found
        assert creates(fakes)[0][-1] == f"{API}@{found}"

    def test_a_single_platform_image_found_in_another_namespace_is_released_into_this_repository(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        """From another stack's repository, pushed under its tags directly (one manifest): the
        release is an index wrapping it, made in this repository, and the digest said is the
        release's (what `docker pull IMAGE@digest` pulls)."""
        staging = f"{REGISTRY}/acme-staging/api"
        merge = history.commits["merge"]
        found = fakes.manifest(staging, "staging api", f"sha-{merge[:7]}", revision=merge)
        (build,) = self.builds(fakes, tmp_path, history, images=[{"name": "api"}])
        assert self.promoted(build)
        build.pushed()
        result = build.merge(self.TAGS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert creates(fakes)[0][-1] == f"{staging}@{found}"
        assert result.outputs["digest"] == fakes.tags()[self.TAGS[0]] == index_digest([found])
        assert result.outputs["released"] == f"{staging}:sha-{merge[:7]}"
        fakes.refresh()
        assert f"{API}@{found}" in fakes.state["manifests"], "its platform image is in this repository too"
        assert fakes.revisions(self.TAGS[0]) == {"linux/amd64": merge}

    @pytest.mark.parametrize("earlier", ["released the found image", "built the tagged commit"])
    def test_an_immutable_release_of_a_found_image_expects_that_images_commit(
        self, fakes: Fakes, tmp_path: Path, history: History, earlier: str
    ) -> None:
        """A re-run whose builds found the merge's image: a tag an earlier attempt left holding that
        image is kept (the missing tag made of it); one holding an image built from the tagged
        commit is another image than this release's: the build fails naming both commits."""
        merge, tagged = history.commits["merge"], history.commits["tagged"]
        found = self.branch_run(fakes, history)
        if earlier == "released the found image":
            fakes.state["images"][self.TAGS[0]] = found
            held = found
        else:
            held = fakes.index(API, ["earlier amd64", "earlier arm64"], "v1.2.0", revision=tagged)
        fakes.state["immutable"] = True
        fakes.save()
        amd64, arm64 = self.builds(fakes, tmp_path, history, images=[{**TWO, "immutableTags": True}])
        for build in (amd64, arm64):
            assert self.promoted(build)
            build.pushed()
        amd64.merge(self.TAGS)
        result = arm64.merge(self.TAGS)
        if earlier == "released the found image":
            assert result.returncode == 0, result.stdout + result.stderr
            assert creates(fakes) == [
                ["docker", "buildx", "imagetools", "create", "-t", self.TAGS[1], f"{API}@{found}"]
            ]
            assert {tag: fakes.tags()[tag] for tag in self.TAGS} == dict.fromkeys(self.TAGS, found)
            return
        assert result.returncode == 1
        assert (
            f"::error::{self.TAGS[0]} exists and holds an image of commit {tagged}, not of {merge} that "
            "this run releases"
        ) in result.stdout
        assert creates(fakes) == []
        assert fakes.tags()[self.TAGS[0]] == held

    def test_a_promoting_stacks_branch_run_pushes_by_digest_and_creates_the_image_from_its_builds(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        amd64, arm64 = self.builds(fakes, tmp_path, history)
        tags = [f"{API}:main", f"{API}:sha-{history.commits['tagged'][:7]}"]
        for build in (amd64, arm64):
            build.github = push_event(history.commits["tagged"])
            assert build.promote() is None
            build.pushed()
        assert (amd64.temp / "digest" / "1").read_text() == f"{amd64.digest} \n", "no image found"
        amd64.merge(tags)
        result = arm64.merge(tags)
        assert result.outputs == {
            "merged": "true",
            "digest": index_digest([amd64.digest, arm64.digest]),
            "released": "",
        }


# --- what a run says -------------------------------------------------------------------------------


class TestSigning:
    """scripts/sign.sh in the build that created an image, scripts/signatures.sh in a verify run
    and promote.sh's proof, with a fake cosign that signs only with the job's ID token, stores
    the signature as the tag ACR takes and verifies as cosign does (unanchored regexp: the
    identity anchors itself)."""

    TAGS: ClassVar[list[str]] = [f"{API}:main", f"{API}:sha-{THIS[:7]}"]

    def stack(self, *images: dict[str, Any], **workflow: Any) -> Stack:
        return stack(images=list(images) or [TWO, {"name": "web"}], workflow={"sign": True, **workflow})

    def signatures(self, fakes: Fakes, tmp: Path, found: Stack, tag: str = "main") -> StepResult:
        """A manual verify run on `tag`: each image's signature."""
        tmp.mkdir(exist_ok=True)
        images = f"api\t{API}\nweb\t{WEB}\n"
        env = step_env(found.doc, "verify", "signatures", IMAGES=images, TAG=tag)
        return run_script("signatures", env, tmp, fakes)

    def test_the_build_that_created_the_image_signs_it_once_by_digest_and_verify_finds_the_signature(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        found = self.stack()
        amd64, arm64 = builds_of(found, "api", fakes, tmp_path, BRANCH_RUN)
        amd64.pushed()
        assert amd64.merge(self.TAGS).outputs == {"merged": "false"}
        assert amd64.sign() is None, "the build that did not create the image signs nothing"
        arm64.pushed()
        merged = arm64.merge(self.TAGS).outputs["digest"]
        signed = arm64.sign()
        assert signed is not None
        assert signed.returncode == 0, signed.stderr
        assert f"::notice::signed {API}@{merged}" in signed.stdout
        sign = ["cosign", "sign", "--yes", "--new-bundle-format=false", "--use-signing-config=false"]
        assert fakes.calls("cosign") == [[*sign, f"{API}@{merged}"]], "once, by digest"
        assert f"{API}:{merged.replace(':', '-')}.sig" in fakes.tags(), "the tag form ACR takes"
        result = self.signatures(fakes, tmp_path / "verify", found)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.summary == (
            "### Verify: signatures\n\n| image | tag | digest | signed |\n|---|---|---|---|\n"
            f"| `api` | `main` | `{merged}` | yes |\n"
            "| `web` | `main` | `none` | not checked: no image tagged main |\n"
        )

    def test_an_image_pushed_by_tag_is_signed_by_the_digest_its_push_gave(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        found = self.stack({"name": "api"})
        (build,) = builds_of(found, "api", fakes, tmp_path, BRANCH_RUN)
        build.pushed()
        signed = build.sign()
        assert signed is not None
        assert signed.returncode == 0, signed.stderr
        assert fakes.calls("cosign")[0][-1] == f"{API}@{build.digest}"

    @pytest.mark.parametrize("failures", [1, 2])
    def test_signing_is_tried_once_more_then_fails_the_build_naming_the_image(
        self, fakes: Fakes, tmp_path: Path, failures: int
    ) -> None:
        found = self.stack({"name": "api"})
        (build,) = builds_of(found, "api", fakes, tmp_path, BRANCH_RUN)
        build.pushed()
        fakes.refresh()
        fakes.state["fail_sign"] = failures
        fakes.save()
        signed = build.sign()
        assert signed is not None
        assert len(fakes.calls("cosign")) == 2
        assert fakes.calls("sleep") == [["sleep", "30"]]
        if failures == 1:
            assert signed.returncode == 0, signed.stderr
        else:
            assert signed.returncode == 1
            assert f"::error::could not sign {API}@{build.digest}" in signed.stdout

    @pytest.mark.parametrize(
        ("signer", "why"),
        [
            (None, "no signatures found"),
            (f"{WORKFLOW}@refs/heads/feature", "none of the expected identities matched"),
            ("acme/shop/.github/workflows/other.yml@refs/heads/main", "none of the expected identities"),
            ("acme/shop-fork/.github/workflows/build-push.yml@refs/heads/main", "none of the expected"),
            (f"{WORKFLOW}@refs/heads/main-evil", "none of the expected identities matched"),
            (f"https://git.example/x/https://github.com/{WORKFLOW}@refs/heads/main", "none of the"),
        ],
        ids=[
            "unsigned",
            "another branch",
            "another workflow",
            "another repository",
            "a longer ref",
            "a subject that ends with it",
        ],
    )
    def test_an_image_without_this_workflows_signature_fails_the_verify_run_saying_whose_it_wanted(
        self, fakes: Fakes, tmp_path: Path, signer: str | None, why: str
    ) -> None:
        """A signature is this stack's workflow file of this repository on its branch, the whole
        identity (cosign matches a regexp anywhere in it: a ref that only begins with `main`, or a
        fork's name, must not pass)."""
        found = self.stack()
        image = fakes.manifest(API, "api", "main", revision=THIS)
        if signer:
            fakes.sign(f"{API}@{image}", signer, THIS)
        result = self.signatures(fakes, tmp_path, found)
        assert result.returncode == 1
        identity = step_env(found.doc, "verify", "signatures", IMAGES="", TAG="")["IDENTITY"]
        assert f"::error::api ({API}@{image}) has no signature made by {identity}" in result.stdout
        assert f"| `api` | `main` | `{image}` | no: " in result.summary
        assert why in result.summary

    def test_a_registry_that_will_not_answer_fails_the_verify_run_saying_what_it_said(
        self, fakes: Fakes, tmp_path: Path
    ) -> None:
        fakes.state["errors"] = {"/web:": "ERROR: unauthorized: authentication required"}
        fakes.save()
        result = self.signatures(fakes, tmp_path, self.stack())
        assert result.returncode == 1
        assert (
            "| `web` | `main` | `none` | no: ERROR: unauthorized: authentication required |" in result.summary
        )
        assert fakes.calls("cosign") == []


class TestSignedPromotion:
    """promote.sh of a signing stack: an image found is released only with a signature this
    repository's workflow made for the very commit its tag names."""

    @pytest.fixture
    def history(self, release_history: History, tmp_path: Path) -> History:
        return release_history.copy(tmp_path / "repo")

    def stack(self, build: bool) -> Stack:
        """A signing stack of a two-platform api that promotes from acme-staging."""
        promotion = {"build": build, "fromNamespaces": ["acme-staging"]}
        return stack(images=[TWO], workflow={"tags": ["v*"], "sign": True, "promote": promotion})

    def promote(self, fakes: Fakes, tmp: Path, history: History, build: bool = False) -> StepResult:
        found = self.stack(build)
        github = push_event(history.commits["tagged"], ref_type="tag", ref="v1.2.0")
        result = Build(
            found, found.row("api"), tmp / "leg", fakes, Artifacts(), github, history.path
        ).promote()
        assert result is not None
        return result

    def image(self, fakes: Fakes, history: History, repository: str = API) -> str:
        """The branch run's image of the merge (this release's files), under its sha- tag."""
        commit = history.commits["merge"]
        seeds = [f"{repository} amd64", f"{repository} arm64"]
        return fakes.index(repository, seeds, f"sha-{commit[:7]}", revision=commit)

    def test_an_image_this_workflow_signed_for_its_commit_is_released(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        image = self.image(fakes, history)
        fakes.sign(f"{API}@{image}", f"{WORKFLOW}@refs/heads/main", history.commits["merge"])
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.outputs["digest"] == image
        (verify,) = fakes.calls("cosign")
        assert verify[verify.index("--certificate-github-workflow-sha") + 1] == history.commits["merge"]

    def test_an_image_another_stacks_workflow_of_this_repository_signed_is_released_from_its_namespace(
        self, fakes: Fakes, tmp_path: Path, history: History
    ) -> None:
        staging = f"{REGISTRY}/acme-staging/api"
        image = self.image(fakes, history, staging)
        workflow = "acme/shop/.github/workflows/build-push-staging.yml@refs/heads/main"
        fakes.sign(f"{staging}@{image}", workflow, history.commits["merge"])
        result = self.promote(fakes, tmp_path, history)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.outputs["released"] == f"{staging}:sha-{history.commits['merge'][:7]}"

    @pytest.mark.parametrize(
        ("signer", "commit", "why"),
        [
            (None, "merge", "no signatures found"),
            (f"{WORKFLOW}@refs/heads/main", "docs", "expected GitHub Workflow SHA not found"),
            ("acme/shop-fork/.github/workflows/build-push.yml@refs/heads/main", "merge", "none of the"),
            ("acme/shop/.github/workflows/other.yml@refs/heads/main", "merge", "none of the expected"),
        ],
        ids=["unsigned", "signed for another commit", "another repository", "another workflow"],
    )
    @pytest.mark.parametrize("build", [False, True], ids=["promote only", "else build"])
    def test_an_image_without_that_proof_is_never_released(
        self,
        fakes: Fakes,
        tmp_path: Path,
        history: History,
        signer: str | None,
        commit: str,
        why: str,
        build: bool,
    ) -> None:
        """Refused naming the tag, its digest, the identity and the commit, and what cosign said;
        with promote.build the image is built afresh instead (and signed by that build)."""
        image = self.image(fakes, history)
        if signer:
            fakes.sign(f"{API}@{image}", signer, history.commits[commit])
        result = self.promote(fakes, tmp_path, history, build=build)
        tag = f"{API}:sha-{history.commits['merge'][:7]}"
        own = job_step(self.stack(build).doc["jobs"]["build"], "promote")["env"]["OWN"]
        said = f"{tag} ({image}) has no signature of {own}"
        assert said in result.stdout
        assert f"for commit {history.commits['merge']}: " in result.stdout
        assert why in result.stdout
        assert result.outputs.get("promoted") == ("false" if build else None)
        assert result.returncode == (0 if build else 1)
        assert ("::warning::" if build else "::error::") + said in result.stdout


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
        """What merge.sh says it released (whichever build found it), by the build that created
        the image; the image's other build says nothing."""
        found = stack(images=[TWO], workflow={"tags": ["v*"], "promote": {}})
        source = f"{REGISTRY}/acme-staging/api:sha-abc1234"
        merged = {"merge": {"outputs": {"merged": "true", "digest": "sha256:1", "released": source}}}
        promoted = {"promote": {"outputs": {"promoted": "false"}}}
        steps = {**merged, **promoted}
        result, runs = self.summary(tmp_path, found, found.row("api", 1), [f"{API}:1.2.0"], **steps)
        assert runs
        assert result.summary.startswith(
            f"### `{API}`\n\nReleased `{source}` as it is, no rebuild.\n\n| | |\n"
        )
        assert f"docker pull {API}@sha256:1" in result.summary
        waiting = {"merge": {"outputs": {"merged": "false"}}, "promote": {"outputs": {"promoted": "true"}}}
        _, second = self.summary(tmp_path, found, found.row("api", 2), [f"{API}:1.2.0"], **waiting)
        assert not second, "the image's other build says nothing"


def test_the_fake_registry_refuses_what_buildx_refuses_and_creates_as_buildx_does(fakes: Fakes) -> None:
    """The tests above lean on tests/fake_tools/docker.py: a malformed reference, a source the
    registry does not hold, a create without a tag or a source, an unknown `--format` fail; one
    index is copied as it is, one manifest wrapped in a new index, several make an index."""
    amd64 = fakes.manifest(API, "amd64", revision=THIS)
    arm64 = fakes.manifest(API, "arm64", platform="linux/arm64", revision=THIS)
    index = fakes.index(API, ["x", "y"], "multi", revision=OTHER)

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


@pytest.mark.parametrize(
    ("reference", "platforms"),
    [("one", None), ("wrapped", None), ("two", ["linux/amd64", "linux/arm64"])],
)
def test_the_fake_registry_prints_the_image_config_as_buildx_does(
    fakes: Fakes, reference: str, platforms: list[str] | None
) -> None:
    """`--format '{{json .Image}}'` (buildx's printers.go): an image of one platform (a manifest, or
    an index of one) is its config, as image-spec's JSON writes it, `config.Labels` holding the
    revision (no `Labels` when it has none: omitempty); an image of several a map platform ->
    config, keys sorted, indented as Go's MarshalIndent; a create keeps the platform images'
    configs."""
    one = fakes.manifest(API, "one", "one", revision=THIS)
    arm = fakes.manifest(API, "arm", platform="linux/arm64", revision=OTHER)
    fakes.manifest(API, "unlabelled", "unlabelled")

    def imagetools(*args: str) -> str:
        command = [str(fakes.bin / "docker"), "buildx", "imagetools", *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    imagetools("create", "-t", f"{API}:wrapped", f"{API}@{one}")
    imagetools("create", "-t", f"{API}:two", f"{API}@{arm}", f"{API}:one")
    shown = imagetools("inspect", f"{API}:{reference}", "--format", "{{json .Image}}")
    printed = json.loads(shown)
    assert shown.startswith('{\n  "'), "MarshalIndent's two spaces"
    if platforms is None:
        assert list(printed)[:3] == ["created", "architecture", "os"], "image-spec's field order"
        assert (printed["os"], printed["architecture"]) == ("linux", "amd64")
        assert printed["config"]["Labels"]["org.opencontainers.image.revision"] == THIS
    else:
        assert list(printed) == platforms, "a map, its keys sorted"
        revisions = [printed[p]["config"]["Labels"]["org.opencontainers.image.revision"] for p in platforms]
        assert revisions == [THIS, OTHER]
    unlabelled = json.loads(imagetools("inspect", f"{API}:unlabelled", "--format", "{{json .Image}}"))
    assert "Labels" not in unlabelled["config"]


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
        assert result.summary == (
            "### Verify: login and repositories\n\n"
            "| registry | image | login | reachable |\n"
            "|---|---|---|---|\n"
            f"| `{REGISTRY}` | `acme-dev/api` | success | yes |\n"
            f"| `{REGISTRY}` | `acme-dev/web` | success | yes |\n"
        ), "the header once, then a row per image"
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
    assert found == INLINE_RUNS
    source = Path(__file__).read_text()
    for name in INLINE_RUNS:
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

    @pytest.mark.parametrize(
        ("promote", "push", "retry", "recorded"),
        [
            (
                {"promoted": "true", "digest": "sha256:f0", "released": f"{API}:sha-abc1234"},
                {},
                {},
                "sha256:f0 {API}:sha-abc1234",
            ),
            ({"promoted": "false"}, {"digest": "sha256:b1"}, {}, "sha256:b1 "),
            ({"promoted": "false"}, {}, {"digest": "sha256:r2"}, "sha256:r2 "),
            ({}, {"digest": "sha256:b1"}, {}, "sha256:b1 "),  # a branch run: no promotion step
        ],
        ids=["found", "pushed", "pushed again", "branch run"],
    )
    def test_a_promoting_build_records_the_image_it_found_or_the_digest_it_pushed(
        self,
        tmp_path: Path,
        promote: dict[str, str],
        push: dict[str, str],
        retry: dict[str, str],
        recorded: str,
    ) -> None:
        """The line merge.sh reads: a digest, and the image found (its tag) when one was."""
        found = stack(images=[TWO], workflow={"tags": ["v*"], "promote": {}})
        step = inline_step(found.doc, "build", "Record the digest")
        assert "if" not in step, "it runs whether the build was skipped or not"
        steps = {"promote": {"outputs": promote}, "push": {"outputs": push}, "retry": {"outputs": retry}}
        env = env_of(found.doc, "build", step, found.contexts(found.row("api", 1), tmp_path, **steps), {})
        assert run_inline(step["run"], env, tmp_path).returncode == 0
        assert (tmp_path / "digest" / "1").read_text() == recorded.format(API=API) + "\n"

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
