"""GitHub's limits on what a committed workflow may hold, as rules of the stack's settings: a stack
past one is refused before anything is registered (components/config.py), naming the limit and
what to do, never rendered into a workflow GitHub would not run as written."""

from __future__ import annotations

from components.contract import PROJECT
from components.settings import Settings
from components.workflow_render.table import filters, legs, rows, table

MAX_JOBS = 256
"""GitHub: "A job matrix can generate a maximum of 256 jobs per workflow run" (Actions limits)."""
MAX_NAME = 100
"""A job's name is cut to 97 characters and `...` past 100 (actions/runner, JobNameBuilder.cs,
`maxNameLength`): a check, and a ruleset that requires it, would read the cut name."""
MAX_FILE = 500 * 1024
"""GitHub: "A workflow file larger than 500 KB will not start runs" (Actions limits)."""
MAX_ENV = 128 * 1024
"""One environment value a step's process can be given: Linux's MAX_ARG_STRLEN (32 pages);
past it the runner cannot start the step ("Argument list too long")."""
FIXED, PER_IMAGE = 32 * 1024, 512
"""More than a workflow holds besides the table and the filters (measured: under 20 KB, and a
verify line per image)."""

IMAGES = f"{PROJECT}:images"


def job_names(settings: Settings) -> list[tuple[int, str]]:
    """(image index, name) of every job a build of an image gets in build-push:
    `api-build-and-push (linux/arm64)`. (The pull-request workflow's `Build api (linux/arm64)` is
    shorter: an image's key is as long as its name, or longer.)"""
    return [
        (index, f"{image.key}-build-and-push ({', '.join(platforms)})")
        for index, image in enumerate(settings.images)
        for platforms in legs(settings, image)
    ]


def limit_problems(settings: Settings, rendered: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(full key, message) of each of GitHub's limits the stack's workflows would pass. `rendered`
    (path -> text) is measured when given; else the files are measured only when their lines of
    images could come near the limit."""
    found = []
    builds = len(rows(settings))
    if builds > MAX_JOBS:
        found.append(
            (
                IMAGES,
                f"{IMAGES}: {len(settings.images)} images make {builds} builds (one per image and platform), "
                f"and GitHub runs at most {MAX_JOBS} jobs of one matrix: split the images over two stacks "
                "(each with its own workflow.path), or set workflow.emulate: true (one job per image)",
            )
        )
    longest: dict[int, str] = {}
    for index, name in job_names(settings):
        if len(name) > max(MAX_NAME, len(longest.get(index, ""))):
            longest[index] = name
    for index, name in longest.items():
        key = f"{IMAGES}[{index}].name"
        found.append(
            (
                key,
                f"{key} = {settings.images[index].name!r}: its job '{name}' has {len(name)} characters, and "
                f"GitHub cuts a job's name past {MAX_NAME} (the builds' checks would read alike, and one "
                "required by its name would never report): shorten the image's name",
            )
        )
    table_size = len(table(settings).encode())
    filter_size = len(filters(settings).encode())
    for size, what in ((table_size, "the table of builds"), (filter_size, "the path filters")):
        if size > MAX_ENV:
            found.append(
                (
                    IMAGES,
                    f"{IMAGES}: {what} is {size // 1024} KB, and a step's environment value can be at most "
                    f"{MAX_ENV // 1024} KB (the runner could not start the step): split the images over two "
                    "stacks, or shorten their build arguments, labels and paths",
                )
            )
    if rendered is None and table_size + filter_size + PER_IMAGE * len(settings.images) + FIXED > MAX_FILE:
        from components.workflow_render import committed_files

        rendered = committed_files(settings)
    for path, text in (rendered or {}).items():
        if (size := len(text.encode())) > MAX_FILE:
            found.append(
                (
                    IMAGES,
                    f"{IMAGES}: the workflow {path} would be {size // 1024} KB, and GitHub starts no run "
                    f"of a workflow file over {MAX_FILE // 1024} KB: split the images over two stacks (each "
                    "with its own workflow.path)",
                )
            )
    return found
