"""Which jobs of a GitHub Actions workflow run for a given event, decided by GitHub's own code.

The workflow is read by GitHub's workflow parser (npm ``@actions/workflow-parser``: schema validation,
``needs`` checks, and the implicit ``success() && (...)`` around an ``if:`` with no status function) and each
job's ``if:`` is evaluated by GitHub's expression evaluator (npm ``@actions/expressions``), in one node
process per batch: ``tests/jobgraph/simulate.mjs``, which documents the model with links to GitHub's docs.
In short:

- ``triggered``: the event is listed under ``on:``; for ``push`` the ``branches``/``tags`` filters (and their
  ``-ignore`` forms) with GitHub's pattern syntax, where a push with only ``branches`` filters doesn't run
  for tags and the reverse; for ``pull_request`` the ``branches`` filter is matched against the BASE branch.
  ``paths``/``paths-ignore`` filters and activity ``types`` are ignored.
- jobs run in dependency order; a job runs when its ``if:`` is true, with the contexts ``github``, ``inputs``
  (workflow_dispatch, typed), ``needs`` (direct needs: ``result`` and ``outputs``) and ``vars``. At job level
  ``success()`` means every ancestor (transitively) succeeded, ``failure()`` that some ancestor failed,
  ``cancelled()`` that a job ended ``cancelled`` before this one's turn, ``always()`` is true.
- a job that runs ends with the case's ``outcomes`` entry (``success`` by default).
- a job that runs and has a ``strategy.matrix`` runs once per combination of the matrix (a "leg"), expanded
  as GitHub does (its code in actions/runner's ``src/Sdk/WorkflowParser``, and the docs' "Running variations
  of jobs in a workflow"): the matrix is evaluated with ``github``, ``inputs``, ``vars`` and ``needs`` (so
  ``${{ fromJSON(needs.changes.outputs.builds) }}`` reads the case's ``outputs``); the cross product of its
  lists, less what ``exclude`` matches (partially), each extended by the ``include`` objects that don't change
  one of its values, then each ``include`` that fitted none as a leg of its own. Each leg has a display name:
  ``<job name> (<its values, joined by ", ">)``, the job name being the job id, or a literal ``name:``; a
  ``name:`` with an expression is evaluated per leg (with ``matrix`` and ``strategy``) and is the whole name.
  An empty list, an empty matrix, more than 256 legs or an expression that fails (``fromJSON`` of something
  that is not JSON) raise JobGraphError for the case, as they fail GitHub's run; a matrix whose ``exclude``
  removes everything runs the job once, as a job without a matrix. The job's result is ``failure`` if a leg
  failed, else ``cancelled`` if one was cancelled, else ``success``; that is ``needs.<id>.result``. The rules,
  their sources and what could not be pinned down are in simulate.mjs ("Matrices").

``evaluate`` gives the value of step-level expressions (a step's ``env``) by the same evaluator.

The node packages are installed by ``make install`` (``npm ci`` into ``node_modules/``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_NODE_DIR = Path(__file__).resolve().parent / "jobgraph"
_SCRIPT = _NODE_DIR / "simulate.mjs"
# Lets node 20 load @actions/workflow-parser, whose dist imports JSON without `with { type: "json" }`.
_HOOK = _NODE_DIR / "register-json-hook.mjs"
_PARSER = ROOT / "node_modules" / "@actions" / "workflow-parser" / "package.json"
_TIMEOUT_S = 300

RESULTS = ("success", "failure", "cancelled", "skipped")


class JobGraphError(RuntimeError):
    """The node side failed (bad case, missing packages, a bug): the message carries its stderr."""


class WorkflowParseError(ValueError):
    """GitHub's workflow parser refused the workflow; ``messages`` are its error messages."""

    def __init__(self, case_index: int, messages: Sequence[str]) -> None:
        self.case_index = case_index
        self.messages = list(messages)
        super().__init__(
            f"case {case_index}: the workflow parser refused the workflow:\n" + "\n".join(messages)
        )


