"""`make synth [STACK=dev|all]`: the real program, offline, on the mock engine.

Reads `stacks/Pulumi.<stack>.yaml`, stands in a placeholder for every `secure:` value, runs
`__main__.py` on the in-process mock engine, and prints the plan the way `pulumi preview`
does: a tree under the stack, one `+` line per resource with its key inputs below (secrets
as `[secret]`), then `Resources: + N to create`. Writes `build/synth/<stack>/plan.json`,
`graph.mmd` (resources and dependencies) and `workflow.mmd` (the workflow's jobs), plus
every file the stack would commit, at its path in the repository. `all` does every stack
and ends with a summary table. A bad configuration exits 2 with the problems and no stack
trace. Colours only on a terminal, never under NO_COLOR; `--color`/`--no-color` override.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.adoption import LOGIN_SECRETS, ImportIds
from components.config import ConfigError, parse
from components.preflight import checks
from components.settings import Settings
from components.stackfile import (
    STACKS_DIR,
    StackFileError,
    describe,
    line_of,
    shown,
    stack_config,
    stack_names,
    stack_path,
)
from tools.graph import resource_graph, tree_order, workflow_graph
from tools.mock_engine import (
    PROJECT,
    REVIEWER_LOOKUPS,
    ROOT_DIR,
    Hidden,
    Registered,
    Run,
    fake_id,
    run_program,
)
from tools.tokens import FILE

BUILD_DIR = ROOT_DIR / "build" / "synth"
STACK_TYPE = "pulumi:pulumi:Stack"
SECRET = "[secret]"  # noqa: S105 - the placeholder shown instead of a secret
ALL = "all"
WIDTH = 110  # where long dependency lists wrap, as the code does


def _public(value: Any, looked_up: Mapping[int, str]) -> Any:
    if isinstance(value, Hidden):
        return SECRET
    if isinstance(value, dict):
        return {k: _public(v, looked_up) for k, v in value.items()}
    if isinstance(value, list):
        return [_public(v, looked_up) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) in looked_up:
        return looked_up[int(value)]
    return value


def looked_up_ids(run: Run) -> dict[int, str]:
    """The stand-in ids the offline engine answered lookups with, and what to show instead."""
    kinds = {"username": "user", "slug": "team"}
    return {
        fake_id(str(args[key])): f"<id of {kinds[key]} {args[key]!r}, looked up at deploy>"
        for token, args in run.calls
        if (key := REVIEWER_LOOKUPS.get(token))
    }


def plan(run: Run) -> dict[str, Any]:
    """The plan as plain data: resources in a stable order, secrets as `[secret]`, looked-up
    values as placeholders."""
    names = {r.urn: r.name for r in run.resources}
    looked_up = looked_up_ids(run)
    resources = []
    for r in ordered(run.resources):
        inputs = {k: _public(v, looked_up) for k, v in sorted(r.inputs.items())}
        if r.type == FILE:
            inputs["content"] = f"<{len(str(r.plain('content')).splitlines())} lines: see {r.plain('file')}>"
        resources.append(
            {
                "type": r.type,
                "name": r.name,
                "parent": names.get(r.parent),
                "custom": r.custom,
                "inputs": inputs,
                "dependsOn": sorted(names.get(d, d) for d in r.dependencies),
                "deleteBeforeReplace": r.delete_before_replace,
                "retainOnDelete": r.retain_on_delete,
            }
        )
    return {"resources": resources, "outputs": _public(run.outputs, looked_up), "warnings": run.warnings}


def ordered(resources: list[Registered]) -> list[Registered]:
    """Depth-first by parent, siblings by name: the same order on every run (the graph's too)."""
    return tree_order(resources)


# --- colours -------------------------------------------------------------------------------


def use_color(flag: bool | None, isatty: bool, environ: Mapping[str, str]) -> bool:
    """`--color`/`--no-color` win; otherwise colour only a terminal, and never under NO_COLOR
    (https://no-color.org: any non-empty value) or TERM=dumb."""
    if flag is not None:
        return flag
    return isatty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


_CODES = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}


@dataclass(frozen=True)
class Paint:
    """ANSI styling that is a no-op when colours are off, so one renderer serves both."""

    on: bool = False

    def __call__(self, text: str, *styles: str) -> str:
        if not self.on or not styles or not text:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


# --- the plan, as pulumi preview shows it ---------------------------------------------------


