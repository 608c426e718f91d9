"""The job-graph harness (tests/jobgraph.py) itself: GitHub's job-level rules on small workflows.

Starting node costs about half a second, so the cases of all the tests are registered at import time (`add`
and the helpers below return the case's key) and answered by ONE node process per module: the `results`
fixture, with `simulate_each`, so a case the harness refuses gets its own error and spoils no other test.
Each test reads its own cases: `results(key)` is the case's Result, or raises the error the case raised.
Only the tests of `simulate` itself (batching, raising) start node processes of their own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from tests.jobgraph import (
    Case,
    JobGraphError,
    Result,
    WorkflowParseError,
    simulate,
    simulate_each,
    simulate_one,
)

MAIN = "refs/heads/main"
TAG = "refs/tags/v1.2.3"
PR = "refs/pull/7/merge"
PUSH = "  push:"


def job(
    *,
    needs: list[str] | None = None,
    cond: str | None = None,
    outputs: list[str] | None = None,
    name: str | None = None,
    matrix: str | None = None,
) -> str:
    """One job's YAML body (indented for `jobs:`), with a single step. `name` is quoted; `matrix` is the YAML
    of `strategy.matrix`: one `${{ }}` expression, or the mapping's lines (unindented)."""
    lines = ["    runs-on: ubuntu-latest"]
    if name is not None:
        lines.append("    name: '{}'".format(name.replace("'", "''")))
    if needs:
        lines.append(f"    needs: [{', '.join(needs)}]")
    if cond is not None:
        lines.append(f"    if: {cond}")
    if outputs:
        lines.append("    outputs:")
        lines += [f"      {output}: ${{{{ steps.s.outputs.{output} }}}}" for output in outputs]
    if matrix is not None and matrix.startswith("${{"):
        lines.append(f"    strategy:\n      matrix: {matrix}")
    elif matrix is not None:
        lines.append("    strategy:\n      matrix:")
        lines += [f"        {line}" for line in matrix.splitlines()]
    lines.append("    steps:\n      - id: s\n        run: echo")
    return "\n".join(lines)


def workflow(on: str, **jobs: str) -> str:
    """A workflow file: `on` is the indented body of `on:`, then the jobs in order."""
    return f"on:\n{on}\njobs:\n" + "\n".join(f"  {name}:\n{body}" for name, body in jobs.items()) + "\n"


# --- the module's batch --------------------------------------------------------------------------------

CASES: list[Case] = []


def add(wf: str, event: str = "push", ref: str = MAIN, **kwargs: Any) -> int:
    """Registers a case (keyword arguments of Case; default a push to main); returns its key for `results`."""
    CASES.append(Case(workflow=wf, event=event, ref=ref, **kwargs))
    return len(CASES) - 1


def add_each(wf: str, *variants: dict[str, Any]) -> list[int]:
    """The workflow under each variant (keyword arguments of `add`)."""
    return [add(wf, **variant) for variant in variants]


def add_triggers(on: str, *events: tuple[str, str] | tuple[str, str, str]) -> list[int]:
    """For each (event, ref[, base_ref]): a workflow with this `on:` (read with `results.triggered`)."""
    wf = workflow(on, a=job())
    return [add(wf, event[0], event[1], base_ref=event[2] if len(event) > 2 else None) for event in events]


