"""`make check STACK=<stack>` (tools/check.py): one stack's config, then the files it commits under
actionlint (with shellcheck), zizmor and the workflow schema, each finding at the stack file's line
that caused it, or against the generated file when no setting did.

The settings refuse what would make a checker complain, so the findings here come from a render
that breaks the dev fixture's files on purpose (`broken`): a job's runner is the stack's namespace
(the value on a line actionlint refuses), a timeout is the image's context (the schema refuses
it), and the checkout keeps its credentials (zizmor's artipacked, on a line that holds no value
of the stack). The checkers run once for all of that (`injected`), and once per clean stack.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.settings import Settings
from components.stackfile import STACKS_DIR, shown, stack_names
from components.workflow_render import committed_files
from tests.conftest import FIXTURES, fixture_settings
from tools import check

ROOT = Path(__file__).resolve().parent.parent
DEV = FIXTURES / "Pulumi.dev.yaml"
CLEAN = [(STACKS_DIR, name) for name in stack_names(STACKS_DIR)] + [
    (FIXTURES, name) for name in stack_names(FIXTURES)
]


def line_in(path: Path, text: str) -> int:
    """The number of the stack file's line that holds `text` (found as text, not as YAML)."""
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line]
    return number


def broken(settings: Settings) -> dict[str, str]:
    """The dev fixture's files, each broken once (see the module's docstring)."""
    files = committed_files(settings)
    push, pulls = files[settings.workflow_path], files[settings.workflow.pull_request_path]
    # `changes` runs on a label named after the namespace: a line actionlint refuses.
    push = push.replace("    runs-on: ubuntu-24.04\n", "    runs-on: acme-dev\n", 1)
    # The checkout keeps its credentials: no value of the stack on that step's lines.
    push = push.replace("        with:\n          persist-credentials: false\n", "", 1)
    # A timeout that is the worker's context: the schema and actionlint refuse it, in the other file.
    pulls = pulls.replace("    timeout-minutes: 10\n", "    timeout-minutes: services/worker\n", 1)
    assert push != files[settings.workflow_path]
    assert pulls != files[settings.workflow.pull_request_path]
    return {settings.workflow_path: push, settings.workflow.pull_request_path: pulls}


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check.main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def clean() -> dict[tuple[Path, str], tuple[int, str]]:
    return {(where, name): run([name, "--stacks-dir", str(where)]) for where, name in CLEAN}


