"""The job-graph harness (tests/jobgraph.py) itself: GitHub's job-level rules on small workflows.

Each test is one batch (one node process) where it can be: `run_each` and `triggers` take tables.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.jobgraph import Case, JobGraphError, Result, WorkflowParseError, simulate, simulate_one

MAIN = "refs/heads/main"
TAG = "refs/tags/v1.2.3"
PR = "refs/pull/7/merge"
PUSH = "  push:"


def job(*, needs: list[str] | None = None, cond: str | None = None, outputs: list[str] | None = None) -> str:
    """One job's YAML body (indented for `jobs:`), with a single step."""
    lines = ["    runs-on: ubuntu-latest"]
    if needs:
        lines.append(f"    needs: [{', '.join(needs)}]")
    if cond is not None:
        lines.append(f"    if: {cond}")
    if outputs:
        lines.append("    outputs:")
        lines += [f"      {name}: ${{{{ steps.s.outputs.{name} }}}}" for name in outputs]
    lines.append("    steps:\n      - id: s\n        run: echo")
    return "\n".join(lines)


def workflow(on: str, **jobs: str) -> str:
    """A workflow file: `on` is the indented body of `on:`, then the jobs in order."""
    return f"on:\n{on}\njobs:\n" + "\n".join(f"  {name}:\n{body}" for name, body in jobs.items()) + "\n"


def run(wf: str, event: str = "push", ref: str = MAIN, **kwargs: Any) -> Result:
    return simulate_one(Case(workflow=wf, event=event, ref=ref, **kwargs))


def run_each(wf: str, *variants: dict[str, Any]) -> list[Result]:
    """One batch: the workflow under each variant (keyword arguments of Case; default a push to main)."""
    return simulate(
        [Case(**{"workflow": wf, "event": "push", "ref": MAIN, **variant}) for variant in variants]
    )


def triggers(on: str, *events: tuple[str, str] | tuple[str, str, str]) -> list[bool]:
    """One batch: for each (event, ref[, base_ref]), does a workflow with this `on:` start a run?"""
    wf = workflow(on, a=job())
    cases = [Case(wf, event[0], event[1], base_ref=event[2] if len(event) > 2 else None) for event in events]
    return [result.triggered for result in simulate(cases)]


# --- status functions and the implicit success() ------------------------------------------------------


def test_a_job_whose_need_failed_is_skipped() -> None:
    wf = workflow(PUSH, build=job(), next=job(needs=["build"]))
    assert run(wf, outcomes={"build": "failure"}).jobs == {"build": "failure", "next": "skipped"}


def test_a_job_whose_need_failed_runs_with_not_cancelled_failure_or_always() -> None:
    conds = ["${{ !cancelled() }}", "failure()", "${{ failure() }}", "always()", "${{ always() }}"]
    wfs = [workflow(PUSH, build=job(), next=job(needs=["build"], cond=cond)) for cond in conds]
    results = simulate([Case(wf, "push", MAIN, outcomes={"build": "failure"}) for wf in wfs])
    assert {cond: r.jobs["next"] for cond, r in zip(conds, results, strict=True)} == dict.fromkeys(
        conds, "success"
    )


def test_failure_is_false_when_nothing_failed() -> None:
    wf = workflow(PUSH, build=job(), on_fail=job(needs=["build"], cond="failure()"))
    assert run(wf).jobs == {"build": "success", "on_fail": "skipped"}


def test_a_plain_condition_gets_the_implicit_success_and_is_skipped_after_a_failed_need() -> None:
    wf = workflow(PUSH, build=job(), release=job(needs=["build"], cond="github.ref_type == 'tag'"))
    tag, failed, branch = run_each(wf, {"ref": TAG}, {"ref": TAG, "outcomes": {"build": "failure"}}, {})
    assert tag.jobs == {"build": "success", "release": "success"}
    assert failed.jobs == {"build": "failure", "release": "skipped"}
    assert branch.jobs == {"build": "success", "release": "skipped"}


