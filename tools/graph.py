"""Mermaid pictures of a synthesized stack, written by `make synth` beside plan.json.

- `resource_graph`: `graph.mmd`, the resources as the engine recorded them, one subgraph per
  component, an edge from each dependency to the resource that waits for it.
- `workflow_graph`: `workflow.mmd`, the committed workflow's jobs, an edge for each `needs:`.

Pure functions of their input, with a stable order, so the same stack always gives the same
bytes and the files can be compared with golden copies. GitHub renders Mermaid natively in
Markdown, so a reviewer can paste either file into a ```mermaid block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tools.mock_engine import Registered

INDENT = "    "
# Words the flowchart grammar reads as keywords wherever a node id may stand.
RESERVED_IDS = frozenset(
    {"end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click", "linkstyle"}
)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")

# One colour per cloud, so the picture says at a glance which side each resource lives on.
PROVIDER_STYLES: dict[str, str] = {
    "alicloud": "fill:#fff2e8,stroke:#ff6a00,color:#1f1f1f",
    "github": "fill:#f6f8fa,stroke:#24292f,color:#1f1f1f",
}


class NodeIds:
    """Hands out Mermaid node ids: readable (derived from the name), unique, and the same
    for the same sequence of requests."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, text: str) -> str:
        base = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "node"
        if base.lower() in RESERVED_IDS:
            base = f"{base}_"
        candidate, n = base, 2
        while candidate in self._taken:
            candidate, n = f"{base}_{n}", n + 1
        self._taken.add(candidate)
        return candidate


def quote(*lines: str) -> str:
    """A quoted Mermaid label, one `<br/>` per line break.

    Characters Mermaid would read as syntax or HTML become its entity codes (`#quot;`, ...),
    so a name can never close the label or inject markup.
    """
    escaped = [
        line.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
        for line in lines
    ]
    return '"' + "<br/>".join(escaped) + '"'


