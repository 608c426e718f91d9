"""Mermaid pictures (`tools/graph.py`): every edge the engine recorded, grouped by component,
valid Mermaid, and the same bytes for the same stack (golden files).

Golden files live in tests/golden/ and follow the stacks; after an intended change rewrite
them with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest` and review the diff.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from components import stackfile
from components.workflow_render import render
from tests import conftest
from tests.conftest import (
    FIXTURES,
    GOLDEN_DIR,
    REGENERATE,
    assert_matches_golden,
    run_for,
    settings_for,
    updating_golden,
)
from tools import graph, synth
from tools.mock_engine import Registered, Run
from tools.tokens import EE_NAMESPACE, EE_REPO, FILE, SECRET, VARIABLE

ROOT = Path(__file__).resolve().parent.parent
STACKS = stackfile.stack_names(FIXTURES)


# --- a structural Mermaid reader, independent of tools/graph.py -------------------------------

SAFE_ID = r"[A-Za-z0-9_]+"
# A label: double-quoted, no raw quote, `<` only in `<br/>`, `#` only as an entity (`#quot;`).
LABEL = r'"(?:[^"<>#]|<br/>|#[A-Za-z0-9]+;)*"'
SHAPES = [(r"\[", r"\]"), (r"\(\[", r"\]\)"), (r"\[\(", r"\)\]"), (r"\[\[", r"\]\]"), (r"\{\{", r"\}\}")]
SHAPE = "|".join(f"{o}{LABEL}{c}" for o, c in SHAPES)
ARROW = rf"(?:-->|-\.->|==>)(?:\|{LABEL}\|)?"
RESERVED = {"end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click"}
LINE_RULES = {
    "comment": re.compile(r"^%%.*$"),
    "subgraph": re.compile(rf"^subgraph ({SAFE_ID})\[({LABEL})\]$"),
    "end": re.compile(r"^end$"),
    "direction": re.compile(r"^direction (?:LR|RL|TB|BT)$"),
    "node": re.compile(rf"^({SAFE_ID})({SHAPE})$"),
    "edge": re.compile(rf"^({SAFE_ID}) {ARROW} ({SAFE_ID})$"),
    "classDef": re.compile(
        rf"^classDef ({SAFE_ID}) ([a-z-]+:[#A-Za-z0-9.%-]+(?:,[a-z-]+:[#A-Za-z0-9.%-]+)*)$"
    ),
    "class": re.compile(rf"^class ({SAFE_ID}(?:,{SAFE_ID})*) ({SAFE_ID})$"),
}


@dataclass
class Flowchart:
    direction: str
    nodes: dict[str, str] = field(default_factory=dict)
    """Node id -> label text (unquoted, entities left as written)."""
    subgraphs: dict[str, list[str]] = field(default_factory=dict)
    """Subgraph id -> ids declared directly inside it."""
    subgraph_labels: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)

    def parent_of(self, node: str) -> str | None:
        return next((s for s, members in self.subgraphs.items() if node in members), None)


def parse_flowchart(text: str) -> Flowchart:
    """Read the flowchart subset that tools/graph.py and the README use, and check what
    Mermaid would otherwise reject or misdraw: unsafe or reserved ids, unquoted labels,
    duplicate declarations, undeclared edge endpoints or class members, unbalanced `end`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    body = [line for line in lines if not line.startswith("%%")]
    assert body, "empty diagram"
    header = re.fullmatch(r"flowchart (LR|RL|TB|TD|BT)", body[0])
    assert header, f"first line must be 'flowchart <direction>', got {body[0]!r}"
    chart = Flowchart(direction=header.group(1))
    open_subgraphs: list[str] = []
    defined_classes: set[str] = set()

    def declare(node_id: str) -> None:
        assert node_id.lower() not in RESERVED, f"id {node_id!r} is a Mermaid keyword"
        assert node_id not in chart.nodes, f"id {node_id!r} declared twice"
        assert node_id not in chart.subgraphs, f"id {node_id!r} declared twice"
        if open_subgraphs:
            chart.subgraphs[open_subgraphs[-1]].append(node_id)

    for number, line in enumerate(body[1:], start=2):
        kind, match = next(
            ((k, m) for k, rule in LINE_RULES.items() if (m := rule.fullmatch(line))), (None, None)
        )
        assert match, f"line {number} is not valid here (or not in the checked subset): {line!r}"
        if kind == "subgraph":
            declare(match.group(1))
            chart.subgraphs[match.group(1)] = []
            chart.subgraph_labels[match.group(1)] = match.group(2)[1:-1]
            open_subgraphs.append(match.group(1))
        elif kind == "end":
            assert open_subgraphs, f"line {number}: 'end' without a subgraph"
            open_subgraphs.pop()
        elif kind == "node":
            declare(match.group(1))
            shape = match.group(2)
            chart.nodes[match.group(1)] = shape[shape.index('"') + 1 : shape.rindex('"')]
        elif kind == "edge":
            chart.edges.append((match.group(1), match.group(2)))
        elif kind == "classDef":
            defined_classes.add(match.group(1))
        elif kind == "class":
            chart.classes.setdefault(match.group(2), []).extend(match.group(1).split(","))
    assert not open_subgraphs, f"subgraph(s) {open_subgraphs} never closed with 'end'"
    declared = set(chart.nodes) | set(chart.subgraphs)
    for start, end in chart.edges:
        assert start in declared, f"edge {start} --> {end}: {start!r} is not a declared node"
        assert end in declared, f"edge {start} --> {end}: {end!r} is not a declared node"
    for name, members in chart.classes.items():
        assert name in defined_classes, f"class {name!r} used but never defined with classDef"
        assert set(members) <= declared, f"class {name!r} names undeclared nodes {set(members) - declared}"
    return chart


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```", markdown, flags=re.S | re.M)


# --- helpers --------------------------------------------------------------------------------


def chart_of(run: Run) -> tuple[Flowchart, dict[str, str]]:
    """The resource graph of a run, parsed, and resource name -> node id."""
    chart = parse_flowchart(graph.resource_graph(run.resources))
    ids = {label.split("<br/>")[0]: node for node, label in chart.nodes.items()}
    return chart, ids


def names_of(run: Run, type_: str) -> list[str]:
    return [r.name for r in run.of_type(type_)]


@pytest.fixture(scope="module")
def two_images() -> Run:
    return run_for(images=[{"name": "api"}, {"name": "worker"}])


# --- the resource graph ---------------------------------------------------------------------


def test_graph_has_an_edge_from_the_namespace_to_every_repository(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    (namespace,) = names_of(two_images, EE_NAMESPACE)
    for repo in names_of(two_images, EE_REPO):
        assert (ids[namespace], ids[repo]) in chart.edges, f"no edge {namespace} --> {repo}"


def test_graph_has_an_edge_from_every_repository_to_the_workflow_file(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    (file,) = names_of(two_images, FILE)
    repos = names_of(two_images, EE_REPO)
    assert len(repos) == 2
    for repo in repos:
        assert (ids[repo], ids[file]) in chart.edges, f"no edge {repo} --> {file}"


def test_graph_has_an_edge_from_every_variable_and_secret_to_the_workflow_file(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    (file,) = names_of(two_images, FILE)
    settings = names_of(two_images, VARIABLE) + names_of(two_images, SECRET)
    assert len(settings) == 5
    for name in settings:
        assert (ids[name], ids[file]) in chart.edges, f"no edge {name} --> {file}"


def test_graph_draws_exactly_the_recorded_dependencies(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    by_urn = {r.urn: r.name for r in two_images.resources}
    recorded = {
        (ids[by_urn[d]], ids[r.name]) for r in two_images.resources for d in r.dependencies if d in by_urn
    }
    assert set(chart.edges) == recorded
    assert len(chart.edges) == len(set(chart.edges)), "an edge is drawn twice"


def test_graph_groups_each_resource_in_its_component_subgraph(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    components = {r.urn: r.name for r in two_images.resources if not r.custom}
    assert {chart.subgraph_labels[s].split(":")[0] for s in chart.subgraphs} == {
        "registry",
        "github",
        "workflow",
    }
    for r in two_images.custom():
        parent = chart.parent_of(ids[r.name])
        assert parent is not None, f"{r.name} is outside every subgraph"
        assert chart.subgraph_labels[parent].startswith(f"{components[r.parent]}:"), (
            f"{r.name} drawn in {parent}, but its component is {components[r.parent]}"
        )


def test_graph_labels_name_the_resource_and_its_type(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    repo = two_images.named("registry-repo-api")
    assert chart.nodes[ids[repo.name]] == "registry-repo-api<br/>alicloud.cs.RegistryEnterpriseRepo"
    assert chart.nodes[ids["workflow-file"]] == "workflow-file<br/>github.RepositoryFile"


def test_graph_colours_alibaba_cloud_and_github_resources_apart(two_images: Run) -> None:
    chart, ids = chart_of(two_images)
    assert ids["registry-namespace"] in chart.classes["alicloudResource"]
    assert ids["workflow-file"] in chart.classes["githubResource"]
    assert not set(chart.classes["alicloudResource"]) & set(chart.classes["githubResource"])


def test_graph_is_the_same_whatever_order_resources_were_registered_in(two_images: Run) -> None:
    shuffled = list(two_images.resources)
    random.Random(8).shuffle(shuffled)  # noqa: S311 - a fixed, reproducible order, not a secret
    assert graph.resource_graph(shuffled) == graph.resource_graph(two_images.resources)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"registry": {"edition": "personal", "instanceId": None, "instanceName": None}}, id="personal"
        ),
        pytest.param(
            {"registry": {"edition": "external", "endpoint": "registry.example.com"}}, id="external"
        ),
        pytest.param({"registry": {"createNamespace": False}}, id="adopted-namespace"),
        pytest.param(
            {
                "github": {
                    "environment": "production",
                    "reviewers": {"users": [42, "alice"], "teams": ["ops"]},
                    "deploymentBranches": ["main", "release/*"],
                    "deploymentTags": ["v*"],
                }
            },
            id="environment-with-policies",
        ),
        pytest.param({"workflow": {"viaPullRequest": True}}, id="pull-request"),
        pytest.param(
            {
                "registry": {
                    "publicAccess": [{"cidr": "203.0.113.0/24", "comment": "office"}],
                    "retention": {"keepLastTags": 5},
                    "scan": {},
                }
            },
            id="registry-rules",
        ),
    ],
)
def test_graph_of_every_configuration_shape_is_valid_mermaid(overrides: dict[str, Any]) -> None:
    run = run_for(**overrides)
    chart = parse_flowchart(graph.resource_graph(run.resources, "title"))
    assert len(chart.nodes) == len(run.custom()), "every custom resource is one node"
    assert len(chart.subgraphs) == len(run.resources) - len(run.custom()), "every component is a subgraph"


def test_node_ids_stay_unique_when_names_differ_only_in_punctuation() -> None:
    ids = graph.NodeIds()
    taken = [ids.take(name) for name in ("a-b", "a_b", "a.b", "a-b")]
    assert taken == ["a_b", "a_b_2", "a_b_3", "a_b_4"]
    assert all(re.fullmatch(graph.ID_PATTERN, i) for i in taken)


def test_node_ids_never_use_a_mermaid_keyword() -> None:
    ids = graph.NodeIds()
    assert [ids.take(n) for n in ("end", "End", "subgraph", "***")] == ["end_", "End_", "subgraph_", "node"]


def test_a_label_cannot_break_out_of_its_quotes_or_inject_markup() -> None:
    label = graph.quote('say "hi" <script>', "#1")
    assert label == '"say #quot;hi#quot; #lt;script#gt;<br/>#35;1"'
    assert re.fullmatch(LABEL, label)


def _resource(
    name: str, type_: str, parent: str = "", custom: bool = True, deps: tuple[str, ...] = ()
) -> Registered:
    return Registered(
        urn=f"urn:{name}",
        type=type_,
        name=name,
        custom=custom,
        parent=parent,
        inputs={},
        dependencies=list(deps),
        delete_before_replace=False,
        retain_on_delete=False,
        protect=False,
    )


def test_hostile_resource_names_still_give_valid_mermaid() -> None:
    component = _resource('c"omp', "acr-pipeline:x:Comp", custom=False)
    resources = [
        component,
        _resource("end", "github:index/a:A", parent=component.urn),
        _resource('x<b>"#', "github:index/b:B", parent=component.urn, deps=("urn:end",)),
        _resource("top-level", "alicloud:cr/c:C", deps=(component.urn, "urn:not-recorded")),
    ]
    chart = parse_flowchart(graph.resource_graph(resources))
    assert chart.subgraphs == {"c_omp": ["end_", "x_b"]}
    assert set(chart.edges) == {("end_", "x_b"), ("c_omp", "top_level")}


def test_short_type_is_the_python_name_the_readme_uses() -> None:
    assert graph.short_type(EE_REPO) == "alicloud.cs.RegistryEnterpriseRepo"
    assert graph.short_type(FILE) == "github.RepositoryFile"
    assert graph.short_type("pulumi:pulumi:Stack") == "pulumi.pulumi.Stack"
    assert graph.short_type("odd") == "odd"


# --- the workflow graph ---------------------------------------------------------------------


def workflow_chart(**overrides: Any) -> tuple[Flowchart, dict[str, Any]]:
    text = render(settings_for(**overrides))
    jobs = YAML(typ="safe").load(text)["jobs"]
    return parse_flowchart(graph.workflow_graph(text)), jobs


def test_workflow_graph_draws_one_build_job_for_every_image_after_changes() -> None:
    one = workflow_chart(images=[{"name": "api"}])[0]
    chart, _ = workflow_chart(images=[{"name": "api"}, {"name": "web"}, {"name": "worker"}])
    # Images are rows of the build job's matrix, not jobs: the graph is the same for one or three.
    assert chart == one
    assert [e for e in chart.edges if e[0] == "changes"] == [("changes", "build")]
    assert ("trigger", "changes") in chart.edges
    assert chart.nodes["build"].endswith("<br/>build: a job per entry of its matrix")


def test_workflow_graph_draws_every_job_and_every_need_of_the_rendered_yaml() -> None:
    chart, jobs = workflow_chart(
        secret_keys={"acr-pipeline:registryPassword", "acr-pipeline:notifyWebhookUrl"},
        workflow={"notify": {"kind": "slack"}},
        notifyWebhookUrl="https://hooks.slack.com/services/T0/B0/x",
    )
    assert "notify-failure" in jobs
    assert len(chart.nodes) == len(jobs) + 1  # the jobs and the trigger
    needs = {
        (need.replace("-", "_"), job.replace("-", "_"))
        for job, spec in jobs.items()
        for need in ([spec["needs"]] if isinstance(spec.get("needs"), str) else spec.get("needs", []))
    }
    assert needs <= set(chart.edges)
    assert {e for e in chart.edges if e[0] != "trigger"} == needs


def test_workflow_graph_starts_jobs_that_need_nothing_from_the_trigger() -> None:
    chart, jobs = workflow_chart(workflow={"branchBuilds": False, "tags": ["v*"]})
    starts = {j for j, spec in jobs.items() if not spec.get("needs")}
    assert starts == {"release-tags-only", "changes", "verify"}
    assert {e for e in chart.edges if e[0] == "trigger"} == {("trigger", j.replace("-", "_")) for j in starts}
    assert chart.nodes["trigger"] == "push: tags v*<br/>workflow_dispatch"


def test_workflow_graph_shows_the_environment_a_job_runs_in() -> None:
    chart, _ = workflow_chart(github={"environment": "production"})
    assert chart.nodes["build"].endswith("<br/>environment: production")


def test_workflow_graph_refuses_a_need_on_a_job_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="needs unknown job"):
        graph.workflow_graph("on: push\njobs:\n  a:\n    needs: [b]\n")


def test_workflow_graph_refuses_text_that_is_not_a_workflow() -> None:
    with pytest.raises(ValueError, match="no 'jobs' mapping"):
        graph.workflow_graph("just: text\n")


@pytest.mark.parametrize(
    ("on", "lines"),
    [
        ("push", ["push"]),
        (["push", "workflow_dispatch"], ["push", "workflow_dispatch"]),
        ({"push": {"branches": ["main"], "tags": ["v*"]}}, ["push: branches main; tags v*"]),
        ({"schedule": [{"cron": "0 0 * * *"}]}, ["schedule"]),
        (None, []),
    ],
)
def test_trigger_lines_name_each_event_and_its_filters(on: Any, lines: list[str]) -> None:
    assert graph.trigger_lines(on) == lines


# --- every stack: written by synth, matching its golden files --------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_stack_graphs_are_written_and_match_their_golden_files(stack: str, tmp_path: Path) -> None:
    result = synth.synthesize(stack, out_dir=tmp_path, stacks_dir=FIXTURES)
    resources = (result.target / "graph.mmd").read_text()
    jobs = (result.target / "workflow.mmd").read_text()
    parse_flowchart(resources)
    parse_flowchart(jobs)
    assert_matches_golden(resources, f"{stack}.graph.mmd")
    assert_matches_golden(jobs, f"{stack}.workflow.mmd")


def test_every_graph_golden_file_belongs_to_a_fixture_stack() -> None:
    stale = [p for p in sorted(GOLDEN_DIR.glob("*.mmd")) if p.name.split(".")[0] not in STACKS]
    if updating_golden():
        for path in stale:
            path.unlink()
        return
    assert not stale, f"golden files for stacks that no longer exist: {[p.name for p in stale]}; {REGENERATE}"


def test_a_stale_golden_file_fails_saying_how_to_regenerate_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "GOLDEN_DIR", tmp_path)
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    (tmp_path / "x.mmd").write_text("before\n")
    with pytest.raises(pytest.fail.Exception, match=re.escape(REGENERATE)):
        assert_matches_golden("after\n", "x.mmd")
    with pytest.raises(pytest.fail.Exception, match="no golden file"):
        assert_matches_golden("after\n", "missing.mmd")
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    assert_matches_golden("after\n", "x.mmd")
    assert (tmp_path / "x.mmd").read_text() == "after\n"


# --- the README's diagrams -------------------------------------------------------------------

README = ROOT / "README.md"


def test_readme_mermaid_diagrams_are_valid_flowcharts() -> None:
    blocks = mermaid_blocks(README.read_text())
    assert blocks, "README.md shows no ```mermaid diagram"
    for block in blocks:
        parse_flowchart(block)


def test_readme_architecture_names_every_component_the_program_registers(two_images: Run) -> None:
    blocks = mermaid_blocks(README.read_text())
    assert blocks, "README.md shows no ```mermaid diagram"
    components = {r.type.rsplit(":", 1)[-1] for r in two_images.resources if not r.custom}
    missing = [c for c in sorted(components) if not any(c in block for block in blocks)]
    assert not missing, f"README diagrams do not show component(s) {missing}"
