"""`make check STACK=<stack>`: one stack, checked in seconds: its configuration, then the files
it commits under actionlint (with shellcheck), zizmor and GitHub's workflow schema.

Reads `stacks/Pulumi.<stack>.yaml` as `make synth` does (without STACK: dev, or the only stack;
a mistake in it is printed at its line, no stack trace), renders the workflow files the stack
commits into a temporary directory at their repository paths (`.github/workflows/...`) and runs
each checker once over them; nothing is deployed, nothing is written here.

A finding on a rendered line that holds a value written in the stack file (an image's name,
context or path, a build argument, a label, a tag pattern, the branch, the environment, ...:
of those on the line, the longest) is the stack's to fix. It is printed at the line of that
value, with the setting and then the rendered place:

    stacks/Pulumi.dev.yaml:19: acr-pipeline:images[1].context: actionlint: ...
      in .github/workflows/build-push.yml:35:9, rendered from 'services/worker'

Any other finding is about the generated file itself and printed at its place in it
(`.github/workflows/build-push.yml:40:9: zizmor: ...`): a bug of acr-pipeline to report, not
the stack's to fix. Exit codes: 0 no findings; 1 findings, or a mistake in the stack file;
2 no stack to choose, or a checker not installed (`make install`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from components.config import ConfigError, parse
from components.settings import Settings
from components.stackfile import (
    STACKS_DIR,
    StackFileError,
    describe,
    line_in,
    read,
    shown,
    stack_config,
    stack_names,
    stack_path,
)
from components.workflow_render import committed_files
from tools.lint_workflows import Finding, MissingToolError, findings

CHECKED = "actionlint+shellcheck, zizmor, schema"
GENERATED = (
    "in the generated file, caused by no setting of the stack: a bug of acr-pipeline to report, "
    "not yours to fix"
)
LONGEST = 400
"""A message longer than this is cut in its middle: the schema's quote the whole job it refuses
(its best matches, below, say where)."""
SHORTEST = 2
"""A value shorter than this (`1`, `x`) is on too many lines to say it caused a finding."""


def default_stack(stacks_dir: Path = STACKS_DIR) -> str | None:
    """The stack a tool takes when none is named, as `make synth` does: dev, or the only stack;
    None when that names none."""
    names = stack_names(stacks_dir)
    return "dev" if "dev" in names else names[0] if len(names) == 1 else None


# --- the values a stack file holds ------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """A value written in a stack file, and the key that holds it (`acr-pipeline:images[1].context`;
    for a key of a map of the user's own, as build arguments', that key itself)."""

    key: str
    text: str


def _model_keys() -> set[str]:
    """Every key the settings model names, at any depth: a map key that is none of these (a build
    argument's, a label's, a platform's) is the user's own."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(Settings.model_json_schema(by_alias=True))
    return names


def written(path: Path) -> list[Written]:
    """The values the stack file holds under `config:`, longest first (in the file's order among
    equals); never a `secure:` value, nor a bare true or false."""
    known = _model_keys()
    out: list[Written] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            if "secure" in node:
                return  # a secret: never looked for, never shown
            for name, value in node.items():
                inner = f"{key}.{name}" if key else str(name)
                if key and str(name) not in known:
                    out.append(Written(inner, str(name)))
                walk(value, inner)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{key}[{index}]")
        elif isinstance(node, (str, int, float)) and not isinstance(node, bool) and key:
            out.append(Written(key, str(node)))

    walk(read(path).get("config") or {}, "")
    return sorted((w for w in out if len(w.text) >= SHORTEST), key=lambda w: -len(w.text))


def _occurs(text: str, line: str) -> bool:
    """Whether the value stands on the line by itself, not as part of a longer word or number:
    as written, or as YAML's single quotes or JSON (the jobs' tables) escape it."""
    edge = r"[\w.]" if re.fullmatch(r"[\d.]+", text) else r"\w"
    forms = {text, text.replace("'", "''"), json.dumps(text)[1:-1]}
    return any(re.search(rf"(?<!{edge}){re.escape(form)}(?!{edge})", line) for form in forms)


def cause(line: str, values: list[Written]) -> Written | None:
    """The value of the stack file that a rendered line holds: the longest (`values` is longest
    first), so that `services/worker/Dockerfile` names the context, not the image `worker`."""
    return next((w for w in values if _occurs(w.text, line)), None)


# --- the checked files ------------------------------------------------------------------------


def _line_at(text: str, pointer: str) -> int | None:
    """The line of the rendered file that check-jsonschema's `$.jobs['build'].steps[2]` points
    at (the deepest part of it the file holds); the schema's findings have no line of their own."""
    node: Any = YAML(typ="rt").load(text)
    line = None
    for name, quoted, index in re.findall(r"\.([^.\[]+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]", pointer):
        step: str | int = int(index) if index else quoted or name
        try:
            place = node.lc.item(step) if isinstance(step, int) else node.lc.key(step)
            line, node = place[0] + 1, node[step]
        except (AttributeError, KeyError, IndexError, TypeError):
            break
    return line


def _in_repository(path: str | None, root: Path) -> str | None:
    """A checked file's path in the repository (`.github/workflows/build-push.yml`)."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # not one of ours: as the checker named it
        return path


@dataclass(frozen=True)
class Reported:
    """One finding, placed: in the rendered file (its repository path), and in the stack file
    when a value written there is on the finding's line."""

    finding: Finding
    file: str | None
    """The rendered file's path in the repository; None: the checker failed."""
    line: int | None
    """The finding's line in the rendered file."""
    cause: Written | None = None
    stack_line: int | None = None
    """The line of `cause` in the stack file."""

    def rendered(self) -> str:
        column = f":{self.finding.column}" if self.finding.column is not None else ""
        return f"{self.file}:{self.line}{column}" if self.line is not None else str(self.file)

    def shown(self, stack_file: str) -> str:
        head, _, rest = self.finding.text.partition("\n")
        if len(head) > LONGEST:
            head = f"{head[: LONGEST // 2]} [...] {head[-LONGEST // 4 :]}"
        detail = (
            "".join(f"\n  {line}" if line else "\n" for line in rest.rstrip("\n").split("\n")) if rest else ""
        )
        said = f"{self.finding.checker}: {head}"
        if self.file is None:
            return f"{said}{detail}"
        if self.cause is None:
            return f"{self.rendered()}: {said}{detail}\n  ({GENERATED})"
        at = f"{stack_file}:{self.stack_line}" if self.stack_line else stack_file
        where = f"\n  in {self.rendered()}, rendered from {self.cause.text!r}"
        return f"{at}: {self.cause.key}: {said}{where}{detail}"


@dataclass(frozen=True)
class Report:
    stack: str
    stack_file: Path
    files: list[str]
    reported: list[Reported]
    seconds: float

    def text(self) -> str:
        caused = [r for r in self.reported if r.cause is not None]
        rest = [r for r in self.reported if r.cause is None]
        # The stack's own first, in the file's order; then the generated files', as found.
        ordered = sorted(caused, key=lambda r: r.stack_line or 0) + rest
        lines = [r.shown(shown(self.stack_file)) for r in ordered]
        files = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        took = f"in {self.seconds:.1f}s"
        if not ordered:
            return f"stack {self.stack}: {files}, no findings ({CHECKED}) {took}\n"
        count = f"{len(ordered)} finding{'s' if len(ordered) != 1 else ''}"
        split = f"{len(caused)} from its settings, {len(rest)} in the generated files"
        return "\n".join([*lines, f"stack {self.stack}: {files}, {count} ({split}; {CHECKED}) {took}"]) + "\n"


Render = Callable[[Settings], Mapping[str, str]]


def check(stack: str, stacks_dir: Path = STACKS_DIR, files: Render | None = None) -> Report:
    """Check one stack: parse its config (ConfigError, StackFileError: the user's mistake), render
    `files` (by default what it commits) into a temporary directory and run the checkers once."""
    start = time.monotonic()
    settings = parse(*stack_config(stack, stacks_dir), stack)
    path = stack_path(stack, stacks_dir)
    texts = dict((files or committed_files)(settings))
    with tempfile.TemporaryDirectory(prefix="acr-pipeline-check-") as tmp:
        root = Path(tmp)
        for name, text in texts.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        found = findings(root)
        values = written(path)
        config = read(path).get("config")
        reported = []
        for finding in found:
            file = _in_repository(finding.path, root)
            line = finding.line
            if line is None and finding.pointer and file in texts:
                line = _line_at(texts[file], finding.pointer)
            lines = texts[file].splitlines() if file in texts else []
            why = cause(lines[line - 1], values) if line and 0 < line <= len(lines) else None
            at = line_in(config, why.key) if why else None
            # A checker that names the file by its temporary path (zizmor's warnings) names it as here.
            text = finding.text.replace(f"{root.resolve()}/", "").replace(f"{root}/", "")
            reported.append(Reported(replace(finding, text=text), file, line, why, at))
    return Report(stack, path, sorted(texts), reported, time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check",
        description="One stack's config, then the files it commits under actionlint (with shellcheck), "
        "zizmor and GitHub's workflow schema; each finding at the stack file's line that caused it.",
        epilog="Exit codes: 0 no findings; 1 findings, or a mistake in the stack file; 2 no stack to "
        "choose, or a checker not installed (make install).",
    )
    parser.add_argument(
        "stack", nargs="?", help="stack name (stacks/Pulumi.<stack>.yaml); default: dev, or the only stack"
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where the stack files are")
    args = parser.parse_args(argv)
    stack = args.stack or default_stack(args.stacks_dir)
    if stack is None:
        listed = ", ".join(stack_names(args.stacks_dir)) or f"none in {shown(args.stacks_dir)}"
        print(f"error: name the stack to check: make check STACK=<stack> (stacks: {listed})", file=sys.stderr)
        return 2
    try:
        report = check(stack, args.stacks_dir)
    except (ConfigError, StackFileError) as err:
        # A user's mistake: the same message as `make synth`, at its line; no stack trace.
        print(f"error: {describe(err, stack, args.stacks_dir)}", file=sys.stderr)
        return 1
    except MissingToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(report.text())
    return 1 if report.reported else 0


if __name__ == "__main__":
    sys.exit(main())