class Results:
    """The outcomes of the module's batch, by the keys `add` returned."""

    def __init__(self, outcomes: Sequence[Result | JobGraphError | WorkflowParseError]) -> None:
        self._outcomes = list(outcomes)

    def __call__(self, key: int) -> Result:
        """The case's Result; raises the error the case raised (as `simulate` would)."""
        outcome = self._outcomes[key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def triggered(self, keys: Sequence[int]) -> list[bool]:
        return [self(key).triggered for key in keys]


@pytest.fixture(scope="module")
def results() -> Results:
    return Results(simulate_each(CASES))


# --- status functions and the implicit success() ------------------------------------------------------

FAILED_NEED = add(workflow(PUSH, build=job(), next=job(needs=["build"])), outcomes={"build": "failure"})


def test_a_job_whose_need_failed_is_skipped(results: Results) -> None:
    assert results(FAILED_NEED).jobs == {"build": "failure", "next": "skipped"}


CONTINUE_CONDS = ["${{ !cancelled() }}", "failure()", "${{ failure() }}", "always()", "${{ always() }}"]
CONTINUE = {
    cond: add(
        workflow(PUSH, build=job(), next=job(needs=["build"], cond=cond)), outcomes={"build": "failure"}
    )
    for cond in CONTINUE_CONDS
}


def test_a_job_whose_need_failed_runs_with_not_cancelled_failure_or_always(results: Results) -> None:
    assert {cond: results(key).jobs["next"] for cond, key in CONTINUE.items()} == dict.fromkeys(
        CONTINUE_CONDS, "success"
    )


NOTHING_FAILED = add(workflow(PUSH, build=job(), on_fail=job(needs=["build"], cond="failure()")))


def test_failure_is_false_when_nothing_failed(results: Results) -> None:
    assert results(NOTHING_FAILED).jobs == {"build": "success", "on_fail": "skipped"}


IMPLICIT_SUCCESS = add_each(
    workflow(PUSH, build=job(), release=job(needs=["build"], cond="github.ref_type == 'tag'")),
    {"ref": TAG},
    {"ref": TAG, "outcomes": {"build": "failure"}},
    {},
)


def test_a_plain_condition_gets_the_implicit_success_and_is_skipped_after_a_failed_need(
    results: Results,
) -> None:
    tag, failed, branch = (results(key) for key in IMPLICIT_SUCCESS)
    assert tag.jobs == {"build": "success", "release": "success"}
    assert failed.jobs == {"build": "failure", "release": "skipped"}
    assert branch.jobs == {"build": "success", "release": "skipped"}


# `gate` is skipped; `report` runs anyway (`!cancelled()`), but the implicit success() of its
# dependant `publish` sees the skipped grandparent and is false; `announce` says `!cancelled()` itself.
SKIPPED_GRANDPARENT = add(
    workflow(
        PUSH,
        gate=job(cond="github.ref_type == 'tag'"),
        report=job(needs=["gate"], cond="${{ !cancelled() }}"),
        publish=job(needs=["report"]),
        announce=job(needs=["report"], cond="${{ !cancelled() }}"),
    ),
    ref=MAIN,
)


def test_implicit_success_looks_at_every_ancestor_so_the_grandchild_of_a_skipped_job_is_skipped(
    results: Results,
) -> None:
    result = results(SKIPPED_GRANDPARENT)
    assert result.jobs == {
        "gate": "skipped",
        "report": "success",
        "publish": "skipped",
        "announce": "success",
    }
    assert result.ran() == {"report", "announce"}


FAILED_ANCESTOR = add(
    workflow(
        PUSH,
        build=job(),
        report=job(needs=["build"], cond="always()"),
        alert=job(needs=["report"], cond="failure()"),
    ),
    outcomes={"build": "failure"},
)


def test_failure_is_true_when_any_ancestor_failed_not_only_a_direct_need(results: Results) -> None:
    assert results(FAILED_ANCESTOR).jobs == {"build": "failure", "report": "success", "alert": "success"}


CANCELLED = add_each(
    workflow(
        PUSH,
        build=job(),
        cleanup=job(needs=["build"], cond="cancelled()"),
        deploy=job(needs=["build"], cond="always() && success()"),
        notify=job(needs=["build"], cond="always()"),
    ),
    {"outcomes": {"build": "cancelled"}},
    {},
)


def test_cancelled_is_true_after_a_job_was_cancelled_and_then_success_is_false(results: Results) -> None:
    cancelled, succeeded = (results(key) for key in CANCELLED)
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


CANCELLED_RUN = add(
    workflow(
        PUSH,
        lint=job(),
        build=job(),
        cleanup=job(needs=["build"], cond="cancelled()"),
        deploy=job(needs=["build"]),
    ),
    outcomes={"lint": "cancelled"},
)


def test_a_cancelled_job_cancels_the_run_for_every_later_job_not_only_its_dependants(
    results: Results,
) -> None:
    assert results(CANCELLED_RUN).jobs == {
        "lint": "cancelled",
        "build": "success",
        "cleanup": "success",
        "deploy": "skipped",
    }


STATUS_WITH_IDS = add(
    workflow(
        PUSH,
        a=job(),
        b=job(),
        only_b_ok=job(needs=["a", "b"], cond="success('b')"),
        b_failed=job(needs=["a", "b"], cond="failure('b')"),
        a_failed=job(needs=["a", "b"], cond="failure('a')"),
    ),
    outcomes={"a": "failure"},
)
STATUS_WITH_AN_UNKNOWN_ID = add(workflow(PUSH, a=job(), b=job(needs=["a"], cond="success('zz')")))


def test_status_functions_with_job_ids_look_only_at_those_jobs(results: Results) -> None:
    assert results(STATUS_WITH_IDS).ran() == {"a", "b", "only_b_ok", "a_failed"}
    with pytest.raises(JobGraphError, match="'zz', which is not in its dependency chain"):
        results(STATUS_WITH_AN_UNKNOWN_ID)


GIVEN_OUTCOME = add(
    workflow(PUSH, a=job(), b=job(needs=["a"], cond="always()")), outcomes={"a": "failure", "b": "cancelled"}
)


def test_a_job_that_runs_ends_with_its_given_outcome(results: Results) -> None:
    assert results(GIVEN_OUTCOME).jobs == {"a": "failure", "b": "cancelled"}


# --- the needs and vars contexts -----------------------------------------------------------------------

NEEDS_CONTEXT = add_each(
    workflow(
        PUSH,
        changes=job(outputs=["api"]),
        build=job(needs=["changes"], cond="needs.changes.outputs.api == 'true'"),
        report=job(needs=["build"], cond="always() && needs.build.result == 'skipped'"),
    ),
    {"outputs": {"changes": {"api": "true"}}},
    {"outputs": {"changes": {"api": "false"}}},
    {},
)


def test_needs_outputs_and_result_reach_the_condition(results: Results) -> None:
    changed, unchanged, not_given = (results(key) for key in NEEDS_CONTEXT)
    assert changed.jobs == {"changes": "success", "build": "success", "report": "skipped"}
    assert unchanged.jobs == {"changes": "success", "build": "skipped", "report": "success"}
    # A declared output the case doesn't give is empty.
    assert not_given.jobs == unchanged.jobs


OUTPUT_OF_A_SKIPPED_JOB = add(
    workflow(
        PUSH,
        changes=job(cond="github.ref_type == 'tag'", outputs=["api"]),
        check=job(needs=["changes"], cond="always() && needs.changes.outputs.api == ''"),
    ),
    ref=MAIN,
    outputs={"changes": {"api": "true"}},
)


def test_an_output_of_a_job_that_did_not_run_is_empty(results: Results) -> None:
    assert results(OUTPUT_OF_A_SKIPPED_JOB).jobs == {"changes": "skipped", "check": "success"}


DIRECT_NEEDS = add(
    workflow(
        PUSH,
        a=job(),
        b=job(needs=["a"]),
        c=job(needs=["b"], cond="needs.a.result == 'success'"),
        d=job(needs=["b"], cond="needs.b.result == 'success'"),
    )
)


def test_needs_holds_only_the_direct_needs(results: Results) -> None:
    assert results(DIRECT_NEEDS).jobs == {"a": "success", "b": "success", "c": "skipped", "d": "success"}


VARS = add_each(
    workflow(PUSH, a=job(cond="vars.DEPLOY == 'on'")),
    {"vars": {"DEPLOY": "on"}},
    {"vars": {"DEPLOY": "off"}},
    {},
)


def test_vars_reach_the_condition(results: Results) -> None:
    assert [results(key).ran() for key in VARS] == [{"a"}, set(), set()]


TAG_PUSH_COND = (
    "github.event_name == 'push' && github.ref == 'refs/tags/v1.2.3' && github.ref_name == 'v1.2.3'"
    " && github.ref_type == 'tag' && github.repository == 'acme/shop' && github.base_ref == ''"
    " && startsWith(github.ref, 'refs/tags/v') && github.sha != ''"
)
TAG_PUSH_CONTEXT = add(workflow(PUSH, a=job(cond=TAG_PUSH_COND)), ref=TAG)


def test_github_context_for_a_tag_push(results: Results) -> None:
    assert results(TAG_PUSH_CONTEXT).ran() == {"a"}


PULL_REQUEST_COND = (
    "github.base_ref == 'main' && github.event.pull_request.base.ref == 'main'"
    " && github.head_ref == 'topic' && github.event.pull_request.head.ref == 'topic'"
    " && github.ref_name == '7/merge'"
)
PULL_REQUEST_CONTEXT = add(
    workflow("  pull_request:", a=job(cond=PULL_REQUEST_COND)),
    event="pull_request",
    ref=PR,
    base_ref="main",
    head_ref="topic",
)


def test_github_context_for_a_pull_request(results: Results) -> None:
    assert results(PULL_REQUEST_CONTEXT).ran() == {"a"}


# --- matrices: one leg per combination ---------------------------------------------------------------

PRODUCT = add(
    workflow(
        PUSH,
        test=job(matrix="python: ['3.11', '3.12']\nos: [linux, windows]"),
        after=job(needs=["test"]),
    )
)


def test_a_matrix_runs_a_leg_per_combination_of_its_lists_the_first_list_varying_slowest(
    results: Results,
) -> None:
    result = results(PRODUCT)
    assert result.matrix == {
        "test": [
            {"python": "3.11", "os": "linux"},
            {"python": "3.11", "os": "windows"},
            {"python": "3.12", "os": "linux"},
            {"python": "3.12", "os": "windows"},
        ]
    }
    assert list(result.legs["test"]) == [
        "test (3.11, linux)",
        "test (3.11, windows)",
        "test (3.12, linux)",
        "test (3.12, windows)",
    ]
    assert result.jobs == {"test": "success", "after": "success"}


EXCLUDE = add(
    workflow(
        PUSH,
        test=job(
            matrix="os: [linux, windows, macos]\nnode: [14, 16]\n"
            "exclude:\n  - os: WINDOWS\n  - os: macos\n    node: 14"
        ),
    )
)


def test_exclude_removes_every_combination_it_matches_even_partially_with_githubs_equality(
    results: Results,
) -> None:
    # `os: WINDOWS` names only one key, and matches `windows`: strings compare as GitHub's `==` does.
    assert results(EXCLUDE).matrix["test"] == [
        {"os": "linux", "node": 14},
        {"os": "linux", "node": 16},
        {"os": "macos", "node": 16},
    ]


# The docs' example (running-variations-of-jobs-in-a-workflow, "Expanding or adding matrix configurations").
DOCS_INCLUDE = add(
    workflow(
        PUSH,
        test=job(
            matrix="""\
fruit: [apple, pear]
animal: [cat, dog]
include:
  - color: green
  - color: pink
    animal: cat
  - fruit: apple
    shape: circle
  - fruit: banana
  - fruit: banana
    animal: cat"""
        ),
    )
)
INCLUDE_BACK = add(
    workflow(PUSH, test=job(matrix="os: [a, b]\nexclude: [{os: a}]\ninclude: [{os: a, extra: 1}]"))
)


def test_include_extends_each_combination_it_changes_no_value_of_and_else_adds_one(results: Results) -> None:
    result = results(DOCS_INCLUDE)
    assert result.matrix["test"] == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    # The values an include adds are in the matrix context, not in the name; a leg an include made
    # shows all its values.
    assert list(result.legs["test"]) == [
        "test (apple, cat)",
        "test (apple, dog)",
        "test (pear, cat)",
        "test (pear, dog)",
        "test (banana)",
        "test (banana, cat)",
    ]
    # Include comes after exclude, and can bring an excluded combination back.
    assert results(INCLUDE_BACK).matrix["test"] == [{"os": "b"}, {"os": "a", "extra": 1}]


BUILDS = [
    {"image": "api", "platform": "linux/amd64"},
    {"image": "api", "platform": "linux/arm64"},
    {"image": "web", "platform": "linux/amd64"},
]
FROM_OUTPUTS = "include: ${{ fromJSON(needs.plan.outputs.builds) }}"


def plan_and_build(
    build_matrix: str = FROM_OUTPUTS, *, name: str | None = None, cond: str | None = None, **after: str
) -> str:
    """`plan` (output `builds`), then `build`, a matrix job that needs it, then the `after` jobs."""
    build = job(needs=["plan"], matrix=build_matrix, name=name, cond=cond)
    return workflow(PUSH, plan=job(outputs=["builds"]), build=build, **after)


def planned(builds: Any) -> dict[str, dict[str, str]]:
    """The case's outputs: `plan` answers `builds` as JSON (a string as it is)."""
    return {"plan": {"builds": builds if isinstance(builds, str) else json.dumps(builds)}}


DYNAMIC_INCLUDE = add(plan_and_build(), outputs=planned(BUILDS))
DYNAMIC_MATRIX = add(
    plan_and_build("${{ fromJSON(needs.plan.outputs.builds) }}"),
    outputs=planned({"image": ["api", "web"], "platform": ["linux/amd64", "linux/arm64"]}),
)


def test_a_matrix_built_by_fromjson_of_a_needs_output_reads_the_cases_outputs(results: Results) -> None:
    assert results(DYNAMIC_INCLUDE).matrix == {"build": BUILDS}
    assert list(results(DYNAMIC_MATRIX).legs["build"]) == [
        "build (api, linux/amd64)",
        "build (api, linux/arm64)",
        "build (web, linux/amd64)",
        "build (web, linux/arm64)",
    ]


NESTED = [{"cfg": {"os": "linux", "arch": "x64"}, "flag": True, "empty": "", "none": None, "n": 0.1}]
LEG_NAMES = {
    "no name": add(plan_and_build(), outputs=planned(BUILDS)),
    "literal name": add(plan_and_build(name="Build"), outputs=planned(BUILDS)),
    "name with expressions": add(
        plan_and_build(name="Build ${{ matrix.image }} (${{ matrix.platform }})"), outputs=planned(BUILDS)
    ),
    "strategy and github in the name": add(
        plan_and_build(name="${{ strategy.job-index }}/${{ strategy.job-total }} on ${{ github.ref_name }}"),
        outputs=planned(BUILDS),
    ),
    "nested and empty values": add(plan_and_build(), outputs=planned(NESTED)),
}


def test_a_leg_is_named_after_the_job_and_its_values_or_by_its_name_expression(results: Results) -> None:
    names = {case: list(results(key).legs["build"]) for case, key in LEG_NAMES.items()}
    assert names == {
        "no name": ["build (api, linux/amd64)", "build (api, linux/arm64)", "build (web, linux/amd64)"],
        "literal name": ["Build (api, linux/amd64)", "Build (api, linux/arm64)", "Build (web, linux/amd64)"],
        # An expression makes the whole name: no values appended.
        "name with expressions": [
            "Build api (linux/amd64)",
            "Build api (linux/arm64)",
            "Build web (linux/amd64)",
        ],
        "strategy and github in the name": ["0/3 on main", "1/3 on main", "2/3 on main"],
        # Depth first, booleans as GitHub writes them; null and '' are left out.
        "nested and empty values": ["build (linux, x64, true, 0.1)"],
    }


SAME_NAME = add(
    plan_and_build(name="Build ${{ matrix.image }}"),
    outputs=planned(BUILDS),
    outcomes={"build/Build api": "cancelled"},
)


def test_legs_of_one_name_are_one_entry_and_a_leg_outcome_names_them_all(results: Results) -> None:
    result = results(SAME_NAME)
    assert result.legs == {"build": {"Build api": "cancelled", "Build web": "success"}}
    assert len(result.matrix["build"]) == 3


# --- matrices: results, dependants, and a job that doesn't run ----------------------------------------

ARM = "build/build (api, linux/arm64)"
AFTER_BUILD = {
    "deploy": job(needs=["build"]),
    "report": job(needs=["build"], cond="always() && needs.build.result == 'failure'"),
}
LEG_OUTCOMES = add_each(
    plan_and_build(**AFTER_BUILD),
    {"outputs": planned(BUILDS), "outcomes": {ARM: "failure"}},
    {"outputs": planned(BUILDS), "outcomes": {"build": "failure", ARM: "success"}},
    {"outputs": planned(BUILDS), "outcomes": {ARM: "cancelled"}},
    {"outputs": planned(BUILDS), "outcomes": {ARM: "cancelled", "build/build (web, linux/amd64)": "failure"}},
)


def test_a_leg_outcome_ends_only_that_leg_and_the_job_ends_with_the_worst_leg(results: Results) -> None:
    one_failed, all_but_one_failed, one_cancelled, cancelled_and_failed = (results(k) for k in LEG_OUTCOMES)
    assert one_failed.legs["build"] == {
        "build (api, linux/amd64)": "success",
        "build (api, linux/arm64)": "failure",
        "build (web, linux/amd64)": "success",
    }
    assert one_failed.jobs["build"] == "failure"
    # The job id sets every leg; a leg's own entry wins.
    assert all_but_one_failed.legs["build"] == {
        "build (api, linux/amd64)": "failure",
        "build (api, linux/arm64)": "success",
        "build (web, linux/amd64)": "failure",
    }
    assert one_cancelled.jobs["build"] == "cancelled"
    assert cancelled_and_failed.jobs["build"] == "failure"


def test_dependants_of_a_matrix_job_see_its_aggregate_result(results: Results) -> None:
    one_failed, _, one_cancelled, _ = (results(k) for k in LEG_OUTCOMES)
    assert one_failed.ran() == {"plan", "build", "report"}
    assert one_cancelled.ran() == {"plan", "build"}


MATRIX_NOT_RUN = add_each(
    plan_and_build(cond="needs.plan.outputs.builds != '[]'", report=job(needs=["build"], cond="always()")),
    {"outputs": planned([])},
    {"outputs": planned("not json"), "outcomes": {"plan": "failure"}},
)


def test_a_job_skipped_by_its_if_never_evaluates_its_matrix(results: Results) -> None:
    for key in MATRIX_NOT_RUN:
        result = results(key)
        assert result.jobs["build"] == "skipped"
        assert result.legs == {}
        assert result.matrix == {}
        assert result.ran() >= {"report"}


ALL_EXCLUDED = add(workflow(PUSH, test=job(matrix="os: [a, b]\nexclude: [{os: a}, {os: b}]")))
NO_MATRIX = add(
    workflow(PUSH, test=job().replace("    steps:", "    strategy:\n      fail-fast: false\n    steps:"))
)


def test_a_matrix_that_exclude_empties_runs_the_job_once_as_a_job_without_a_matrix(results: Results) -> None:
    for key in (ALL_EXCLUDED, NO_MATRIX):
        result = results(key)
        assert result.jobs == {"test": "success"}
        assert result.legs == {}
        assert result.matrix == {}


# --- matrices: GitHub's errors ------------------------------------------------------------------------

MATRIX_ERRORS = {
    message: add(plan_and_build(matrix), outputs=planned(builds))
    for matrix, builds, message in [
        (FROM_OUTPUTS, [], "Matrix must define at least one vector"),
        (
            "platform: ${{ fromJSON(needs.plan.outputs.builds) }}",
            [],
            "Matrix vector 'platform' does not contain any values",
        ),
        ("platform: ${{ fromJSON(needs.plan.outputs.builds) }}", "linux/amd64", "Error parsing JSON"),
        ("platform: ${{ fromJSON(needs.plan.outputs.builds) }}", "", "empty input"),
        (
            "platform: ${{ fromJSON(needs.plan.outputs.builds) }}",
            '"linux/amd64"',
            "Matrix vector 'platform' is not a list",
        ),
        (FROM_OUTPUTS, {"image": "api"}, "matrix include is not a list"),
        (FROM_OUTPUTS, [{}], "Matrix include mapping does not contain any values"),
        (
            "os: [a]\nexclude: ${{ fromJSON(needs.plan.outputs.builds) }}",
            [{"arch": "x"}],
            "Matrix exclude key 'arch'",
        ),
    ]
}


@pytest.mark.parametrize("message", list(MATRIX_ERRORS))
def test_a_matrix_github_refuses_when_the_job_runs_is_a_case_error(results: Results, message: str) -> None:
    with pytest.raises(
        JobGraphError, match=f"Error when evaluating 'strategy' for job 'build'.*{re.escape(message)}"
    ):
        results(MATRIX_ERRORS[message])


def platforms(count: int) -> list[str]:
    return [f"linux/p{n}" for n in range(count)]


AT_THE_LIMIT, PAST_THE_LIMIT = (
    add(plan_and_build("platform: ${{ fromJSON(needs.plan.outputs.builds) }}"), outputs=planned(platforms(n)))
    for n in (256, 257)
)
PAST_THE_LIMIT_BY_PRODUCT = add(
    workflow(PUSH, test=job(matrix=f"a: {list(range(16))}\nb: {list(range(17))}"))
)


def test_a_matrix_of_more_than_256_legs_is_a_case_error(results: Results) -> None:
    assert len(results(AT_THE_LIMIT).legs["build"]) == 256
    with pytest.raises(JobGraphError, match="produced 257 configurations which exceeds the maximum of 256"):
        results(PAST_THE_LIMIT)
    with pytest.raises(JobGraphError, match="produced 272 configurations"):
        results(PAST_THE_LIMIT_BY_PRODUCT)


LITERAL_EMPTY = add_each(
    workflow(PUSH, test=job(cond="github.ref_type == 'tag'", matrix="os: []")),
    {},
    {"ref": TAG},
)


def test_an_empty_literal_list_is_refused_with_the_workflow_even_when_the_job_would_not_run(
    results: Results,
) -> None:
    for key in LITERAL_EMPTY:
        with pytest.raises(WorkflowParseError, match="Matrix vector 'os' does not contain any values"):
            results(key)


LEG_MISFITS = {
    message: add(plan_and_build(), outputs=planned(BUILDS), outcomes=outcomes)
    for outcomes, message in [
        (
            {"build/build (api)": "failure"},
            "outcomes name leg 'build/build (api)', which job 'build' doesn't have",
        ),
        ({"plan/x": "failure"}, "outcomes name leg 'plan/x', but job 'plan' runs without a matrix"),
        ({"nope/x": "failure"}, "outcomes name job 'nope'"),
        ({ARM: "skipped"}, f"outcome of '{ARM}' is 'skipped'"),
    ]
}


@pytest.mark.parametrize("message", list(LEG_MISFITS))
def test_a_leg_outcome_no_leg_has_is_a_case_error(results: Results, message: str) -> None:
    with pytest.raises(JobGraphError, match=re.escape(message)):
        results(LEG_MISFITS[message])


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


def add_dispatch(*rows: tuple[str, dict[str, Any]]) -> list[int]:
    """For each (condition of the only job, inputs given): a dispatch (read with `ran_a`)."""
    return [
        add(workflow(DISPATCH, a=job(cond=cond)), "workflow_dispatch", inputs=inputs) for cond, inputs in rows
    ]


def ran_a(results: Results, keys: Sequence[int]) -> list[bool]:
    return [results(key).jobs["a"] == "success" for key in keys]


BOOLEAN_DEFAULTS = add_dispatch(
    ("inputs.dry_run", {}),
    ("inputs.dry_run", {"dry_run": False}),
    ("inputs.force", {}),  # no default: false
    ("inputs.force", {"force": True}),
)


def test_dispatch_boolean_input_takes_its_default_when_not_given(results: Results) -> None:
    assert ran_a(results, BOOLEAN_DEFAULTS) == [True, False, False, True]


BOOLEAN_TYPES = add_dispatch(
    ("inputs.dry_run == true", {}),
    ("inputs.dry_run == 'true'", {}),
    ("github.event.inputs.dry_run == 'true'", {}),
    ("inputs.dry_run", {"dry_run": False}),
    # The string 'false' is truthy: the classic mistake.
    ("github.event.inputs.dry_run", {"dry_run": False}),
)


def test_dispatch_boolean_input_is_a_boolean_in_inputs_and_a_string_in_github_event_inputs(
    results: Results,
) -> None:
    assert ran_a(results, BOOLEAN_TYPES) == [True, False, True, False, True]


NUMBER_AND_CHOICE = add_dispatch(
    ("inputs.level == 2 && github.event.inputs.level == '2'", {}),
    ("inputs.level > 2", {"level": 3}),
    ("inputs.target == 'staging'", {}),
    ("inputs.target == 'production'", {"target": "production"}),
)


def test_dispatch_number_and_choice_inputs_are_typed(results: Results) -> None:
    assert ran_a(results, NUMBER_AND_CHOICE) == [True, True, True, True]


INPUTS_OF_A_PUSH = add(
    workflow(DISPATCH + "\n" + PUSH, a=job(cond="inputs.dry_run"), b=job(cond="inputs.level == ''")),
    event="push",
)


def test_inputs_are_empty_for_other_events(results: Results) -> None:
    assert results(INPUTS_OF_A_PUSH).jobs == {"a": "skipped", "b": "success"}


BAD_INPUT_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"nope": True}, "input 'nope' is not declared"),
    ({"dry_run": "false"}, "is not a boolean"),
    ({"target": "moon"}, "is not one of"),
]
BAD_INPUTS = {
    message: add(workflow(DISPATCH, a=job()), "workflow_dispatch", inputs=inputs)
    for inputs, message in BAD_INPUT_VALUES
}


