"""What the change detection costs and whether it is right, on a monorepo's history: a benchmark,
not a test (pytest does not collect it).

    .venv/bin/python -m tests.bench_changes [--commits N] [--pairs P] [--adjacent J] [--repeat R]
                                             [--seed S] [--workers W] [--keep DIR]

1. A history of N commits (default 5000) is generated with `git fast-import` in a temporary
   directory, for a stack of three images (`IMAGES`): api (api/ but api/docs/ except its
   openapi/, libs/shared/, proto/**/*.proto), web (web/), worker (services/worker/, libs/shared/
   but its tests, a Dockerfile in docker/; two platforms, so two rows of the table), each with
   the workflow file; docs/ and top-level
   files beside them; files of a few KB (and a lock file of ~150 KB), a topic
   branch merged now and then, renames (within an image, across images, out of them), a mass
   change from time to time (one under 300 files, one over), release tags, one branch never
   merged, file names with spaces and non-ASCII letters; then `git repack -a -d`.
2. What each job fetches, before and after the change: the `changes` job and the `promote` job
   used to clone the whole history (`fetch-depth: 0`); now `changes` clones nothing (it asks
   GitHub's compare API) and `promote` fetches `fetch-depth: 50` (`jobs.PROMOTE_HISTORY`). Each
   kind of clone (full, `--depth 50`, `--depth 1`: a build job's default checkout) is made
   `--repeat` times (default 3) over `file://` (objects really packed and transferred, no
   hard links), bare (the working tree is the same for every depth): the median wall time,
   the objects and pack bytes in the clone.
3. The changed-image answer of the committed script equals a full-history `git diff`: for P
   random pairs (A, B) with A an ancestor of B (default 200, distances drawn log-uniformly so that
   both sides of GitHub's 300-file limit are met), J adjacent ones (every merge, mass change and
   rename commit against its first parent, then random ones; default 50), a few identical ones
   and a few where A is not an ancestor of B (behind, diverged), the rendered `changes` job runs
   as GitHub runs it on a push of B (tests.test_scripts.plan_builds: scripts/head.sh, whose
   answer must be whether B is the clone's branch tip, scripts/changes.sh, then
   scripts/plan.sh, each with its env from the rendered workflow of a stack with this history's
   images, the fake `gh` answering from the full clone, the last successful run being A); the
   per-image answer is which images have rows in the job's output `builds` (the build matrix:
   every row of an image, or none), and it is compared with the one
   computed from `git diff --name-only --no-renames A B` in the full clone, each file matched
   with `components.rules.github_glob` against `settings.paths(image)` in order (a `!` pattern
   excludes, a later pattern overrides an earlier one). Where A is not an ancestor, or the
   comparison lists 300 files or more (GitHub's limit; a rename counts once, as
   `git diff -M --name-only` counts it), changes.sh must fail open (list nothing), and every
   image is built.

The fake `gh` lists names with `git diff -z`, so non-ASCII file names come back raw, as GitHub's
API returns them, not C-quoted.

Exit status 1 on any mismatch (the details are printed), 0 otherwise. Progress goes to stderr,
the report to stdout. The machine's load makes the times noisy (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from components.rules import github_glob
from components.settings import Settings
from components.workflow_render.jobs import PROMOTE_HISTORY
from tests.conftest import settings_for
from tests.fakes import Fakes
from tests.test_scripts import Stack as Rendered
from tests.test_scripts import plan_builds, push_event, stack

GIT = shutil.which("git") or "git"
WORKFLOW = ".github/workflows/build-push.yml"
BRANCH = "main"
LIMIT = 300
"""GitHub lists at most 300 files of a comparison; changes.sh fails open at that count."""

IMAGES: list[dict[str, Any]] = [
    {
        "name": "api",
        "paths": [
            "api/**",
            "!api/docs/**",
            "api/docs/openapi/**",
            "libs/shared/**",
            "proto/**/*.proto",
            WORKFLOW,
        ],
    },
    {"name": "web"},  # the default: web/** and the workflow file
    {
        "name": "worker",
        "context": "services/worker",
        "platforms": ["linux/amd64", "linux/arm64"],  # two rows of the table, built together
        "dockerfile": "docker/worker.Dockerfile",
        "paths": [
            "services/worker/**",
            "libs/shared/**",
            "!libs/shared/**/*_test.py",
            "docker/worker.Dockerfile",
            WORKFLOW,
        ],
    },
]

# Where files live: a directory and the extension of its files, and how many there are at first.
AREAS: dict[str, list[tuple[str, str, int]]] = {
    "api": [("api/handlers", ".py", 70), ("api/models", ".py", 60), ("api/services", ".py", 50)],
    "api-docs": [("api/docs", ".md", 25), ("api/docs/openapi", ".yaml", 10)],
    "web": [
        ("web/src/components", ".tsx", 90),
        ("web/src/pages", ".tsx", 50),
        ("web/styles", ".css", 35),
        ("web/public", ".svg", 25),
    ],
    "worker": [("services/worker/jobs", ".py", 60), ("services/worker/queue", ".py", 50)],
    "shared": [
        ("libs/shared/db", ".py", 35),
        ("libs/shared/util", ".py", 25),
        ("libs/shared/tests", "_test.py", 15),
    ],
    "proto": [("proto/acme/v1", ".proto", 15), ("proto/acme/v2", ".proto", 10)],
    "docs": [("docs/guides", ".md", 45), ("docs/adr", ".md", 35)],
}
# How often a commit works in each area (the workflow file and the top-level files aside).
WEIGHTS = {"api": 24, "web": 24, "worker": 14, "shared": 8, "docs": 14, "api-docs": 6, "proto": 3, "misc": 7}
SINGLES = [
    WORKFLOW,
    "README.md",
    "Makefile",
    "docker/worker.Dockerfile",
    "docs/release notes.md",
    "docs/café.md",
    "web/public/logo final.svg",
    "libs/shared/util/naïve_dates.py",
    "api/handlers/größe.py",
]
LOCKFILE = "web/package-lock.json"
VOCABULARY = (
    "order user cart item price stock ship queue task retry cache token session event batch "
    "report invoice tax refund coupon store region tenant audit metric trace span handler model "
    "schema field value index record parse render fetch update delete create list count limit"
)
WORDS = VOCABULARY.split()


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run([GIT, *args], check=True, capture_output=True, text=True).stdout.strip()


def git_z(*args: str, cwd: Path) -> list[str]:
    """A NUL-separated listing (`-z`): file names as they are, never quoted."""
    command, *rest = args
    out = subprocess.run([GIT, command, "-z", *rest], cwd=cwd, check=True, capture_output=True).stdout
    return [name.decode() for name in out.split(b"\0") if name]


# --- 1. the history ----------------------------------------------------------------------------


@dataclass
class Commit:
    mark: int
    parents: tuple[int, ...]
    """Indices into History.commits, the first parent first."""
    branch: str
    kind: str
    """change, rename, mass (fewer than 300 files), mass-300 (more), merge, root."""
    sha: str = ""


Tree = dict[str, tuple[int, tuple[int, ...]]]
"""path -> (blob mark, the file's lines as indices into the line pool)."""


@dataclass
class History:
    """A monorepo's history written to `git fast-import` as it is made up."""

    commits_wanted: int
    rng: random.Random
    out: IO[bytes]
    commits: list[Commit] = field(default_factory=list)
    marks: int = 0
    clock: int = 1_600_000_000
    lines: list[str] = field(default_factory=list)
    tags: int = 0

    def __post_init__(self) -> None:
        pick = self.rng.choice
        templates = [
            "    {a}_{b} = {c}({d}, {n})",
            "def {a}_{b}({c}, {d}={n}):",
            "        return {a}.{b}({c}_{d})",
            "    if {a}_{b} > {n}: raise ValueError('{c} {d}')",
            "    # {a} {b} {c} {d}: see ticket {n}",
            "    for {a} in {b}_{c}: {d}.append({a}, {n})",
        ]
        self.lines = [
            pick(templates).format(a=pick(WORDS), b=pick(WORDS), c=pick(WORDS), d=pick(WORDS), n=i)
            for i in range(4000)
        ]

    # -- the stream

    def mark(self) -> int:
        self.marks += 1
        return self.marks

    def blob(self, path: str, body: tuple[int, ...]) -> int:
        text = f"# {path}\n" + "".join(self.lines[i] + "\n" for i in body)
        data = text.encode()
        mark = self.mark()
        self.out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
        return mark

    def commit(
        self, branch: str, parents: tuple[int, ...], tree: Tree, before: Tree, message: str, kind: str
    ) -> int:
        """Commit `tree` on `branch`; `before` is the first parent's tree (what changed is written)."""
        self.clock += self.rng.randint(60, 7200)
        mark = self.mark()
        who = f"Dev {self.rng.randint(1, 40)} <dev@acme.example> {self.clock} +0000"
        data = message.encode()
        head = f"commit refs/heads/{branch}\nmark :{mark}\nauthor {who}\ncommitter {who}\n"
        self.out.write(head.encode() + b"data %d\n%s\n" % (len(data), data))
        for i, parent in enumerate(parents):
            self.out.write(f"{'from' if i == 0 else 'merge'} :{self.commits[parent].mark}\n".encode())
        for path in sorted(before.keys() - tree.keys()):
            self.out.write(f"D {path}\n".encode())
        for path, (blob, _) in sorted(tree.items()):
            if before.get(path, (0, ()))[0] != blob:
                self.out.write(f"M 100644 :{blob} {path}\n".encode())
        self.out.write(b"\n")
        self.commits.append(Commit(mark, parents, branch, kind))
        return len(self.commits) - 1

    def tag(self, index: int) -> None:
        self.tags += 1
        self.out.write(f"reset refs/tags/v1.{self.tags}.0\nfrom :{self.commits[index].mark}\n\n".encode())

    # -- the files

    def body(self, size: int | None = None) -> tuple[int, ...]:
        count = size if size is not None else self.rng.randint(35, 130)
        return tuple(self.rng.randrange(len(self.lines)) for _ in range(count))

    def edit(self, body: tuple[int, ...]) -> tuple[int, ...]:
        out = list(body)
        for _ in range(self.rng.randint(1, 6)):
            where = self.rng.randrange(len(out) + 1)
            action = self.rng.random()
            if action < 0.5 and where < len(out):
                out[where] = self.rng.randrange(len(self.lines))
            elif action < 0.8 or len(out) < 10:
                out.insert(where, self.rng.randrange(len(self.lines)))
            elif where < len(out):
                del out[where]
        return tuple(out)

    def put(self, tree: Tree, path: str, body: tuple[int, ...]) -> None:
        tree[path] = (self.blob(path, body), body)

    def new_name(self, area: str) -> str:
        folder, ext, _ = self.rng.choice(AREAS[area])
        return f"{folder}/{self.rng.choice(WORDS)}_{self.rng.choice(WORDS)}_{self.rng.randint(1, 999)}{ext}"

    def area_of(self, tree: Tree, area: str) -> list[str]:
        if area == "misc":
            return [path for path in SINGLES if path in tree]
        prefixes = tuple(folder + "/" for folder, _, _ in AREAS[area])
        return [p for p in tree if p.startswith(prefixes)]

    def initial(self) -> Tree:
        tree: Tree = {}
        for folders in AREAS.values():
            for folder, ext, count in folders:
                for n in range(count):
                    self.put(tree, f"{folder}/{self.rng.choice(WORDS)}_{n}{ext}", self.body())
        for path in SINGLES:
            self.put(tree, path, self.body())
        self.put(tree, LOCKFILE, self.body(3000))
        return tree

    def change(self, tree: Tree) -> tuple[Tree, str, str]:
        """An ordinary commit's tree: a few files of one area edited, now and then one added,
        deleted or renamed; the message and the kind."""
        new = dict(tree)
        area = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        files = self.area_of(new, area)
        # The top-level files (the workflow, the Dockerfile, ...) are only ever edited.
        roll = self.rng.random() if area != "misc" else 1.0
        if roll < 0.04 and files:
            source = self.rng.choice(files)
            # Within the area, or to another one (an image's file leaves it, or joins another).
            target_area = area if self.rng.random() < 0.5 else self.rng.choice(list(AREAS))
            target = self.new_name(target_area)
            blob, body = new.pop(source)
            if self.rng.random() < 0.5:
                new[target] = (blob, body)
            else:
                self.put(new, target, self.edit(body))
            return new, f"Move {source} to {target}", "rename"
        if roll < 0.07 or not files:
            self.put(new, self.new_name(area), self.body())
            return new, f"Add a file to {area}", "change"
        if roll < 0.09 and len(files) > 5:
            del new[self.rng.choice(files)]
            return new, f"Remove a file from {area}", "change"
        for path in self.rng.sample(files, min(len(files), self.rng.choice((1, 1, 1, 2, 2, 3, 4, 6)))):
            self.put(new, path, self.edit(new[path][1]))
        if area == "web" and self.rng.random() < 0.1:
            self.put(new, LOCKFILE, self.edit(new[LOCKFILE][1]))
        return new, f"Change {area}", "change"

    def mass(self, tree: Tree, over: bool) -> tuple[Tree, str, str]:
        """Every Python file (over 300) or every file of web/ (under 300) touched at once."""
        new = dict(tree)
        files = [p for p in new if p.endswith(".py")] if over else self.area_of(new, "web")
        for path in files:
            _, body = new[path]
            self.put(new, path, (self.rng.randrange(len(self.lines)), *body[1:]))
        return new, f"Reformat {len(files)} files", "mass-300" if over else "mass"


def generate(history: History) -> None:
    """Main advances one commit at a time; a topic branch is forked now and then, committed to
    between main's commits, and merged (its changes win); the last one is never merged."""
    rng = history.rng
    main_tree = history.initial()
    main = history.commit(BRANCH, (), main_tree, {}, "Initial import", "root")
    topic: dict[str, Any] | None = None
    topics = 0
    wip = 4  # the last commits: a branch never merged
    total = history.commits_wanted - wip
    while len(history.commits) < total:
        left = total - len(history.commits)
        if topic is None and left > 30 and rng.random() < 1 / 250:
            topics += 1
            name = f"topic/{topics}"
            topic = {
                "name": name,
                "fork": main_tree,
                "tree": main_tree,
                "tip": main,
                "todo": rng.randint(3, 12),
            }
        if topic is not None and topic["todo"] > 0 and left > 1 and rng.random() < 0.4:
            tree, message, kind = history.change(topic["tree"])
            topic["tip"] = history.commit(topic["name"], (topic["tip"],), tree, topic["tree"], message, kind)
            topic["tree"] = tree
            topic["todo"] -= 1
            continue
        if topic is not None and (topic["todo"] == 0 or left == 1) and topic["tip"] != main:
            merged = dict(main_tree)
            fork, done = topic["fork"], topic["tree"]
            for path in sorted(fork.keys() | done.keys()):
                if fork.get(path) != done.get(path):
                    if path in done:
                        merged[path] = done[path]
                    else:
                        merged.pop(path, None)
            message = f"Merge branch '{topic['name']}'"
            main = history.commit(BRANCH, (main, topic["tip"]), merged, main_tree, message, "merge")
            main_tree, topic = merged, None
            continue
        at = len(history.commits)
        if at in (total * 2 // 5, total * 4 // 5) or rng.random() < 1 / 700:
            # One under 300 files and one over at least, whatever the seed.
            over = at == total * 4 // 5 or (at != total * 2 // 5 and rng.random() < 0.5)
            tree, message, kind = history.mass(main_tree, over=over)
        else:
            tree, message, kind = history.change(main_tree)
        main = history.commit(BRANCH, (main,), tree, main_tree, message, kind)
        main_tree = tree
        if len(history.commits) % 500 == 0:
            history.tag(main)
    tip, tree = main, main_tree
    for _ in range(wip):
        new, message, kind = history.change(tree)
        tip = history.commit("feature/wip", (tip,), new, tree, message, kind)
        tree = new


def build(root: Path, commits: int, seed: int, started: float) -> tuple[Path, History]:
    """The history in a bare repository `root/origin.git`, every commit's sha filled in."""
    origin = root / "origin.git"
    git("init", "-q", "--bare", "-b", BRANCH, str(origin))
    marks = root / "marks"
    importer = subprocess.Popen(
        [GIT, "-C", str(origin), "fast-import", "--quiet", f"--export-marks={marks}"],
        stdin=subprocess.PIPE,
    )
    assert importer.stdin
    history = History(commits, random.Random(seed), importer.stdin)  # noqa: S311 - made-up data
    generate(history)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    log(f"fast-import: {len(history.commits)} commits written", started)
    shas = dict(line.split() for line in marks.read_text().splitlines())
    for commit in history.commits:
        commit.sha = shas[f":{commit.mark}"]
    git("-C", str(origin), "repack", "-a", "-d", "-q")
    log("repacked", started)
    return origin, history


# --- 2. clones ---------------------------------------------------------------------------------


@dataclass
class Clone:
    label: str
    seconds: float
    objects: int
    size: int
    """Bytes of the packs in the clone."""


def packed(repo: Path) -> tuple[int, int]:
    """(objects, bytes) of a repository's packs (a clone keeps what it received as packs)."""
    counts = dict(line.split(": ", 1) for line in git("-C", str(repo), "count-objects", "-v").splitlines())
    size = sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack"))
    return int(counts["count"]) + int(counts["in-pack"]), size


def clone(origin: Path, into: Path, depth: int | None, repeat: int) -> Clone:
    """`repeat` clones over file:// (`--no-local`, `--no-checkout`): the median time, the objects
    and pack bytes of the last (every one receives the same)."""
    times = []
    objects = size = 0
    for n in range(repeat):
        target = into.with_name(f"{into.name}-{n}") if n < repeat - 1 else into
        shutil.rmtree(target, ignore_errors=True)
        args = ["clone", "--quiet", "--bare", "--no-local", *(["--depth", str(depth)] if depth else [])]
        start = time.perf_counter()
        git(*args, f"file://{origin}", str(target))
        times.append(time.perf_counter() - start)
        objects, size = packed(target)
        if target != into:
            shutil.rmtree(target)
    label = "full history" if depth is None else f"--depth {depth}"
    return Clone(label, statistics.median(times), objects, size)


# --- 3. the answers ----------------------------------------------------------------------------


@dataclass
class Pair:
    base: int
    head: int
    kind: str
    """random, adjacent, identical (A is an ancestor of B, or B itself), behind, diverged."""


@dataclass
class Outcome:
    pair: Pair
    ancestor: bool
    entries: int
    """Files the comparison lists (a rename once), when A is an ancestor."""
    names: list[str]
    """`git diff --name-only --no-renames A B`."""
    expected: dict[str, bool]
    got: dict[str, bool]
    """Whether the image has rows in the job's output `builds`."""
    whole: bool
    """Every image in `builds` has all its rows of the table, in the table's order."""
    fail_open: bool
    """The script said it builds every image."""
    summary: str
    seconds: float
    error: str = ""


def ancestors(history: History, index: int) -> list[int]:
    """Every ancestor of a commit but itself, newest first."""
    seen: set[int] = set()
    todo = list(history.commits[index].parents)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(history.commits[current].parents)
    return sorted(seen, reverse=True)


def pairs(history: History, rng: random.Random, count: int, adjacent: int) -> list[Pair]:
    commits = history.commits
    out: list[Pair] = []
    for _ in range(count):
        head = rng.randrange(1, len(commits))
        older = ancestors(history, head)
        rank = min(len(older), int(math.exp(rng.uniform(0, math.log(len(older) + 1)))))
        out.append(Pair(older[max(rank, 1) - 1], head, "random"))
    # Every merge and mass change, then renames for half of the rest, then ordinary commits.
    chosen = [i for i, c in enumerate(commits) if c.kind in ("merge", "mass", "mass-300")][:adjacent]
    renames = [i for i, c in enumerate(commits) if c.kind == "rename"]
    chosen += rng.sample(renames, min(len(renames), max(0, adjacent - len(chosen)) // 2))
    ordinary = [i for i, c in enumerate(commits) if c.kind == "change"]
    chosen += rng.sample(ordinary, max(0, adjacent - len(chosen)))
    out += [Pair(commits[i].parents[0], i, "adjacent") for i in chosen]
    out += [Pair(i, i, "identical") for i in rng.sample(range(len(commits)), 3)]
    # Not ancestors: B older than A on main (behind), and a topic's commit against main's
    # commits made while the topic was open (diverged).
    on_main = [i for i, c in enumerate(commits) if c.branch == BRANCH]
    for _ in range(4):
        b, a = sorted(rng.sample(on_main, 2))
        out.append(Pair(a, b, "behind"))
    topic_commits = [i for i, c in enumerate(commits) if c.branch != BRANCH]
    for _ in range(5):
        if not topic_commits:
            break
        a = rng.choice(topic_commits)
        later: list[int] = []
        for i in (i for i in on_main if i > a):
            if a in ancestors(history, i) or len(later) == 20:
                break
            later.append(i)
        if later:
            out.append(Pair(a, rng.choice(later), "diverged"))
    out.append(Pair(len(commits) - 1, on_main[-1], "diverged"))  # the branch never merged
    return out


@dataclass
class Stack:
    settings: Settings
    rendered: Rendered
    patterns: dict[str, list[tuple[bool, re.Pattern[str]]]]

    @classmethod
    def load(cls) -> Stack:
        settings = settings_for(images=IMAGES)
        patterns = {
            image.key: [
                (not path.startswith("!"), github_glob(path.removeprefix("!")))
                for path in settings.paths(image)
            ]
            for image in settings.images
        }
        return cls(settings, stack(images=IMAGES), patterns)

    def wants(self, key: str, name: str) -> bool:
        """An image's patterns in order, a later one overriding an earlier one."""
        found = False
        for include, pattern in self.patterns[key]:
            if pattern.match(name):
                found = include
        return found


def check(stack: Stack, history: History, repo: Path, tmp: Path, pair: Pair) -> Outcome:
    """Run the `changes` job on a push of B, A the last successful run, and compute what git diff
    says."""
    base, head = history.commits[pair.base].sha, history.commits[pair.head].sha
    tmp.mkdir(parents=True)
    fakes = Fakes(tmp / "fakes")
    run = {"head_sha": base, "head_branch": BRANCH, "event": "push", "conclusion": "success"}
    fakes.state = {"repo": str(repo), "runs": [run]}
    fakes.save()
    start = time.perf_counter()
    planned = plan_builds(stack.rendered.doc, tmp, fakes, push_event(head, ref=BRANCH))
    seconds = time.perf_counter() - start
    listed = planned.listed
    assert listed is not None, "a branch push lists the files changed"
    ancestor = (
        subprocess.run(
            [GIT, "-C", str(repo), "merge-base", "--is-ancestor", base, head], check=False
        ).returncode
        == 0
    )
    keys = [image.key for image in stack.settings.images]
    names: list[str] = []
    entries = 0
    if ancestor:
        names = git_z("diff", "--name-only", "--no-renames", base, head, cwd=repo)
        entries = len(git_z("diff", "--name-only", "-M", base, head, cwd=repo))
    if not ancestor or entries >= LIMIT:
        expected = dict.fromkeys(keys, True)
    else:
        expected = {key: any(stack.wants(key, name) for name in names) for key in keys}
    steps = (("head.sh", planned.head), ("changes.sh", listed), ("plan.sh", planned.plan))
    errors = [
        f"{name}: exit status {result.returncode}: {result.stderr.strip()}"
        for name, result in steps
        if result is not None and result.returncode != 0
    ]
    # head.sh asked the fake gh for the branch: the clone's branch tip.
    tip = subprocess.run(
        [GIT, "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    current = "true" if tip == head else "false"
    if planned.outputs.get("current") != current:
        errors.append(f"head.sh: current={planned.outputs.get('current')!r}, the branch's tip says {current}")
    table = stack.rendered.rows
    built = {row["key"] for row in planned.rows}
    return Outcome(
        pair,
        ancestor,
        entries,
        names,
        expected,
        {key: key in built for key in keys},
        planned.rows == [row for row in table if row["key"] in built],
        "building every image" in listed.stdout,
        (listed.stdout + planned.plan.summary).strip(),
        seconds,
        "; ".join(errors),
    )


def verdicts(outcomes: list[Outcome]) -> tuple[list[Outcome], list[Outcome], list[Outcome]]:
    """(compared, fail-open, mismatches): a mismatch is a wrong answer, a fail-open where none
    was due or none where one was, or a failed run."""
    compared: list[Outcome] = []
    opened: list[Outcome] = []
    wrong: list[Outcome] = []
    for outcome in outcomes:
        due = not outcome.ancestor or outcome.entries >= LIMIT
        if outcome.error or outcome.got != outcome.expected or not outcome.whole or outcome.fail_open != due:
            wrong.append(outcome)
        (opened if due else compared).append(outcome)
    return compared, opened, wrong


def describe(outcome: Outcome, stack: Stack, history: History) -> str:
    pair = outcome.pair
    lines = [
        f"  {pair.kind} pair {history.commits[pair.base].sha} .. {history.commits[pair.head].sha} "
        f"(commits #{pair.base} .. #{pair.head}; ancestor: {outcome.ancestor}; "
        f"{outcome.entries} files in the comparison, {len(outcome.names)} names without renames)",
        f"    expected {outcome.expected}, the job built {outcome.got}, fail-open: {outcome.fail_open}, "
        f"every row of each image built: {outcome.whole}",
    ]
    for key, want in outcome.expected.items():
        if outcome.got.get(key) != want:
            matched = [name for name in outcome.names if stack.wants(key, name)]
            lines.append(f"    {key}: git diff's files of the image: {matched[:10] or 'none'}")
    lines.append(f"    the comparison's files (no renames): {outcome.names[:12]}")
    if outcome.error:
        lines.append(f"    {outcome.error}")
    lines.append("    summary: " + outcome.summary.replace("\n", " | "))
    return "\n".join(lines)


# --- the report --------------------------------------------------------------------------------


def mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


def shown(found: Clone) -> str:
    return f"{found.label}: {found.seconds:.2f} s, {found.objects:,} objects, {mib(found.size)}"


@contextmanager
def workspace(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="bench-changes-") as tmp:
            yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=5000, help="commits in the history (default 5000)")
    parser.add_argument("--pairs", type=int, default=200, help="random ancestor pairs (default 200)")
    parser.add_argument("--adjacent", type=int, default=50, help="adjacent pairs (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="clones of each kind, median time (default 3)")
    parser.add_argument("--seed", type=int, default=2024, help="the history's and the pairs' seed")
    parser.add_argument(
        "--workers", type=int, default=max(2, os.cpu_count() or 2), help="scripts run at once"
    )
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and leave everything there")
    args = parser.parse_args(argv)
    if args.commits < 100:
        parser.error("--commits: at least 100")
    started = time.monotonic()
    load = os.getloadavg()
    with workspace(args.keep) as root:
        log(f"building {args.commits} commits in {root}", started)
        t0 = time.perf_counter()
        origin, history = build(root, args.commits, args.seed, started)
        built = time.perf_counter() - t0
        origin_objects, origin_size = packed(origin)
        head_files = len(git_z("ls-tree", "-r", "--name-only", BRANCH, cwd=origin))
        kinds = {
            kind: sum(c.kind == kind for c in history.commits)
            for kind in ("merge", "rename", "mass", "mass-300")
        }

        clones: dict[str, Clone] = {}
        for name, depth in (("full", None), ("promote", PROMOTE_HISTORY), ("build", 1)):
            clones[name] = clone(origin, root / f"clone-{name}", depth, args.repeat)
            log(f"clone {shown(clones[name])}", started)
        full = root / "clone-full"

        stack = Stack.load()
        rng = random.Random(args.seed + 1)  # noqa: S311 - made-up data
        todo = pairs(history, rng, args.pairs, args.adjacent)
        log(f"{len(todo)} pairs to run the changes job on ({args.workers} at once)", started)
        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(args.workers) as pool:
            runs = pool.map(
                lambda n: check(stack, history, full, root / "runs" / str(n), todo[n]), range(len(todo))
            )
            for n, outcome in enumerate(runs, 1):
                outcomes.append(outcome)
                if n % 25 == 0 or n == len(todo):
                    log(f"{n}/{len(todo)} pairs run", started)
        compared, opened, wrong = verdicts(outcomes)
        elapsed = time.monotonic() - started

        by_kind = {k: sum(o.pair.kind == k for o in outcomes) for k in ("random", "adjacent", "identical")}
        not_ancestor = [o for o in outcomes if not o.ancestor]
        over = [o for o in opened if o.ancestor]
        all_true = sum(all(o.got.get(key) for key in o.expected) for o in opened)
        run_times = sorted(o.seconds for o in outcomes)
        out = [
            "Change detection benchmark (tests/bench_changes.py)",
            f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
            f"{GIT} {git('--version').split()[-1]}",
            "",
            f"History: {len(history.commits):,} commits ({kinds['merge']} merges, {kinds['rename']} with a "
            f"rename, {kinds['mass'] + kinds['mass-300']} mass changes of which {kinds['mass-300']} over "
            f"{LIMIT} files, {history.tags} release tags, one branch never merged), {head_files} files at "
            f"{BRANCH}'s head, {origin_objects:,} objects, {mib(origin_size)} packed; generated in "
            f"{built:.1f} s (git fast-import, git repack -a -d)",
            "",
            f"What each job fetches (clones over file:// with --no-local, median of {args.repeat}; objects "
            "and pack bytes received)",
            f"  {'clone':<14}{'time':>9}{'objects':>11}{'pack':>13}",
        ]
        for found in clones.values():
            out.append(f"  {found.label:<14}{found.seconds:>7.2f} s{found.objects:>11,}{mib(found.size):>13}")
        rows = [
            (
                "changes",
                shown(clones["full"]),
                "no clone: 3 API calls (the branch's head, last successful run, compare)",
            ),
            ("promote", shown(clones["full"]), shown(clones["promote"])),
            ("each build", shown(clones["build"]), "unchanged"),
        ]
        out += ["", f"  {'job':<11}{'before':<52}after"]
        out += [f"  {job:<11}{before:<52}{after}" for job, before, after in rows]
        out += [
            "",
            "Changed images: the changes job's builds (head.sh and changes.sh through the fake gh, "
            "plan.sh) vs "
            "git diff --name-only --no-renames A B",
            f"  pairs run: {len(outcomes)} ({by_kind['random']} random ancestor pairs, {by_kind['adjacent']} "
            f"adjacent, {by_kind['identical']} identical, {len(not_ancestor)} where A is not an ancestor)",
            f"  compared (A an ancestor, under {LIMIT} files): {len(compared)}; equal: "
            f"{sum(o not in wrong for o in compared)}",
        ]
        for key in stack.patterns:
            true = sum(o.expected[key] for o in compared)
            out.append(f"    {key}: true in {true}, false in {len(compared) - true}")
        sizes = [o.entries for o in compared]
        if sizes:
            out.append(f"    files per comparison: median {statistics.median(sizes):.0f}, max {max(sizes)}")
        out += [
            f"  fail-open: {len(opened)} ({len(over)} with {LIMIT} files or more, {len(not_ancestor)} not "
            f"ancestors); every image true in {all_true}",
            f"  mismatches: {len(wrong)}",
        ]
        out += [describe(o, stack, history) for o in wrong[:20]]
        out += [
            f"  the changes job per pair (fake gh, local git): median {statistics.median(run_times):.2f} s, "
            f"max {run_times[-1]:.2f} s",
            "",
            f"Total: {elapsed:.1f} s",
        ]
        print("\n".join(out))
        if args.keep:
            (root / "outcomes.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