def test_implicit_success_looks_at_every_ancestor_so_the_grandchild_of_a_skipped_job_is_skipped() -> None:
    # `gate` is skipped; `report` runs anyway (`!cancelled()`), but the implicit success() of its
    # dependant `publish` sees the skipped grandparent and is false; `announce` says `!cancelled()` itself.
    jobs = {
        "gate": job(cond="github.ref_type == 'tag'"),
        "report": job(needs=["gate"], cond="${{ !cancelled() }}"),
        "publish": job(needs=["report"]),
        "announce": job(needs=["report"], cond="${{ !cancelled() }}"),
    }
    result = run(workflow(PUSH, **jobs), ref=MAIN)
    assert result.jobs == {
        "gate": "skipped",
        "report": "success",
        "publish": "skipped",
        "announce": "success",
    }
    assert result.ran() == {"report", "announce"}


def test_failure_is_true_when_any_ancestor_failed_not_only_a_direct_need() -> None:
    jobs = {
        "build": job(),
        "report": job(needs=["build"], cond="always()"),
        "alert": job(needs=["report"], cond="failure()"),
    }
    result = run(workflow(PUSH, **jobs), outcomes={"build": "failure"})
    assert result.jobs == {"build": "failure", "report": "success", "alert": "success"}


def test_cancelled_is_true_after_a_job_was_cancelled_and_then_success_is_false() -> None:
    jobs = {
        "build": job(),
        "cleanup": job(needs=["build"], cond="cancelled()"),
        "deploy": job(needs=["build"], cond="always() && success()"),
        "notify": job(needs=["build"], cond="always()"),
    }
    cancelled, succeeded = run_each(workflow(PUSH, **jobs), {"outcomes": {"build": "cancelled"}}, {})
    assert cancelled.jobs == {
        "build": "cancelled",
        "cleanup": "success",
        "deploy": "skipped",
        "notify": "success",
    }
    assert succeeded.jobs == {
        "build": "success",
        "cleanup": "skipped",
        "deploy": "success",
        "notify": "success",
    }


def test_a_cancelled_job_cancels_the_run_for_every_later_job_not_only_its_dependants() -> None:
    jobs = {
        "lint": job(),
        "build": job(),
        "cleanup": job(needs=["build"], cond="cancelled()"),
        "deploy": job(needs=["build"]),
    }
    result = run(workflow(PUSH, **jobs), outcomes={"lint": "cancelled"})
    assert result.jobs == {"lint": "cancelled", "build": "success", "cleanup": "success", "deploy": "skipped"}


def test_status_functions_with_job_ids_look_only_at_those_jobs() -> None:
    jobs = {
        "a": job(),
        "b": job(),
        "only_b_ok": job(needs=["a", "b"], cond="success('b')"),
        "b_failed": job(needs=["a", "b"], cond="failure('b')"),
        "a_failed": job(needs=["a", "b"], cond="failure('a')"),
    }
    result = run(workflow(PUSH, **jobs), outcomes={"a": "failure"})
    assert result.ran() == {"a", "b", "only_b_ok", "a_failed"}
    with pytest.raises(JobGraphError, match="'zz', which is not in its dependency chain"):
        run(workflow(PUSH, a=job(), b=job(needs=["a"], cond="success('zz')")))


def test_a_job_that_runs_ends_with_its_given_outcome() -> None:
    wf = workflow(PUSH, a=job(), b=job(needs=["a"], cond="always()"))
    assert run(wf, outcomes={"a": "failure", "b": "cancelled"}).jobs == {"a": "failure", "b": "cancelled"}


# --- the needs and vars contexts -----------------------------------------------------------------------


def test_needs_outputs_and_result_reach_the_condition() -> None:
    jobs = {
        "changes": job(outputs=["api"]),
        "build": job(needs=["changes"], cond="needs.changes.outputs.api == 'true'"),
        "report": job(needs=["build"], cond="always() && needs.build.result == 'skipped'"),
    }
    changed, unchanged, not_given = run_each(
        workflow(PUSH, **jobs),
        {"outputs": {"changes": {"api": "true"}}},
        {"outputs": {"changes": {"api": "false"}}},
        {},
    )
    assert changed.jobs == {"changes": "success", "build": "success", "report": "skipped"}
    assert unchanged.jobs == {"changes": "success", "build": "skipped", "report": "success"}
    # A declared output the case doesn't give is empty.
    assert not_given.jobs == unchanged.jobs