@pytest.mark.parametrize("message", list(BAD_INPUTS))
def test_bad_dispatch_inputs_raise(results: Results, message: str) -> None:
    with pytest.raises(JobGraphError, match=message):
        results(BAD_INPUTS[message])


REQUIRED_INPUT_GIVEN, REQUIRED_INPUT_MISSING = add_each(
    workflow(
        "  workflow_dispatch:\n    inputs:\n      version:\n        required: true",
        a=job(cond="inputs.version == '1.0'"),
    ),
    {"event": "workflow_dispatch", "inputs": {"version": "1.0"}},
    {"event": "workflow_dispatch"},
)


def test_a_required_input_without_default_must_be_given(results: Results) -> None:
    assert results(REQUIRED_INPUT_GIVEN).ran() == {"a"}
    with pytest.raises(JobGraphError, match="required input 'version'"):
        results(REQUIRED_INPUT_MISSING)


# --- triggers ------------------------------------------------------------------------------------------

LISTED_BRANCHES = add_triggers(
    "  push:\n    branches: [main, 'release/**']",
    *[
        ("push", ref)
        for ref in [MAIN, "refs/heads/release/1.x/fix", "refs/heads/feature", "refs/heads/mainline"]
    ],
)


def test_push_to_a_listed_branch_triggers_and_another_branch_does_not(results: Results) -> None:
    assert results.triggered(LISTED_BRANCHES) == [True, True, False, False]


