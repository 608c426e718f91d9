"""The pieces every job is made of: steps that use an action (pinned from the one table),
steps that run one of the scripts in `scripts/`, jobs, and the YAML emitter.

The scripts are files, so that shellcheck, `bash -n` and the tests read and run them as such;
the renderer only places each one in a `run:` block. Values reach them through `env:`, never
spliced into the script text (a user's value could otherwise inject shell or `${{`).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from components.pins import uses
from components.settings import Settings

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def block(lines: list[str] | tuple[str, ...]) -> str:
    """A multi-line value, emitted as a `|` block."""
    return LiteralScalarString("".join(f"{line}\n" for line in lines))  # type: ignore[no-any-return]


def expression(text: str) -> str:
    return f"${{{{ {text} }}}}"


def var(name: str) -> str:
    return expression(f"vars.{name}")


@cache
def script(name: str) -> str:
    """A script's text as a `run:` block carries it: the file without its `#!` line and its
    header comment (what it does and its In/Out: the step's name and `env:` say it in the
    workflow; the file in components/workflow_render/scripts/ keeps it for its readers)."""
    lines = (SCRIPTS / f"{name}.sh").read_text().splitlines()
    if lines[0].startswith("#!"):
        lines = lines[1:]
    while lines and lines[0].startswith("#") and not lines[0].startswith("# shellcheck"):
        lines = lines[1:]
    if lines[:2] == ["set -euo pipefail", ""]:
        del lines[1]
    return block(lines)


def step(
    name: str,
    action: str,
    mode: str,
    with_: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> CommentedMap:
    """A `uses:` step; `fields` (id, if, ...) go between its name and `uses`."""
    out = CommentedMap(name=name)
    out.update(fields or {})
    ref, comment = uses(action, mode)
    out["uses"] = ref
    out.yaml_add_eol_comment(comment, "uses")
    if with_:
        out["with"] = CommentedMap(with_)
    return out


def run(
    name: str,
    body: str,
    fields: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
) -> CommentedMap:
    """A `run:` step: `body` is a script (`script(...)`) or a line or two of shell."""
    out = CommentedMap(name=name)
    out.update(fields or {})
    if env:
        out["env"] = CommentedMap(env)
    out["run"] = body
    return out


def checkout(mode: str, **with_: Any) -> CommentedMap:
    # No token left in .git/config for later steps to read (zizmor: artipacked).
    return step("Check out", "actions/checkout", mode, {"persist-credentials": False, **with_})


def job(
    settings: Settings,
    name: str,
    timeout: int,
    *,
    needs: list[str] | None = None,
    condition: str | None = None,
    runner: str | None = None,
) -> CommentedMap:
    """A job's head, in the order a reader looks for things: name, needs, if, runner, timeout."""
    out = CommentedMap(name=name)
    if needs:
        out["needs"] = needs[0] if len(needs) == 1 else CommentedSeq(needs)
    if condition:
        out["if"] = expression(condition)
    out["runs-on"] = runner or settings.workflow.runner
    out["timeout-minutes"] = timeout
    return out


def dump(data: Any) -> str:
    yaml = YAML()
    yaml.width = 4096  # never fold long expressions
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