@dataclass(frozen=True)
class Case:
    """One event to simulate against one workflow file."""

    workflow: str
    """The workflow file's YAML text."""
    event: str
    """``push``, ``workflow_dispatch``, ``pull_request``, ``workflow_run``, ..."""
    ref: str
    """``refs/heads/main``, ``refs/tags/v1.2.3``, ``refs/pull/7/merge``."""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """workflow_dispatch inputs given (the others take the workflow's defaults); bool/str/int as typed."""
    outcomes: Mapping[str, str] = field(default_factory=dict)
    """Job id -> its result IF it runs: ``success`` (default), ``failure`` or ``cancelled``. For a matrix
    job the job id sets every leg, and ``"<job id>/<leg display name>"`` (``"build/Build api (linux/arm64)"``)
    one leg, over the job id's entry. A leg name that no leg of the job has raises (when the job runs)."""
    outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Job id -> its outputs IF it runs (``needs.<id>.outputs`` of its dependants); undeclared ones raise."""
    vars: Mapping[str, str] = field(default_factory=dict)
    """The ``vars`` context."""
    base_ref: str | None = None
    """pull_request(_target): the base branch name (``github.base_ref``); required for those events."""
    head_ref: str | None = None
    """pull_request(_target): the head branch name (``github.head_ref``); ``feature`` when not given."""

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "event": self.event,
            "ref": self.ref,
            "inputs": dict(self.inputs),
            "outcomes": dict(self.outcomes),
            "outputs": {job: dict(values) for job, values in self.outputs.items()},
            "vars": dict(self.vars),
            "base_ref": self.base_ref,
            "head_ref": self.head_ref,
        }


@dataclass(frozen=True)
class Result:
    """What happened to each job of the workflow for one case."""

    triggered: bool
    """Whether the workflow's ``on:`` starts a run for the case's event and ref (``paths`` ignored)."""
    jobs: Mapping[str, str]
    """Every job id of the workflow -> ``success``, ``failure``, ``cancelled`` or ``skipped``. For a matrix
    job the aggregate of its legs: ``failure`` if any failed, else ``cancelled`` if any was cancelled, else
    ``success``."""
    legs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Each matrix job that ran -> {leg display name -> its result}, in the legs' order. Legs of the same
    name (GitHub allows it) are one entry: an outcome for that name ends them all."""
    matrix: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Each matrix job that ran -> the ``matrix`` context of each of its legs, in order."""

    def ran(self) -> set[str]:
        """The jobs that ran (whatever their result), i.e. were not skipped."""
        return {job for job, result in self.jobs.items() if result != "skipped"}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise JobGraphError("node is not on PATH (the jobgraph harness needs node >= 20)")
    if not _PARSER.is_file():
        raise JobGraphError(f"{_PARSER.relative_to(ROOT)} is missing: run `make install` (npm ci)")
    return node


def _outcome(index: int, raw: Any) -> Result | JobGraphError | WorkflowParseError:
    """One case's answer from the node side: its Result, or the error the case raises."""
    if not isinstance(raw, dict):
        raise JobGraphError(f"case {index}: the node side answered {raw!r}")
    if "errors" in raw:
        return WorkflowParseError(index, [str(message) for message in raw["errors"]])
    if "case_error" in raw:
        return JobGraphError(str(raw["case_error"]))
    triggered, jobs, legs, matrix = raw.get("triggered"), raw.get("jobs"), raw.get("legs"), raw.get("matrix")
    if not isinstance(triggered, bool) or not isinstance(jobs, dict):
        raise JobGraphError(f"case {index}: the node side answered {raw!r}")
    if any(not isinstance(result, str) or result not in RESULTS for result in jobs.values()):
        raise JobGraphError(f"case {index}: unexpected job results {jobs!r}")
    leg_results = {"success", "failure", "cancelled"}
    if (
        not isinstance(legs, dict)
        or not isinstance(matrix, dict)
        or set(legs) != set(matrix)
        or any(
            not isinstance(named, dict) or not set(named.values()) <= leg_results for named in legs.values()
        )
        or any(not isinstance(legs_matrix, list) for legs_matrix in matrix.values())
    ):
        raise JobGraphError(f"case {index}: unexpected legs {legs!r} / matrix {matrix!r}")
    return Result(triggered=triggered, jobs=dict(jobs), legs=dict(legs), matrix=dict(matrix))