ONLY_BRANCHES = add_triggers("  push:\n    branches: [main]", ("push", TAG), ("push", MAIN))
ONLY_TAGS = add_triggers("  push:\n    tags: ['v*']", ("push", MAIN), ("push", TAG))
ONLY_BRANCHES_IGNORE = add_triggers("  push:\n    branches-ignore: [wip]", ("push", MAIN), ("push", TAG))
BRANCHES_AND_TAGS = add_triggers(
    "  push:\n    branches: [main]\n    tags: ['v*']",
    ("push", TAG),
    ("push", MAIN),
    ("push", "refs/heads/dev"),
)


def test_push_with_only_branches_listed_does_not_trigger_for_tags_and_the_reverse(results: Results) -> None:
    assert results.triggered(ONLY_BRANCHES) == [False, True]
    assert results.triggered(ONLY_TAGS) == [False, True]
    assert results.triggered(ONLY_BRANCHES_IGNORE) == [True, False]
    assert results.triggered(BRANCHES_AND_TAGS) == [True, True, False]


NO_FILTERS = add_triggers("  push:", ("push", TAG), ("push", "refs/heads/any/thing"))
ONLY_PATHS = add_triggers("  push: {paths: ['src/**']}", ("push", TAG), ("push", MAIN))


def test_push_without_filters_triggers_for_branches_and_tags(results: Results) -> None:
    assert results.triggered(NO_FILTERS) == [True, True]
    # paths filters are not modelled.
    assert results.triggered(ONLY_PATHS) == [True, True]