def _scalar(value: Any) -> str:
    if value == SECRET:
        return SECRET
    if isinstance(value, float) and value.is_integer():
        # Numbers cross the engine as protobuf doubles; 50, not 50.0, is what was configured.
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def pretty(value: Any, indent: str = "") -> list[str]:
    """A value the way `pulumi preview --diff` prints it: strings quoted, maps with aligned
    keys, lists with `[i]:` indices, one item a line. The first line has no indent (it
    follows `key: `); nested lines start with `indent`. A JSON document in a string (a RAM
    policy) is shown as the data it holds, as `pulumi preview` does."""
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, dict) and value:
        width = max(len(str(k)) for k in value)
        lines = ["{"]
        for key, item in sorted(value.items()):
            first, *rest = pretty(item, indent + "    ")
            lines.append(f"{indent}    {str(key).ljust(width)}: {first}")
            lines += rest
        return [*lines, f"{indent}}}"]
    if isinstance(value, list) and value:
        lines = ["["]
        for i, item in enumerate(value):
            first, *rest = pretty(item, indent + "    ")
            lines.append(f"{indent}    [{i}]: {first}")
            lines += rest
        return [*lines, f"{indent}]"]
    return [_scalar(value)]


def _input_lines(res: Mapping[str, Any], indent: str, paint: Paint) -> list[str]:
    inputs: Mapping[str, Any] = res["inputs"]
    if not inputs:
        return []
    width = max(len(k) for k in inputs)
    out = []
    for key, value in inputs.items():
        # The workflow itself is written beside plan.json; here, only its size.
        summarized = res["type"] == FILE and key == "content"
        first, *rest = [str(value)] if summarized else pretty(value, indent)
        out.append(paint(f"{indent}{key.ljust(width)}: ", "dim") + _paint_value(first, paint))
        out += [paint(line, "dim") for line in rest]
    if res["dependsOn"]:
        # What this resource waits for: the order `pulumi up` will create things in.
        wrapped = textwrap.wrap(
            ", ".join(res["dependsOn"]),
            width=max(40, WIDTH - len(indent)),
            initial_indent="(after: ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        )
        wrapped[-1] += ")"
        out += [paint(indent + line, "dim") for line in wrapped]
    return out


def _paint_value(text: str, paint: Paint) -> str:
    return paint(text, "yellow") if text == SECRET else paint(text, "dim")


def render_plan(stack: str, data: Mapping[str, Any], color: bool = False) -> str:
    """The plan as text: header, resource tree, diagnostics, outputs, resource count."""
    paint = Paint(color)
    resources: list[Mapping[str, Any]] = data["resources"]
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for res in resources:
        children.setdefault(res["parent"], []).append(res)

    # Rows first (prefix, type, name, input lines), so the name column can be aligned.
    rows: list[tuple[str, str, str, list[str]]] = [("", STACK_TYPE, f"{PROJECT}-{stack}", [])]

    def walk(parent: str | None, prefix: str) -> None:
        siblings = children.get(parent, [])
        for i, res in enumerate(siblings):
            last = i == len(siblings) - 1
            below = prefix + ("   " if last else "│  ")
            rows.append(
                (
                    prefix + ("└─ " if last else "├─ "),
                    res["type"],
                    res["name"],
                    _input_lines(res, below + "    ", paint),
                )
            )
            walk(res["name"], below)

    walk(None, "")
    type_width = max(len(p) + len(t) for p, t, _, _ in rows) + 2

    lines = [
        paint(f"Previewing {PROJECT}/{stack}", "bold")
        + paint(" (offline synth on the mock engine: nothing is created)", "dim"),
        "",
    ]
    # Warnings first, where they are seen: each at the line of the stack file it is about.
    lines += [f"{paint('warning:', 'yellow')} {w}" for w in data["warnings"]]
    lines += [""] if data["warnings"] else []
    lines.append(paint(f"     {'Type'.ljust(type_width)}Name", "bold"))
    for prefix, type_, name, details in rows:
        lines.append(
            f" {paint('+', 'green')}   {paint(prefix, 'dim')}{type_.ljust(type_width - len(prefix))}"
            + paint(name, "bold")
        )
        lines += ["     " + line for line in details]

    if data.get("adoption"):
        lines += [
            "",
            paint("Adoption (adopt: true):", "bold"),
            "    Offline, nothing is looked up, so the plan above creates everything. The real",
            "    `pulumi preview` imports each of these that already exists (and shows what changes):",
        ]
        width = max(len(c["what"]) for c in data["adoption"])
        mark = paint("=", "green")
        lines += [f"    {mark} {c['what'].ljust(width)}  {c['importId']}" for c in data["adoption"]]
        lines += [f"    {note}" for note in data.get("adoptionNotes", [])]

    if data.get("preflight"):
        lines += [
            "",
            paint("Preflight:", "bold"),
            "    Offline, nothing was checked (the lookups answered what the stack describes). The real",
            "    `pulumi preview` and `up` check, with one tree and one instance lookup, before anything:",
        ]
        lines += [f"    - {check}" for check in data["preflight"]]

    outputs: Mapping[str, Any] = data["outputs"]
    if outputs:
        lines += ["", paint("Outputs:", "bold")]
        width = max(len(k) for k in outputs)
        for key, value in sorted(outputs.items()):
            first, *rest = pretty(value, "    ")
            lines.append(f"    {key.ljust(width)}: {first}")
            lines += rest

    custom = sum(1 for r in resources if r["custom"])
    lines += ["", paint("Resources:", "bold"), paint(f"    + {custom} to create", "green")]
    return "\n".join(lines) + "\n"


# --- one stack, and the summary of all ------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One row of `make synth STACK=all`'s table."""

    stack: str
    endpoint: str
    images: str
    scope: str
    workflow: str
    resources: int


@dataclass(frozen=True)
class Synthesis:
    stack: str
    plan: dict[str, Any]
    target: Path
    written: list[str]
    """What was written under `target`, relative to it, in the order written."""
    summary: Summary


def summarize(stack: str, data: Mapping[str, Any], owner: str) -> Summary:
    """The table row, from the plan itself: what the program exported and registered."""
    outputs: Mapping[str, Any] = data["outputs"]
    settings = [r for r in data["resources"] if "variableName" in r["inputs"] or "secretName" in r["inputs"]]
    repository = next((str(r["inputs"]["repository"]) for r in settings if "repository" in r["inputs"]), "?")
    environments = sorted({str(r["inputs"]["environment"]) for r in settings if "environment" in r["inputs"]})
    scope = f"{owner}/{repository}" + "".join(f" env:{e}" for e in environments)
    return Summary(
        stack=stack,
        endpoint=str(outputs.get("registryEndpoint", "")),
        images=", ".join(outputs.get("images") or {}),
        scope=scope,
        workflow=str(outputs.get("workflowPath", "")),
        resources=sum(1 for r in data["resources"] if r["custom"]),
    )


def adoption_notes(s: Settings) -> list[str]:
    """What the real preview decides from what it finds, beside the import list."""
    notes = []
    if not s.workflow.name and not s.workflow.via_pull_request:
        notes.append(
            f"workflow name: kept from the existing file at deploy (offline, none: 'build-push ({s.stack})')"
        )
    if s.auth.mode == "oidc":
        repo = f"{s.owner}/{s.github.repository}"
        scopes = ["", *([f" --env {s.github.environment}"] if s.github.environment else [])]
        notes.append(
            "login secrets a password pipeline left (looked up at deploy; a warning names each found): "
            "nothing reads them with OIDC, but they work until deleted, and so does the RAM user's password:"
        )
        notes += [f"    gh secret delete {name} -R {repo}{env}" for env in scopes for name in LOGIN_SECRETS]
    return notes


def _workflow_file(run: Run) -> Registered | None:
    files = run.of_type(FILE)
    wanted = run.outputs.get("workflowPath")
    return next((f for f in files if f.plain("file") == wanted), files[0] if files else None)


def synthesize(stack: str, out_dir: Path = BUILD_DIR, stacks_dir: Path = STACKS_DIR) -> Synthesis:
    """Run one stack and write its plan, pictures and committed files under `out_dir/stack`."""
    values, secrets = stack_config(stack, stacks_dir)
    run = run_program(values, secrets, stack=stack)
    data = plan(run)
    settings = parse(values, secrets, stack)
    # A warning about a key points at the line that sets it.
    path = stack_path(stack, stacks_dir)
    at = {message: line_of(path, key) for key, message in settings.warnings}
    data["warnings"] = [f"{shown(path)}:{at[w]}: {w}" if at.get(w) else w for w in run.warnings]
    data["preflight"] = checks(settings)
    if settings.adopt:
        # Offline, nothing exists: the plan creates everything. What `adopt` would import instead:
        data["adoption"] = [{"what": what, "importId": i} for what, i in ImportIds(settings).candidates()]
        data["adoptionNotes"] = adoption_notes(settings)
    target = out_dir / stack
    target.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {
        "plan.json": json.dumps(data, indent=2, sort_keys=False) + "\n",
        "graph.mmd": resource_graph(
            run.resources, f"{PROJECT}/{stack}: resources, grouped by component; A --> B: B waits for A"
        ),
    }
    workflow = _workflow_file(run)
    if workflow is not None:
        written["workflow.mmd"] = workflow_graph(
            str(workflow.plain("content")), f"{PROJECT}/{stack}: the jobs of {workflow.plain('file')}"
        )
    for r in sorted(run.of_type(FILE), key=lambda r: str(r.plain("file"))):
        written[str(r.plain("file"))] = str(r.plain("content"))
    for name, text in written.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    summary = summarize(stack, data, values.get("github:owner", "?"))
    return Synthesis(stack, data, target, list(written), summary)


def synth(stack: str, out_dir: Path = BUILD_DIR, stacks_dir: Path = STACKS_DIR) -> tuple[str, Path]:
    """The plan as plain text, and where it was written."""
    result = synthesize(stack, out_dir, stacks_dir)
    return render_plan(stack, result.plan), result.target


def render_summary(rows: Sequence[Summary | tuple[str, str]], color: bool = False) -> str:
    """The `STACK=all` table; a `(stack, problem)` row stands for a stack that failed."""
    paint = Paint(color)
    header = ("Stack", "Registry endpoint", "Images", "GitHub scope", "Workflow", "Resources")
    cells: list[tuple[str, ...]] = [header]
    for row in rows:
        if isinstance(row, Summary):
            cells.append((row.stack, row.endpoint, row.images, row.scope, row.workflow, str(row.resources)))
        else:
            cells.append((row[0], f"error: {row[1]}"))
    # A failed row's message may run past its column; it does not widen the table.
    widths = [max(len(c[i]) for c in cells if len(c) == len(header)) for i in range(len(header))]
    lines = [paint(f"Stacks ({len(rows)}):", "bold")]
    for n, row_cells in enumerate(cells):
        # The count is a number: right-aligned under its header.
        text = "  ".join(
            cell.rjust(widths[i]) if i == len(header) - 1 else cell.ljust(widths[i])
            for i, cell in enumerate(row_cells)
        ).rstrip()
        if n == 0:
            text = paint(text, "bold")
        elif len(row_cells) != len(header):
            text = paint(text, "red")
        lines.append("    " + text)
    return "\n".join(lines) + "\n"


def _written_line(result: Synthesis) -> str:
    return f"Wrote {shown(result.target)}/: {', '.join(result.written)}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "stack",
        nargs="?",
        help=f"stack name (stacks/Pulumi.<stack>.yaml), or '{ALL}'; default: dev if there is one, else all",
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where the stack files are")
    parser.add_argument("--out-dir", type=Path, default=BUILD_DIR, help="where plans and files go")
    parser.add_argument(
        "--color",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="colour the plan (default: only on a terminal, and not under NO_COLOR)",
    )
    args = parser.parse_args(argv)
    color = use_color(args.color, sys.stdout.isatty(), os.environ)
    known = stack_names(args.stacks_dir)
    args.stack = args.stack or ("dev" if "dev" in known else ALL)
    stacks = known if args.stack == ALL else [args.stack]
    if not stacks:
        print(f"error: no stack files (Pulumi.<stack>.yaml) in {shown(args.stacks_dir)}", file=sys.stderr)
        return 2

    rows: list[Summary | tuple[str, str]] = []
    for stack in stacks:
        try:
            result = synthesize(stack, args.out_dir, args.stacks_dir)
        except (ConfigError, StackFileError) as err:
            # A user's mistake: the message names the key, value and rule; no stack trace.
            print(f"error: {describe(err, stack, args.stacks_dir)}", file=sys.stderr)
            what = "invalid configuration" if isinstance(err, ConfigError) else "stack file unusable"
            rows.append((stack, f"{what} (see the messages above)"))
            continue
        if any(isinstance(row, Summary) for row in rows):
            sys.stdout.write("\n")
        sys.stdout.write(render_plan(stack, result.plan, color))
        sys.stdout.write("\n" + _written_line(result))
        rows.append(result.summary)
    if args.stack == ALL:
        sys.stdout.write("\n" + render_summary(rows, color))
    sys.stdout.flush()
    return 2 if any(not isinstance(row, Summary) for row in rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `make synth | head`: the reader left; say nothing more (Python's documented idiom).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
