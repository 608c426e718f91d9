"""What a stack commits under `.github/` as its images grow: a benchmark, not a test (pytest does
not collect it; tests/test_workflow_render.py checks the targets).

    .venv/bin/python -m tests.bench_workflow_size

Every file the stack commits (build-push, and the pull-request workflow where it has one),
added up, for two shapes:

- prod: Enterprise Edition, a reviewed environment (`production`, a team of reviewers, release
  tags only), immutable tags, no cache, each image multi-arch (linux/amd64 and linux/arm64 on
  native runners): the shape of the prod example;
- dev: single-arch images, branch builds, pull-request builds on: the shape of the dev example.

For each number of images: lines, bytes, and what each further image adds; a stack past one of
GitHub's limits (256 jobs per matrix, 500 KB per file, ...) is refused by its settings, and the
table says so. The figures before the redesign (one copy of whole jobs per image) are the
issue's measurements of the old renderer, printed beside them.
"""

from __future__ import annotations

from typing import Any

from components.config import ConfigError
from components.workflow_render import committed_files
from tests.conftest import settings_for

MULTI_ARCH = {"platforms": ["linux/amd64", "linux/arm64"], "immutableTags": True}
PROD: dict[str, Any] = {
    "github": {"environment": "production", "reviewers": {"teams": ["platform"]}, "deploymentTags": ["v*"]},
    "workflow": {"branchBuilds": False, "tags": ["v[0-9]+.[0-9]+.[0-9]+"], "cache": False},
}
DEV: dict[str, Any] = {"workflow": {"pullRequests": True}}
BEFORE = {
    ("prod", 1): "526 lines, 22 KB",
    ("prod", 2): "939 lines, 40 KB",
    ("prod", 10): "4,243 lines, 180 KB",
    ("prod", 30): "12,503 lines, 530 KB",
    ("prod", 130): "2.3 MB",
    ("dev", 2): "662 lines",
}
"""The old renderer (one copy of whole jobs per image), as issue 27 measured it."""


def committed(shape: str, count: int) -> tuple[int, int] | str:
    """(lines, bytes) of every file the stack commits, or why its settings refuse it."""
    if shape == "prod":
        images = [{"name": f"service-{n:03}", **MULTI_ARCH} for n in range(count)]
        overrides = {**PROD, "images": images}
    else:
        images = [{"name": f"service-{n:03}"} for n in range(count)]
        overrides = {**DEV, "images": images}
    try:
        settings = settings_for(**overrides)
    except ConfigError as error:
        return "refused: " + error.problems[0].partition(": ")[2]
    texts = committed_files(settings).values()
    return sum(t.count("\n") for t in texts), sum(len(t.encode()) for t in texts)


def main() -> None:
    print("Every file a stack commits under .github/, added up (tests/bench_workflow_size.py)\n")
    print("| shape | images | lines | size | each further image | before (issue 27) |")
    print("|---|---|---|---|---|---|")
    for shape, counts in (("prod", (1, 2, 3, 10, 30, 100, 128, 129, 130)), ("dev", (1, 2, 3, 10, 30))):
        previous: tuple[int, int, int] | None = None
        for count in counts:
            answer = committed(shape, count)
            before = BEFORE.get((shape, count), "")
            if isinstance(answer, str):
                print(f"| {shape} | {count} | | | {answer} | {before} |")
                continue
            lines, size = answer
            growth = ""
            if previous:
                n, lines_then, size_then = previous
                step = count - n
                growth = f"+{(lines - lines_then) / step:.1f} lines, +{(size - size_then) / step:,.0f} bytes"
            print(f"| {shape} | {count} | {lines:,} | {size / 1024:,.1f} KB | {growth} | {before} |")
            previous = (count, lines, size)


if __name__ == "__main__":
    main()