TAG_PATTERNS = add_triggers(
    "  push:\n    tags: ['v[0-9]+.*', '!v*-rc*']",
    *[("push", f"refs/tags/{tag}") for tag in ["v1.2.3", "v10.0", "v1.2-rc1", "version"]],
)
STAR = add_triggers("  push:\n    tags: ['v*']", ("push", "refs/tags/v1/x"))
DOUBLE_STAR = add_triggers("  push:\n    tags: ['v**']", ("push", "refs/tags/v1/x"))
OPTIONAL = add_triggers(
    "  push:\n    tags: ['colou?r']", ("push", "refs/tags/color"), ("push", "refs/tags/colour")
)
ESCAPED = add_triggers("  push:\n    tags: ['a\\+b']", ("push", "refs/tags/a+b"), ("push", "refs/tags/aab"))


def test_tag_patterns_follow_githubs_filter_syntax(results: Results) -> None:
    assert results.triggered(TAG_PATTERNS) == [True, True, False, False]
    # `*` doesn't cross `/`, `**` does.
    assert results.triggered(STAR) == [False]
    assert results.triggered(DOUBLE_STAR) == [True]
    # `?` makes the preceding character optional; `\` escapes a special character.
    assert results.triggered(OPTIONAL) == [True, True]
    assert results.triggered(ESCAPED) == [True, False]