@pytest.fixture(scope="module")
def injected() -> tuple[int, list[str]]:
    """`make check` of the dev fixture with `broken` files: the exit code and each block printed
    (a finding and its indented detail; the summary last)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(check, "committed_files", broken)
        code, out = run(["dev", "--stacks-dir", str(FIXTURES)])
    return code, re.split(r"\n(?=\S)", out.rstrip("\n"))


def caused(blocks: list[str], written_as: str, key: str, checker: str) -> str:
    """The one finding of `checker` printed at the line of the fixture that holds `written_as`,
    naming `key`."""
    at = f"{shown(DEV)}:{line_in(DEV, written_as)}: {key}: {checker}: "
    (found,) = [b for b in blocks if b.startswith(at)]
    return found


def rendered_line(name: str, text: str) -> int:
    """The line of the broken file `name` that holds `text`."""
    (line,) = [
        n
        for path, body in broken(fixture_settings("dev")).items()
        if path.endswith(f"/{name}")
        for n, line in enumerate(body.splitlines(), start=1)
        if text in line
    ]
    return line


@pytest.mark.parametrize(("where", "stack"), CLEAN, ids=[f"{shown(w)}/{s}" for w, s in CLEAN])
def test_a_clean_stack_gives_no_findings_and_exits_0(
    where: Path, stack: str, clean: dict[tuple[Path, str], tuple[int, str]]
) -> None:
    code, out = clean[where, stack]
    assert code == 0, out
    assert re.fullmatch(
        rf"stack {stack}: [12] files?, no findings \(actionlint\+shellcheck, zizmor, schema\) in \d+\.\ds\n",
        out,
    ), out


def test_a_finding_on_a_line_holding_a_stack_value_is_reported_at_that_settings_line(
    injected: tuple[int, list[str]],
) -> None:
    found = caused(injected[1], "namespace: acme-dev", "acr-pipeline:registry.namespace", "actionlint")
    head, where, *_ = found.splitlines()
    assert head.endswith("[runner-label]"), head
    line = rendered_line("build-push.yml", "runs-on: acme-dev")
    assert re.fullmatch(
        rf"  in \.github/workflows/build-push\.yml:{line}:\d+, rendered from 'acme-dev'", where
    )


def test_a_schema_finding_is_placed_at_the_rendered_line_and_mapped_to_its_setting(
    injected: tuple[int, list[str]],
) -> None:
    """check-jsonschema gives a place in the document, not a line: the line is found from it."""
    found = caused(
        injected[1], "context: services/worker", "acr-pipeline:images[1].context", "check-jsonschema"
    )
    line = rendered_line("only-build.yml", "timeout-minutes: services/worker")
    assert f"\n  in .github/workflows/only-build.yml:{line}, rendered from 'services/worker'\n" in found


def test_a_finding_with_no_stack_value_on_its_line_is_reported_against_the_generated_file(
    injected: tuple[int, list[str]],
) -> None:
    _, blocks = injected
    (found,) = [b for b in blocks if "zizmor: " in b and "[artipacked]" in b]
    assert re.match(r"\.github/workflows/build-push\.yml:\d+:\d+: zizmor: ", found), found
    assert found.endswith(f"\n  ({check.GENERATED})")


def test_findings_exit_1_and_the_summary_counts_them(injected: tuple[int, list[str]]) -> None:
    code, blocks = injected
    ours = [b for b in blocks[:-1] if b.startswith(shown(DEV))]
    generated = [b for b in blocks[:-1] if b.startswith(".github/")]
    assert code == 1
    assert len(ours) + len(generated) == len(blocks) - 1
    assert re.fullmatch(
        rf"stack dev: 2 files, {len(blocks) - 1} findings \({len(ours)} from its settings, "
        rf"{len(generated)} in the generated files; actionlint\+shellcheck, zizmor, schema\) in \d+\.\ds",
        blocks[-1],
    ), blocks[-1]
    # The stack's own first, in the stack file's order.
    assert blocks[: len(ours)] == ours


def test_of_the_values_on_a_line_the_longest_is_the_cause() -> None:
    values = check.written(DEV)
    line = '{"image": "worker", "context": "services/worker", "file": "services/worker/Dockerfile"}'
    found = check.cause(line, values)
    assert found == check.Written("acr-pipeline:images[1].context", "services/worker")


def test_a_value_counts_only_where_it_stands_alone_on_the_line() -> None:
    values = check.written(DEV)
    assert check.cause("uses: actions/checkout@0123  # v1.50.2", values) is None  # keepLastTags: 50
    assert check.cause("run: gh apis rapid", values) is None  # the image `api`
    assert check.cause("keep: 50", values) == check.Written(
        "acr-pipeline:registry.retention.keepLastTags", "50"
    )


def test_a_secure_value_is_never_looked_for() -> None:
    assert not [w for w in check.written(DEV) if "registryPassword" in w.key or "REPLACE-ME" in w.text]


def test_a_mistake_in_the_config_is_its_message_at_its_line_and_exit_1_without_a_traceback(
    tmp_path: Path,
) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text(
        DEV.read_text().replace("namespace: acme-dev", "namespace: Acme_Dev")
    )
    done = subprocess.run(
        [sys.executable, "-m", "tools.check", "bad", "--stacks-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: invalid configuration of stack 'bad' (1 problem):\n"), done.stderr
    line = line_in(tmp_path / "Pulumi.bad.yaml", "namespace: Acme_Dev")
    assert f"  - {tmp_path / 'Pulumi.bad.yaml'}:{line}: acr-pipeline:registry.namespace" in done.stderr


def test_help_prints_the_usage_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.check", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m tools.check [-h] [--stacks-dir STACKS_DIR] [stack]")


def test_without_a_stack_it_takes_dev_or_the_only_stack(tmp_path: Path) -> None:
    assert check.default_stack(FIXTURES) == "dev"
    (tmp_path / "Pulumi.qa.yaml").write_text(DEV.read_text())
    assert check.default_stack(tmp_path) == "qa"
    (tmp_path / "Pulumi.prod.yaml").write_text(DEV.read_text())
    assert check.default_stack(tmp_path) is None
    code, out = run(["--stacks-dir", str(tmp_path)])
    assert (code, out) == (2, "")