def _node_answer(command: list[str], request: dict[str, Any]) -> Any:
    """The JSON that one node process writes for ``request`` (JSON on its stdin)."""
    process = subprocess.run(
        command,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if process.returncode != 0:
        raise JobGraphError(f"node exited with {process.returncode}:\n{process.stderr.strip()}")
    try:
        return json.loads(process.stdout)
    except json.JSONDecodeError as error:
        raise JobGraphError(f"node wrote no JSON ({error}):\n{process.stdout}\n{process.stderr}") from error


def _answers(cases: Sequence[Case], *, case_errors: bool) -> list[Any]:
    """The node side's raw answers to ``cases``, in order, from ONE node process."""
    request: dict[str, Any] = {"cases": [case.to_json() for case in cases]}
    if case_errors:
        request["case_errors"] = True
    answer = _node_answer([_node(), "--import", _HOOK.as_uri(), str(_SCRIPT)], request)
    raw_results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(raw_results, list) or len(raw_results) != len(cases):
        raise JobGraphError(f"node answered {len(cases)} cases with {answer!r}")
    return raw_results


def simulate(cases: Sequence[Case]) -> list[Result]:
    """The results of all ``cases``, in order, from ONE node process.

    Raises WorkflowParseError when the parser refuses a case's workflow, JobGraphError on anything else the
    node side rejects (a job, input or output the workflow doesn't declare, a bad outcome, ...).
    """
    if not cases:
        return []
    results = []
    for index, raw in enumerate(_answers(cases, case_errors=False)):
        outcome = _outcome(index, raw)
        if isinstance(outcome, Exception):
            raise outcome
        results.append(outcome)
    return results


def simulate_each(cases: Sequence[Case]) -> list[Result | JobGraphError | WorkflowParseError]:
    """Like ``simulate``, but a case that ``simulate`` would raise for gets its error in its place, and the
    other cases still get their results (one node process; for tables of cases that mix good and bad ones).

    Only the errors of single cases are returned: a failure of the node side itself (node missing, a bug of
    the harness, an answer it can't read) still raises JobGraphError.
    """
    if not cases:
        return []
    return [_outcome(index, raw) for index, raw in enumerate(_answers(cases, case_errors=True))]


def simulate_one(case: Case) -> Result:
    """The result of one case (one node process; prefer ``simulate`` for tables of cases)."""
    return simulate([case])[0]


def evaluate(expressions: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Any]:
    """The value of each step-level expression (the text inside ``${{ }}``) with its contexts, by GitHub's
    evaluator (``tests/jobgraph/evaluate.mjs``), in ONE node process. No status function is supplied."""
    request = {"expressions": [{"expression": text, "contexts": dict(ctx)} for text, ctx in expressions]}
    answer = _node_answer([_node(), str(_NODE_DIR / "evaluate.mjs")], request)
    values = answer.get("values") if isinstance(answer, dict) else None
    if not isinstance(values, list) or len(values) != len(expressions):
        raise JobGraphError(f"node answered {len(expressions)} expressions with {answer!r}")
    return values


# --- `${{ }}` in a text, as GitHub fills it in -------------------------------------------------


def spans(text: str) -> list[tuple[int, int, str]]:
    """Where each `${{ ... }}` expression of a string starts and ends, and its text, as GitHub finds
    them: a `}}` inside a quoted string ('{{is_default_branch}}') does not end one."""
    found = []
    start = text.find("${{")
    while start != -1:
        at, quoted = start + 3, False
        while at < len(text) - 1 and (quoted or text[at : at + 2] != "}}"):
            quoted ^= text[at] == "'"
            at += 1
        assert at < len(text) - 1, f"an expression is not closed: {text!r}"
        found.append((start, at + 2, text[start + 3 : at].strip()))
        start = text.find("${{", at + 2)
    return found


def expressions(text: str) -> list[str]:
    return [expression for _, _, expression in spans(text)]


def as_text(value: Any) -> str:
    """A value as GitHub writes it into a string: `true`, `50`, '' for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def substitute(texts: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Each text with its expressions replaced by their values in its contexts, as GitHub hands
    the text to a step (one node process for all of them)."""
    pending = [(expression, contexts) for text, contexts in texts for expression in expressions(text)]
    values = iter(evaluate(pending) if pending else [])
    out = []
    for text, _ in texts:
        result, done = "", 0
        for start, end, _ in spans(text):
            result += text[done:start] + as_text(next(values))
            done = end
        out.append(result + text[done:])
    return out