INCLUDED_AGAIN = add_triggers(
    "  push:\n    branches: ['release/**', '!release/**-alpha', 'release/keep-alpha']",
    *[("push", f"refs/heads/{ref}") for ref in ["release/1.0", "release/1.0-alpha", "release/keep-alpha"]],
)


def test_a_later_positive_pattern_includes_again(results: Results) -> None:
    assert results.triggered(INCLUDED_AGAIN) == [True, False, True]


TAGS_IGNORE = add_triggers("  push:\n    tags-ignore: ['*-rc*']", ("push", TAG), ("push", "refs/tags/v1-rc1"))


def test_ignore_filters_exclude(results: Results) -> None:
    assert results.triggered(TAGS_IGNORE) == [True, False]


PR_BRANCHES = add_triggers(
    "  pull_request:\n    branches: [main]", ("pull_request", PR, "main"), ("pull_request", PR, "develop")
)
PR_ONLY = add_triggers("  pull_request:", ("pull_request", PR, "develop"), ("push", MAIN))


def test_pull_request_branches_filter_the_base_branch(results: Results) -> None:
    assert results.triggered(PR_BRANCHES) == [True, False]
    assert results.triggered(PR_ONLY) == [True, False]


PR_WITHOUT_BASE = add(workflow("  pull_request:", a=job()), event="pull_request", ref=PR)


