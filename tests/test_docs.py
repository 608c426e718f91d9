"""README.md is the short front door and docs/ holds the guides; both stay true: every link
leads to a file and a heading that exist, and every `make` target and `python -m tools.*`
module they tell a reader to run exists."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import stacks_are_the_examples
from tools.schema import SCHEMA_COMMENT

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 300

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# An inline code span: a run of backticks, closed by a run of the same length, within a paragraph.
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAKE = re.compile(r"(?<![\w./-])make\s+(?:(?:-\S+|[A-Z_][A-Z0-9_]*=\S*)\s+)*([a-z][a-z0-9_-]*)")
TOOL_MODULE = re.compile(r"python3?\s+-m\s+tools\.([A-Za-z_][\w.]*)")
TOOL_SCRIPT = re.compile(r"python3?\s+\S*tools/\w+\.py")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str


@dataclass(frozen=True)
class Page:
    path: Path
    prose: str
    """The text outside fenced code blocks."""
    blocks: list[Block]

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))

    def code(self) -> list[str]:
        """What a reader may copy: each inline code span and each fenced block."""
        return [m.group(2) for m in INLINE_CODE.finditer(self.prose)] + [b.body for b in self.blocks]

    def links(self) -> list[str]:
        """Every link target in the prose (inline code is not markdown, so it holds none)."""
        return [m.group(1) for m in LINK.finditer(INLINE_CODE.sub("CODE", self.prose))]


def read(path: Path) -> Page:
    prose: list[str] = []
    blocks: list[Block] = []
    fence = ""
    lang, body = "", list[str]()
    for line in path.read_text().splitlines():
        m = FENCE.match(line)
        if not fence and m:
            fence, lang, body = m.group(1), m.group(2).strip(), []
        elif fence and m and m.group(1).startswith(fence) and not m.group(2).strip():
            blocks.append(Block(lang, "".join(f"{b}\n" for b in body)))
            fence = ""
        elif fence:
            body.append(line)
        else:
            prose.append(line)
    assert not fence, f"{path.name}: a code block is never closed"
    return Page(path, "\n".join(prose), blocks)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lowercased, punctuation other than '-'
    and '_' removed, each space turned into '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>|[`*]", "", text)  # tags and inline markup do not show
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Page) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in page.prose.splitlines():
        if m := HEADING.match(line):
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def make_targets() -> set[str]:
    """The Makefile's targets: its rule heads, and what .PHONY declares."""
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.partition(":")[2].split())
        elif m := re.match(r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*)\s*:(?!=)", line):
            targets.add(m.group(1))
    return targets


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    return [read(path) for path in PAGES]