def short_type(token: str) -> str:
    """`alicloud:cs/registryEnterpriseNamespace:RegistryEnterpriseNamespace` ->
    `alicloud.cs.RegistryEnterpriseNamespace`, the name a Python program uses (the README's)."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, name = parts
    module = module.split("/")[0]
    return f"{package}.{name}" if module in ("index", "") else f"{package}.{module}.{name}"


def tree_order(resources: Sequence[Registered]) -> list[Registered]:
    """Depth-first by parent, siblings by (components first, name): the same order on every
    run, whatever order the engine saw the registrations in."""
    urns = {r.urn for r in resources}
    children: dict[str, list[Registered]] = {}
    for r in resources:
        children.setdefault(r.parent if r.parent in urns else "", []).append(r)
    out: list[Registered] = []

    def walk(parent: str) -> None:
        for r in sorted(children.get(parent, []), key=lambda x: (x.custom, x.name)):
            out.append(r)
            walk(r.urn)

    walk("")
    return out


def _component_label(r: Registered) -> str:
    return quote(f"{r.name}: {r.type.rsplit(':', 1)[-1]}")


def resource_graph(resources: Sequence[Registered], title: str = "") -> str:
    """`graph.mmd`: a left-to-right flowchart of the resources, grouped by component.

    Edges come from the recorded dependencies (explicit `depends_on` and inputs taken from
    another resource's outputs), pointing from what must exist first to what waits for it,
    so the longest path is the order `pulumi up` creates things in.
    """
    ordered = tree_order(resources)
    by_urn = {r.urn: r for r in ordered}
    ids = NodeIds()
    node = {r.urn: ids.take(r.name) for r in ordered}
    children: dict[str, list[Registered]] = {}
    for r in ordered:
        children.setdefault(r.parent if r.parent in by_urn else "", []).append(r)

    lines = [f"%% {title}"] if title else []
    lines.append("flowchart LR")

    def emit(r: Registered, depth: int) -> None:
        pad = INDENT * depth
        if r.custom:
            lines.append(f"{pad}{node[r.urn]}[{quote(r.name, short_type(r.type))}]")
            inner = depth  # a custom resource's own children sit beside it
        else:
            lines.append(f"{pad}subgraph {node[r.urn]}[{_component_label(r)}]")
            inner = depth + 1
        for child in children.get(r.urn, []):
            emit(child, inner)
        if not r.custom:
            lines.append(f"{pad}end")

    for root in children.get("", []):
        emit(root, 1)

    edges: list[str] = []
    for r in ordered:
        # A dependency outside the recorded set (the Stack, a provider) is not drawn.
        deps = sorted({node[d] for d in r.dependencies if d in node and d != r.urn})
        edges += [f"{INDENT}{dep} --> {node[r.urn]}" for dep in deps]
    lines += edges

    by_provider: dict[str, list[str]] = {}
    for r in ordered:
        provider = r.type.split(":", 1)[0]
        if r.custom and provider in PROVIDER_STYLES:
            by_provider.setdefault(provider, []).append(node[r.urn])
    for provider, members in sorted(by_provider.items()):
        lines.append(f"{INDENT}classDef {provider}Resource {PROVIDER_STYLES[provider]}")
        lines.append(f"{INDENT}class {','.join(members)} {provider}Resource")
    return "\n".join(lines) + "\n"


def _load(workflow_yaml: str) -> dict[Any, Any]:
    # YAML 1.2 (ruamel's safe loader): `on` stays the string "on", not the boolean true.
    data = YAML(typ="safe").load(workflow_yaml)
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise ValueError("not a GitHub Actions workflow: no 'jobs' mapping")
    return data


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def trigger_lines(on: Any) -> list[str]:
    """One line per event of a workflow's `on:`, with its branch and tag filters."""
    if isinstance(on, str):
        return [on]
    if isinstance(on, list):
        return [str(event) for event in on]
    if not isinstance(on, Mapping):
        return []
    lines = []
    for event, spec in on.items():
        filters = []
        if isinstance(spec, Mapping):
            for key in ("branches", "tags", "paths"):
                if spec.get(key):
                    filters.append(f"{key} {', '.join(_as_list(spec[key]))}")
        lines.append(f"{event}: {'; '.join(filters)}" if filters else str(event))
    return lines


def workflow_graph(workflow_yaml: str, title: str = "") -> str:
    """`workflow.mmd`: the workflow's triggers and jobs, an edge from each job to the jobs
    that list it in `needs:`; jobs that need nothing start from the trigger."""
    data = _load(workflow_yaml)
    on = data.get("on", data.get(True))  # a YAML 1.1 loader would have made `on` a boolean
    jobs: dict[str, Any] = {str(k): v or {} for k, v in data["jobs"].items()}

    ids = NodeIds()
    trigger = ids.take("trigger")
    node = {job_id: ids.take(job_id) for job_id in jobs}

    lines = [f"%% {title}"] if title else []
    lines.append("flowchart LR")
    lines.append(f"{INDENT}{trigger}([{quote(*(trigger_lines(on) or ['trigger']))}])")
    for job_id, job in jobs.items():
        # A matrix job's name reads its entry: `${{ matrix.key }}` is shown as `<key>`.
        label = [re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", r"<\1>", str(job.get("name", job_id)))]
        if (job.get("strategy") or {}).get("matrix"):
            label.append(f"{job_id}: a job per entry of its matrix")
        elif job.get("name"):
            label.append(job_id)
        if job.get("environment"):
            env = job["environment"]
            label.append(f"environment: {env.get('name') if isinstance(env, Mapping) else env}")
        lines.append(f"{INDENT}{node[job_id]}[{quote(*label)}]")
    for job_id, job in jobs.items():
        needs = _as_list(job.get("needs"))
        unknown = [n for n in needs if n not in node]
        if unknown:
            raise ValueError(f"job {job_id!r} needs unknown job(s) {unknown}")
        sources = [node[n] for n in needs] or [trigger]
        lines += [f"{INDENT}{source} --> {node[job_id]}" for source in sources]
    return "\n".join(lines) + "\n"


def imports(root: Path) -> dict[str, set[str]]:
    """Who imports whom in the program: `__main__` and each module of components/ (the renderer
    as one, `workflow_render`), from their import statements, those under TYPE_CHECKING too."""
    import ast

    def node(module: str) -> str | None:
        parts = module.split(".")
        if parts[0] != "components" or len(parts) < 2:
            return None
        return parts[1]

    graph: dict[str, set[str]] = {}
    files = [root / "__main__.py", *sorted((root / "components").rglob("*.py"))]
    for path in files:
        if path.name == "__init__.py" and path.parent.name == "components":
            continue
        relative = path.relative_to(root).with_suffix("")
        me = "__main__" if relative.parts == ("__main__",) else relative.parts[1]
        found = graph.setdefault(me, set())
        for statement in ast.walk(ast.parse(path.read_text())):
            if isinstance(statement, ast.ImportFrom) and statement.module:
                names = [statement.module] + [f"{statement.module}.{a.name}" for a in statement.names]
            elif isinstance(statement, ast.Import):
                names = [a.name for a in statement.names]
            else:
                continue
            found.update(n for name in names if (n := node(name)) and n != me)
    return graph


def import_graph(root: Path) -> str:
    """A Mermaid flowchart of `imports`: an arrow from each module to each it imports."""
    graph = imports(root)
    ids = NodeIds()
    node = {name: ids.take(name) for name in sorted(graph)}
    lines = ["%% acr-pipeline: who imports whom in the program (tools/graph.py imports)", "flowchart TD"]
    lines += [f"{INDENT}{node[name]}[{quote(name)}]" for name in sorted(graph)]
    for name in sorted(graph):
        lines += [f"{INDENT}{node[name]} --> {node[other]}" for other in sorted(graph[name]) if other in node]
    return "\n".join(lines) + "\n"