def test_a_pull_request_case_needs_its_base_branch(results: Results) -> None:
    with pytest.raises(JobGraphError, match="base_ref"):
        results(PR_WITHOUT_BASE)


UNLISTED_EVENT = add(
    workflow("  push:\n    branches: [main]", a=job(), b=job(needs=["a"], cond="always()")),
    event="workflow_dispatch",
)


def test_an_unlisted_event_does_not_trigger_and_every_job_is_skipped(results: Results) -> None:
    result = results(UNLISTED_EVENT)
    assert not result.triggered
    assert result.jobs == {"a": "skipped", "b": "skipped"}
    assert result.ran() == set()


LISTED_EVENTS = add_triggers(
    "  workflow_dispatch:\n  workflow_run:\n    workflows: [CI]\n    branches: [main]",
    ("workflow_dispatch", TAG),
    ("workflow_run", MAIN),
    ("workflow_run", "refs/heads/other"),
)


def test_a_listed_event_triggers_and_workflow_run_filters_its_branch(results: Results) -> None:
    assert results.triggered(LISTED_EVENTS) == [True, True, False]


# --- errors --------------------------------------------------------------------------------------------

UNKNOWN_NEED = add(workflow(PUSH, a=job(), b=job(needs=["nope"])))


def test_a_workflow_the_parser_refuses_raises_with_its_message(results: Results) -> None:
    with pytest.raises(WorkflowParseError, match="Job 'b' depends on unknown job 'nope'") as info:
        results(UNKNOWN_NEED)
    assert info.value.messages


