"""Whatever stacks/ holds (our examples today, a team's own stacks tomorrow) is checked here,
generically: each stack synthesizes, its workflow passes the checkers, its file validates
against the stack schema, and the stacks neither collide nor keep a secret in plaintext.

`ACR_PIPELINE_STACKS=<dir>` points these checks at another directory (the suite itself does,
to prove that a team's own stack, alone in stacks/, passes, and that a broken one fails).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from components.config import ConfigError
from tests.conftest import lint_workflows
from tools import check_stacks, schema, synth
from tools.stackfile import STACKS_DIR, StackFileError, describe, read, shown, stack_names, stack_path

STACKS = stack_names(STACKS_DIR)


def test_there_is_at_least_one_stack() -> None:
    assert STACKS, f"no Pulumi.<stack>.yaml in {shown(STACKS_DIR)}: copy an example (README, 'Make it yours')"


def test_no_two_stacks_collide_and_no_secret_is_kept_in_plaintext() -> None:
    problems, _, _ = check_stacks.check(STACKS_DIR)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_synthesizes_and_its_workflow_is_clean(stack: str, tmp_path: Path) -> None:
    try:
        result = synth.synthesize(stack, out_dir=tmp_path, stacks_dir=STACKS_DIR)
    except (ConfigError, StackFileError) as err:
        pytest.fail(describe(err, stack, STACKS_DIR), pytrace=False)
    workflows = result.target / ".github" / "workflows"
    assert list(workflows.glob("*.y*ml")), f"{stack} commits no workflow"
    assert lint_workflows(workflows) == []


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_validates_against_the_stack_schema(stack: str) -> None:
    path = stack_path(stack, STACKS_DIR)
    data = json.loads(json.dumps(read(path)))  # plain data, as an editor's YAML server sees it
    errors = sorted(jsonschema.Draft202012Validator(schema.stack_schema()).iter_errors(data), key=str)
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
