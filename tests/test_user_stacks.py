"""Whatever stacks/ holds (our examples today, a team's own stacks tomorrow) is checked here,
generically: each stack synthesizes, its workflow passes the checkers, its file validates
against the stack schema, and the stacks neither collide nor keep a secret in plaintext.

`ACR_PIPELINE_STACKS=<dir>` points these checks at another directory (the suite itself does,
to prove that a team's own stack, alone in stacks/, passes, and that a broken one fails).

The costly work is done once for all the stacks, so that a hundred stacks cost little more than
three (`python -m tools.bench_stacks` measures it): one fixture synthesizes every stack into one
tree and runs each workflow checker once over all their workflows; each stack's own test then
asserts on what concerns its files, and so names the stack that fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from components.config import ConfigError
from components.stackfile import STACKS_DIR, StackFileError, describe, read, shown, stack_names, stack_path
from tests.conftest import lint_workflows
from tools import check_stacks, schema, synth

STACKS = stack_names(STACKS_DIR)


@dataclass
class Synthesized:
    """One stack, synthesized: the workflow files it commits and what the checkers said of them,
    or what stopped it."""

    directory: Path  # where its workflows are: <stack>/.github/workflows
    workflows: list[Path] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    error: Exception | None = None


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Every stack synthesized into one tree (`<stack>/<its files>`), then actionlint, zizmor and
    GitHub's workflow schema each run once over all their workflows. A finding goes to the stack
    whose file it names; one that names no file (a checker failed) goes to every stack."""
    out = tmp_path_factory.mktemp("stacks")
    stacks: dict[str, Synthesized] = {}
    for stack in STACKS:
        try:
            result = synth.synthesize(stack, out_dir=out, stacks_dir=STACKS_DIR)
        except Exception as err:  # any: re-raised by this stack's own test, which it fails alone
            stacks[stack] = Synthesized(out / stack, error=err)
            continue
        workflows = result.target / ".github" / "workflows"
        files = sorted(p for p in workflows.rglob("*") if p.is_file()) if workflows.is_dir() else []
        stacks[stack] = Synthesized(workflows, files)
    linted = [path for s in stacks.values() for path in s.workflows]
    findings = lint_workflows(*linted) if linted else []
    owner = {str(path): s for s in stacks.values() for path in s.workflows}
    for finding in findings:
        about = next((name for name in owner if finding.startswith(f"{name}:")), None)
        for s in [owner[about]] if about else stacks.values():
            s.findings.append(finding)
    return stacks


@pytest.fixture(scope="module")
def stack_schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema.stack_schema())


def test_there_is_at_least_one_stack() -> None:
    assert STACKS, f"no Pulumi.<stack>.yaml in {shown(STACKS_DIR)}: copy an example (README, 'Make it yours')"


def test_no_two_stacks_collide_and_no_secret_is_kept_in_plaintext() -> None:
    problems, _, _ = check_stacks.check(STACKS_DIR)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_synthesizes_and_its_workflow_is_clean(stack: str, synthesized: dict[str, Synthesized]) -> None:
    result = synthesized[stack]
    if isinstance(result.error, (ConfigError, StackFileError)):
        pytest.fail(describe(result.error, stack, STACKS_DIR), pytrace=False)
    if result.error is not None:
        raise result.error
    assert list(result.directory.glob("*.y*ml")), f"{stack} commits no workflow"
    assert result.findings == [], f"{stack}'s workflow:\n" + "\n".join(result.findings)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_validates_against_the_stack_schema(
    stack: str, stack_schema: jsonschema.Draft202012Validator
) -> None:
    path = stack_path(stack, STACKS_DIR)
    data = json.loads(json.dumps(read(path)))  # plain data, as an editor's YAML server sees it
    errors = sorted(stack_schema.iter_errors(data), key=str)
    messages = [f"{shown(path)}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    assert messages == [], "\n".join(messages)


@pytest.mark.parametrize("stack", STACKS)
def test_a_schema_the_stack_file_names_for_editors_exists(stack: str) -> None:
    """The comment is optional (our examples carry it); one that points nowhere would leave an
    editor silently unchecked."""
    path = stack_path(stack, STACKS_DIR)
    match = re.match(r"# yaml-language-server: \$schema=(\S+)", path.read_text())
    if match and "://" not in match[1]:
        assert (path.parent / match[1]).is_file(), (
            f"{shown(path)}: its first line names the schema {match[1]}, which does not exist: "
            f"run `make schema`, or make the line `{schema.SCHEMA_COMMENT}`"
        )