UNKNOWN_FUNCTION = add(workflow(PUSH, a=job(cond="succeeded()")))


def test_an_unknown_function_in_an_if_is_a_parse_error(results: Results) -> None:
    with pytest.raises(WorkflowParseError, match="Unrecognized function: 'succeeded'"):
        results(UNKNOWN_FUNCTION)


INVALID_YAML = add("on: push\njobs:\n  a: [\n")
UNKNOWN_KEY = add(workflow(PUSH, a=job().replace("runs-on", "runs-onn")))


def test_invalid_yaml_and_unknown_keys_are_parse_errors(results: Results) -> None:
    with pytest.raises(WorkflowParseError):
        results(INVALID_YAML)
    with pytest.raises(WorkflowParseError, match="runs-onn"):
        results(UNKNOWN_KEY)


BRANCHES_AND_IGNORE = add(workflow("  push:\n    branches: [main]\n    branches-ignore: [wip]", a=job()))


def test_branches_and_branches_ignore_together_are_refused(results: Results) -> None:
    with pytest.raises(WorkflowParseError, match="both 'branches' and 'branches-ignore'"):
        results(BRANCHES_AND_IGNORE)


MISFIT_KWARGS: list[tuple[dict[str, Any], str]] = [
    ({"outcomes": {"nope": "failure"}}, "outcomes name job 'nope'"),
    ({"outcomes": {"a": "skipped"}}, "outcome of 'a' is 'skipped'"),
    ({"outputs": {"a": {"undeclared": "x"}}}, "declares no output 'undeclared'"),
    ({"ref": "main"}, "ref 'main' is not"),
]
MISFITS = {message: add(workflow(PUSH, a=job()), **kwargs) for kwargs, message in MISFIT_KWARGS}


@pytest.mark.parametrize("message", list(MISFITS))
def test_a_case_the_workflow_does_not_fit_raises(results: Results, message: str) -> None:
    with pytest.raises(JobGraphError, match=message):
        results(MISFITS[message])


# --- simulate itself: batching and raising (node processes of their own) ------------------------------


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
    assert simulate_each([]) == []
    assert len(calls) == 1
    # simulate_each too, with a case the workflow doesn't fit and one the parser refuses among them: each
    # gets its error in its place, the others their results.
    misfit = Case(wf, "push", TAG, outcomes={"nope": "failure"})
    refused = Case(workflow(PUSH, a=job(), b=job(needs=["nope"])), "push", MAIN)
    answered = simulate_each([*cases[:20], misfit, *cases[20:40], refused, *cases[40:]])
    assert len(calls) == 2
    assert answered[:20] + answered[21:41] + answered[42:] == results
    assert isinstance(answered[20], JobGraphError)
    assert "case 20 (push refs/tags/v1.2.3): outcomes name job 'nope'" in str(answered[20])
    assert isinstance(answered[41], WorkflowParseError)
    assert answered[41].case_index == 41


def test_simulate_raises_for_a_bad_case_by_default() -> None:
    good = Case(workflow(PUSH, a=job()), "push", MAIN)
    misfit = Case(good.workflow, "push", MAIN, outcomes={"nope": "failure"})
    with pytest.raises(JobGraphError, match=r"case 1 .*outcomes name job 'nope'"):
        simulate([good, misfit, good])
    refused = Case(workflow(PUSH, a=job(), b=job(needs=["nope"])), "push", MAIN)
    with pytest.raises(WorkflowParseError, match="unknown job 'nope'") as info:
        simulate_one(refused)
    assert info.value.case_index == 0