def relative_links(pages: list[Page]) -> list[tuple[Page, Path, str]]:
    """(page, target file, anchor) for every link that is not to another site."""
    out = []
    for page in pages:
        for link in page.links():
            if SCHEME.match(link):
                continue
            path, _, anchor = link.partition("#")
            target = (page.path.parent / unquote(path)).resolve() if path else page.path
            out.append((page, target, anchor))
    return out


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The real thing: `pulumi up`", "the-real-thing-pulumi-up"),
        ("`acr-pipeline:` keys", "acr-pipeline-keys"),
        ("The dev stack, as `make synth` draws it", "the-dev-stack-as-make-synth-draws-it"),
        ("How deploy and prod approval work", "how-deploy-and-prod-approval-work"),
        ("snake_case and CI/CD", "snake_case-and-cicd"),
    ],
)
def test_anchors_follow_githubs_rules(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_readme_stays_a_front_door_under_300_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"


def test_every_docs_page_starts_with_a_link_back_to_the_readme(pages: list[Page]) -> None:
    for page in pages[1:]:
        first = next(line for line in page.prose.splitlines() if line.strip())
        assert "](../README.md)" in first, f"{page.name} does not start with a link back to README.md"


def test_readme_links_every_docs_page(pages: list[Page]) -> None:
    linked = {target for page, target, _ in relative_links(pages[:1])}
    missing = [p.name for p in pages[1:] if p.path.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_every_relative_link_points_at_a_file_that_exists(pages: list[Page]) -> None:
    broken = [
        f"{page.name}: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
        for page, target, _ in relative_links(pages)
        if not target.exists()
    ]
    assert not broken, f"links to missing files: {broken}"


def test_every_anchor_link_points_at_a_heading_of_its_target(pages: list[Page]) -> None:
    by_path = {page.path.resolve(): page for page in pages}
    broken = []
    for page, target, anchor in relative_links(pages):
        if not anchor or target.suffix != ".md" or not target.exists():
            continue
        shown = by_path.get(target) or read(target)
        if anchor not in anchors(shown):
            broken.append(f"{page.name}: {target.name}#{anchor}")
    assert not broken, f"anchors with no heading: {broken}"


def test_every_make_target_in_the_docs_exists_in_the_makefile(pages: list[Page]) -> None:
    targets = make_targets()
    assert {"synth", "test", "schema"} <= targets
    unknown = sorted(
        {
            f"{page.name}: make {m.group(1)}"
            for page in pages
            for code in page.code()
            for m in MAKE.finditer(code)
            if m.group(1) not in targets
        }
    )
    assert not unknown, f"no such Makefile target: {unknown}"


def test_every_tools_module_in_the_docs_exists(pages: list[Page]) -> None:
    named = [(page, m.group(1)) for page in pages for code in page.code() for m in TOOL_MODULE.finditer(code)]
    assert named, "the docs name no `python -m tools.*` command"
    missing = [
        f"{page.name}: tools.{module}"
        for page, module in named
        if not (ROOT / "tools" / f"{module.replace('.', '/')}.py").is_file()
    ]
    assert not missing, f"no such module under tools/: {missing}"


def test_docs_run_tools_as_modules_not_as_scripts(pages: list[Page]) -> None:
    scripts = [
        f"{page.name}: {m.group(0)}"
        for page in pages
        for code in page.code()
        for m in TOOL_SCRIPT.finditer(code)
    ]
    assert not scripts, f"tools run as `python -m tools.<name>`, not as scripts: {scripts}"


def test_dev_stack_pictures_in_the_architecture_page_are_what_make_synth_draws() -> None:
    shown = [b.body for b in read(ROOT / "docs" / "architecture.md").blocks if b.lang == "mermaid"]
    for golden in ("dev.graph.mmd", "dev.workflow.mmd"):
        assert (ROOT / "tests" / "golden" / golden).read_text() in shown, f"docs/architecture.md: {golden}"


def test_complete_stack_file_in_the_configuration_reference_synthesizes(tmp_path: Path) -> None:
    page = read(ROOT / "docs" / "configuration.md")
    examples = [b.body for b in page.blocks if b.lang == "yaml" and "\nconfig:\n" in b.body]
    assert len(examples) == 1, "docs/configuration.md shows one complete stack file"
    assert examples[0].startswith(SCHEMA_COMMENT + "\n"), "the example names the schema in its first line"
    (tmp_path / "Pulumi.example.yaml").write_text(examples[0])
    cmd = [sys.executable, "-m", "tools.synth", "example", "--stacks-dir", str(tmp_path)]
    result = subprocess.run(
        [*cmd, "--out-dir", str(tmp_path / "out"), "--no-color"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"the example stack file does not synthesize:\n{result.stderr}"


def _readme_block(after: str) -> list[str]:
    """The lines of the README's first fenced block after the line `after`, abridged lines
    (`...`) left out."""
    text = README.read_text()
    start = text.index("```text\n", text.index(after)) + len("```text\n")
    body = text[start : text.index("```", start)]
    return [line for line in body.splitlines() if line.strip() and "..." not in line]


def test_the_readmes_sample_plan_is_what_make_synth_prints_for_the_example_dev_stack(tmp_path: Path) -> None:
    """Every line the README shows of `make synth` (its counts of resources and of lines among
    them) and of `make synth STACK=all` is a line they print, in the same order."""
    if not stacks_are_the_examples():
        pytest.skip("stacks/ holds a team's own stacks: the README's sample is of the examples")
    for after, stack in (
        ("Sample (`make synth`, abridged)", "dev"),
        ("`make synth STACK=all` ends with", "all"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "tools.synth", stack, "--no-color", "--out-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        printed = result.stdout.replace(str(tmp_path), "build/synth").splitlines()
        at = 0
        for line in _readme_block(after):
            assert line in printed[at:], f"README.md: {line!r} is not what `make synth {stack}` prints (next)"
            at = printed.index(line, at) + 1


def test_the_architecture_pages_picture_of_who_imports_whom_is_true_and_has_no_cycle() -> None:
    from tools.graph import import_graph, imports

    page = (ROOT / "docs" / "architecture.md").read_text()
    drawn = import_graph(ROOT)
    assert f"```mermaid\n{drawn}```" in page, "regenerate the picture: tools.graph.import_graph"
    graph = imports(ROOT)

    def reached(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for other in graph.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    assert [m for m in graph if m in reached(m)] == [], "an import cycle"


def test_no_module_of_the_program_imports_a_tool() -> None:
    import ast

    for path in (ROOT / "components").rglob("*.py"):
        for statement in ast.walk(ast.parse(path.read_text())):
            modules = (
                [statement.module or ""]
                if isinstance(statement, ast.ImportFrom)
                else [a.name for a in statement.names]
                if isinstance(statement, ast.Import)
                else []
            )
            assert not [m for m in modules if m == "tools" or m.startswith("tools.")], path


def test_the_workflow_pages_size_table_is_what_the_benchmark_measures() -> None:
    """docs/workflow.md's lines and KB per shape and number of images (tests/bench_workflow_size)."""
    from tests.bench_workflow_size import committed

    page = (ROOT / "docs" / "workflow.md").read_text()
    rows = re.findall(r"^\| (prod|dev)\b[^|]* \| (\d+) \| ([\d,]+) \| ([\d.]+ KB) \|", page, re.MULTILINE)
    assert len(rows) >= 6, "the table is where the test looks"
    for shape, count, lines, size in rows:
        measured = committed(shape, int(count))
        assert not isinstance(measured, str), measured
        assert (lines, size) == (f"{measured[0]:,}", f"{measured[1] / 1024:,.1f} KB"), (shape, count)