def test_an_output_of_a_job_that_did_not_run_is_empty() -> None:
    jobs = {
        "changes": job(cond="github.ref_type == 'tag'", outputs=["api"]),
        "check": job(needs=["changes"], cond="always() && needs.changes.outputs.api == ''"),
    }
    result = run(workflow(PUSH, **jobs), ref=MAIN, outputs={"changes": {"api": "true"}})
    assert result.jobs == {"changes": "skipped", "check": "success"}


def test_needs_holds_only_the_direct_needs() -> None:
    jobs = {
        "a": job(),
        "b": job(needs=["a"]),
        "c": job(needs=["b"], cond="needs.a.result == 'success'"),
        "d": job(needs=["b"], cond="needs.b.result == 'success'"),
    }
    assert run(workflow(PUSH, **jobs)).jobs == {
        "a": "success",
        "b": "success",
        "c": "skipped",
        "d": "success",
    }


def test_vars_reach_the_condition() -> None:
    wf = workflow(PUSH, a=job(cond="vars.DEPLOY == 'on'"))
    results = run_each(wf, {"vars": {"DEPLOY": "on"}}, {"vars": {"DEPLOY": "off"}}, {})
    assert [r.ran() for r in results] == [{"a"}, set(), set()]


def test_a_matrix_job_counts_as_one_job() -> None:
    matrix = job() + "\n    strategy:\n      matrix:\n        python: ['3.11', '3.12']"
    result = run(workflow(PUSH, test=matrix, after=job(needs=["test"])))
    assert result.jobs == {"test": "success", "after": "success"}


def test_github_context_for_a_tag_push() -> None:
    cond = (
        "github.event_name == 'push' && github.ref == 'refs/tags/v1.2.3' && github.ref_name == 'v1.2.3'"
        " && github.ref_type == 'tag' && github.repository == 'acme/shop' && github.base_ref == ''"
        " && startsWith(github.ref, 'refs/tags/v') && github.sha != ''"
    )
    assert run(workflow(PUSH, a=job(cond=cond)), ref=TAG).ran() == {"a"}


def test_github_context_for_a_pull_request() -> None:
    cond = (
        "github.base_ref == 'main' && github.event.pull_request.base.ref == 'main'"
        " && github.head_ref == 'topic' && github.event.pull_request.head.ref == 'topic'"
        " && github.ref_name == '7/merge'"
    )
    wf = workflow("  pull_request:", a=job(cond=cond))
    case = Case(workflow=wf, event="pull_request", ref=PR, base_ref="main", head_ref="topic")
    assert simulate_one(case).ran() == {"a"}


# --- workflow_dispatch inputs --------------------------------------------------------------------------

DISPATCH = """\
  workflow_dispatch:
    inputs:
      dry_run:
        type: boolean
        default: true
      force:
        type: boolean
      level:
        type: number
        default: 2
      target:
        type: choice
        options: [staging, production]
        default: staging"""


def dispatch(*rows: tuple[str, dict[str, Any]]) -> list[bool]:
    """One batch: for each (condition of the only job, inputs given), does the job run?"""
    cases = [
        Case(
            workflow=workflow(DISPATCH, a=job(cond=cond)), event="workflow_dispatch", ref=MAIN, inputs=inputs
        )
        for cond, inputs in rows
    ]
    return [result.jobs["a"] == "success" for result in simulate(cases)]


def test_dispatch_boolean_input_takes_its_default_when_not_given() -> None:
    assert dispatch(
        ("inputs.dry_run", {}),
        ("inputs.dry_run", {"dry_run": False}),
        ("inputs.force", {}),  # no default: false
        ("inputs.force", {"force": True}),
    ) == [True, False, False, True]


def test_dispatch_boolean_input_is_a_boolean_in_inputs_and_a_string_in_github_event_inputs() -> None:
    assert dispatch(
        ("inputs.dry_run == true", {}),
        ("inputs.dry_run == 'true'", {}),
        ("github.event.inputs.dry_run == 'true'", {}),
        ("inputs.dry_run", {"dry_run": False}),
        # The string 'false' is truthy: the classic mistake.
        ("github.event.inputs.dry_run", {"dry_run": False}),
    ) == [True, False, True, False, True]


