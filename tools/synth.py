"""`make synth [STACK=dev]`: the real program, offline, on the mock engine.

Reads `stacks/Pulumi.<stack>.yaml`, stands in a placeholder for every `secure:` value, runs
`__main__.py` on the in-process mock engine, prints the plan (secrets as `[secret]`), and
writes `build/synth/<stack>/plan.json` plus every file the stack would commit, at its path
in the repository. A bad configuration exits 2 with the problems and no stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT_DIR = Path(__file__).resolve().parent.parent
if str(ROOT_DIR) not in sys.path:
    sys.path.insert(0, str(ROOT_DIR))

from components.settings import ConfigError  # noqa: E402
from tools.mock_engine import Hidden, Registered, Run, run_program  # noqa: E402

STACKS_DIR = ROOT_DIR / "stacks"
BUILD_DIR = ROOT_DIR / "build" / "synth"
FILE_TYPE = "github:index/repositoryFile:RepositoryFile"
SECRET = "[secret]"  # noqa: S105 - the placeholder shown instead of a secret


class StackFileError(Exception):
    pass


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT_DIR)) if path.is_relative_to(ROOT_DIR) else str(path)


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> tuple[dict[str, str], set[str]]:
    """A stack file's config as Pulumi hands it to a program: `ns:key` -> string, plus the
    secret keys. Each `secure:` value becomes a placeholder (synth never decrypts)."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(stacks_dir)) or "none"
        raise StackFileError(f"no stack file {_shown(path)} (stacks: {known})")
    data = YAML(typ="safe").load(path.read_text()) or {}
    raw = data.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: 'config' must be a map of keys to values")
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = f"synth-placeholder-for-{key}"
            secrets.add(key)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            values[key] = json.dumps(value)
        else:
            values[key] = str(value)
    return values, secrets


def _public(value: Any) -> Any:
    if isinstance(value, Hidden):
        return SECRET
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def plan(run: Run) -> dict[str, Any]:
    """The plan as plain data: resources in a stable order, secrets as `[secret]`."""
    names = {r.urn: r.name for r in run.resources}
    resources = []
    for r in ordered(run.resources):
        inputs = {k: _public(v) for k, v in sorted(r.inputs.items())}
        if r.type == FILE_TYPE:
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
    return {"resources": resources, "outputs": _public(run.outputs), "warnings": run.warnings}


def ordered(resources: list[Registered]) -> list[Registered]:
    """Depth-first by parent, siblings by name: the same order on every run."""
    children: dict[str, list[Registered]] = {}
    urns = {r.urn for r in resources}
    for r in resources:
        children.setdefault(r.parent if r.parent in urns else "", []).append(r)
    out: list[Registered] = []

    def walk(parent: str) -> None:
        for r in sorted(children.get(parent, []), key=lambda x: (x.custom, x.name)):
            out.append(r)
            walk(r.urn)

    walk("")
    return out


def _format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def render_plan(stack: str, data: Mapping[str, Any]) -> str:
    lines = [f"Stack acr-pipeline/{stack} (offline synth: mock engine, nothing is created)"]
    depth = {None: 0}
    for res in data["resources"]:
        level = depth.get(res["parent"], 0) + 1
        depth[res["name"]] = level
        pad = "    " * level
        lines.append(f"{pad}+ {res['type']}  {res['name']}")
        for key, value in res["inputs"].items():
            lines.append(f"{pad}      {key}: {_format_value(value)}")
        if res["dependsOn"]:
            lines.append(f"{pad}      (after: {', '.join(res['dependsOn'])})")
    custom = sum(1 for r in data["resources"] if r["custom"])
    lines.append("")
    lines.append("Outputs:")
    for key, value in data["outputs"].items():
        lines.append(f"    {key}: {_format_value(value)}")
    for warning in data["warnings"]:
        lines.append(f"warning: {warning}")
    lines.append("")
    lines.append(f"Resources: {custom} to create")
    return "\n".join(lines) + "\n"


def synth(stack: str, out_dir: Path = BUILD_DIR, stacks_dir: Path = STACKS_DIR) -> tuple[str, Path]:
    values, secrets = stack_config(stack, stacks_dir)
    run = run_program(values, secrets, stack=stack)
    data = plan(run)
    target = out_dir / stack
    target.mkdir(parents=True, exist_ok=True)
    (target / "plan.json").write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    for r in run.of_type(FILE_TYPE):
        path = target / str(r.plain("file"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(r.plain("content")))
    return render_plan(stack, data), target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where the stack files are")
    parser.add_argument("--out-dir", type=Path, default=BUILD_DIR, help="where plans and files go")
    args = parser.parse_args(argv)
    try:
        text, target = synth(args.stack, args.out_dir, args.stacks_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    print(f"\nWrote {_shown(target)}/plan.json and the committed files under it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