def test_dispatch_number_and_choice_inputs_are_typed() -> None:
    assert dispatch(
        ("inputs.level == 2 && github.event.inputs.level == '2'", {}),
        ("inputs.level > 2", {"level": 3}),
        ("inputs.target == 'staging'", {}),
        ("inputs.target == 'production'", {"target": "production"}),
    ) == [True, True, True, True]


def test_inputs_are_empty_for_other_events() -> None:
    wf = workflow(DISPATCH + "\n" + PUSH, a=job(cond="inputs.dry_run"), b=job(cond="inputs.level == ''"))
    assert run(wf, event="push").jobs == {"a": "skipped", "b": "success"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"nope": True}, "input 'nope' is not declared"),
        ({"dry_run": "false"}, "is not a boolean"),
        ({"target": "moon"}, "is not one of"),
    ],
)
def test_bad_dispatch_inputs_raise(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(JobGraphError, match=message):
        run(workflow(DISPATCH, a=job()), event="workflow_dispatch", inputs=inputs)


def test_a_required_input_without_default_must_be_given() -> None:
    on = "  workflow_dispatch:\n    inputs:\n      version:\n        required: true"
    wf = workflow(on, a=job(cond="inputs.version == '1.0'"))
    assert run(wf, event="workflow_dispatch", inputs={"version": "1.0"}).ran() == {"a"}
    with pytest.raises(JobGraphError, match="required input 'version'"):
        run(wf, event="workflow_dispatch")


# --- triggers ------------------------------------------------------------------------------------------


def test_push_to_a_listed_branch_triggers_and_another_branch_does_not() -> None:
    on = "  push:\n    branches: [main, 'release/**']"
    refs = [MAIN, "refs/heads/release/1.x/fix", "refs/heads/feature", "refs/heads/mainline"]
    assert triggers(on, *[("push", ref) for ref in refs]) == [True, True, False, False]


def test_push_with_only_branches_listed_does_not_trigger_for_tags_and_the_reverse() -> None:
    assert triggers("  push:\n    branches: [main]", ("push", TAG), ("push", MAIN)) == [False, True]
    assert triggers("  push:\n    tags: ['v*']", ("push", MAIN), ("push", TAG)) == [False, True]
    assert triggers("  push:\n    branches-ignore: [wip]", ("push", MAIN), ("push", TAG)) == [True, False]
    both = "  push:\n    branches: [main]\n    tags: ['v*']"
    assert triggers(both, ("push", TAG), ("push", MAIN), ("push", "refs/heads/dev")) == [True, True, False]


def test_push_without_filters_triggers_for_branches_and_tags() -> None:
    assert triggers("  push:", ("push", TAG), ("push", "refs/heads/any/thing")) == [True, True]
    # paths filters are not modelled.
    assert triggers("  push: {paths: ['src/**']}", ("push", TAG), ("push", MAIN)) == [True, True]


def test_tag_patterns_follow_githubs_filter_syntax() -> None:
    on = "  push:\n    tags: ['v[0-9]+.*', '!v*-rc*']"
    tags = ["v1.2.3", "v10.0", "v1.2-rc1", "version"]
    assert triggers(on, *[("push", f"refs/tags/{tag}") for tag in tags]) == [True, True, False, False]
    # `*` doesn't cross `/`, `**` does.
    assert triggers("  push:\n    tags: ['v*']", ("push", "refs/tags/v1/x")) == [False]
    assert triggers("  push:\n    tags: ['v**']", ("push", "refs/tags/v1/x")) == [True]
    # `?` makes the preceding character optional; `\` escapes a special character.
    optional = "  push:\n    tags: ['colou?r']"
    assert triggers(optional, ("push", "refs/tags/color"), ("push", "refs/tags/colour")) == [True, True]
    escaped = "  push:\n    tags: ['a\\+b']"
    assert triggers(escaped, ("push", "refs/tags/a+b"), ("push", "refs/tags/aab")) == [True, False]


def test_a_later_positive_pattern_includes_again() -> None:
    on = "  push:\n    branches: ['release/**', '!release/**-alpha', 'release/keep-alpha']"
    refs = ["release/1.0", "release/1.0-alpha", "release/keep-alpha"]
    assert triggers(on, *[("push", f"refs/heads/{ref}") for ref in refs]) == [True, False, True]


def test_ignore_filters_exclude() -> None:
    on = "  push:\n    tags-ignore: ['*-rc*']"
    assert triggers(on, ("push", TAG), ("push", "refs/tags/v1-rc1")) == [True, False]


def test_pull_request_branches_filter_the_base_branch() -> None:
    on = "  pull_request:\n    branches: [main]"
    assert triggers(on, ("pull_request", PR, "main"), ("pull_request", PR, "develop")) == [True, False]
    assert triggers("  pull_request:", ("pull_request", PR, "develop"), ("push", MAIN)) == [True, False]


def test_a_pull_request_case_needs_its_base_branch() -> None:
    with pytest.raises(JobGraphError, match="base_ref"):
        run(workflow("  pull_request:", a=job()), event="pull_request", ref=PR)


def test_an_unlisted_event_does_not_trigger_and_every_job_is_skipped() -> None:
    wf = workflow("  push:\n    branches: [main]", a=job(), b=job(needs=["a"], cond="always()"))
    result = run(wf, event="workflow_dispatch")
    assert not result.triggered
    assert result.jobs == {"a": "skipped", "b": "skipped"}
    assert result.ran() == set()


def test_a_listed_event_triggers_and_workflow_run_filters_its_branch() -> None:
    on = "  workflow_dispatch:\n  workflow_run:\n    workflows: [CI]\n    branches: [main]"
    events = [("workflow_dispatch", TAG), ("workflow_run", MAIN), ("workflow_run", "refs/heads/other")]
    assert triggers(on, *events) == [True, True, False]


# --- errors --------------------------------------------------------------------------------------------


def test_a_workflow_the_parser_refuses_raises_with_its_message() -> None:
    wf = workflow(PUSH, a=job(), b=job(needs=["nope"]))
    with pytest.raises(WorkflowParseError, match="Job 'b' depends on unknown job 'nope'") as info:
        run(wf)
    assert info.value.messages


def test_an_unknown_function_in_an_if_is_a_parse_error() -> None:
    with pytest.raises(WorkflowParseError, match="Unrecognized function: 'succeeded'"):
        run(workflow(PUSH, a=job(cond="succeeded()")))


def test_invalid_yaml_and_unknown_keys_are_parse_errors() -> None:
    with pytest.raises(WorkflowParseError):
        run("on: push\njobs:\n  a: [\n")
    with pytest.raises(WorkflowParseError, match="runs-onn"):
        run(workflow(PUSH, a=job().replace("runs-on", "runs-onn")))


def test_branches_and_branches_ignore_together_are_refused() -> None:
    with pytest.raises(WorkflowParseError, match="both 'branches' and 'branches-ignore'"):
        run(workflow("  push:\n    branches: [main]\n    branches-ignore: [wip]", a=job()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcomes": {"nope": "failure"}}, "outcomes name job 'nope'"),
        ({"outcomes": {"a": "skipped"}}, "outcome of 'a' is 'skipped'"),
        ({"outputs": {"a": {"undeclared": "x"}}}, "declares no output 'undeclared'"),
        ({"ref": "main"}, "ref 'main' is not"),
    ],
)
def test_a_case_the_workflow_does_not_fit_raises(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(JobGraphError, match=message):
        run(workflow(PUSH, a=job()), **kwargs)


# --- batching ------------------------------------------------------------------------------------------


def test_a_batch_runs_in_one_node_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real_run = subprocess.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real_run(*args, **kwargs)

    # tests.jobgraph calls subprocess.run through the module, so this sees every node process it starts.
    monkeypatch.setattr(subprocess, "run", counting_run)
    wf = workflow("  push:\n    tags: ['v*']", build=job(), release=job(needs=["build"]))
    cases = [Case(wf, "push", f"refs/tags/{'v' if i % 2 else 'x'}{i}") for i in range(50)]
    results = simulate(cases)
    assert len(calls) == 1
    assert [r.triggered for r in results] == [i % 2 == 1 for i in range(50)]
    assert [r.ran() for r in results] == [{"build", "release"} if i % 2 else set() for i in range(50)]
    assert simulate([]) == []
    assert len(calls) == 1
