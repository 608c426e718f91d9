"""The images as data: the one table from which the build job's matrix is made.

Everything that differs between images lives here, one line per build (an image on one runner:
a multi-arch image has a line per platform, or one line for every platform under QEMU with
`workflow.emulate`). The workflow carries the table as JSON lines in the `changes` job, which
keeps the lines of the images to build and hands them to the `build` job's matrix; every step
of a build is written once and reads its image from `matrix`.
"""

from __future__ import annotations

import json
from typing import Any

from components import rules
from components.settings import Image, Settings
from components.workflow_render.parts import block


def legs(settings: Settings, image: Image) -> list[tuple[str, ...]]:
    """The image's builds, each the platforms it builds: one per platform on a runner of that
    architecture, or one for every platform under QEMU (`workflow.emulate`)."""
    if settings.workflow.emulate:
        return [image.platforms]
    return [(platform,) for platform in image.platforms]


def native_runner(settings: Settings, platforms: tuple[str, ...]) -> str | None:
    """The runner of the build's own architecture, or None: QEMU on the linux/amd64 runner (no
    runner of that architecture is configured, or `workflow.emulate`)."""
    if settings.workflow.emulate or len(platforms) > 1:
        return None
    return settings.workflow.runner_of.get(platforms[0])


def by_digest(settings: Settings) -> bool:
    """Whether builds push by digest and the image is created once every build of it is in: an
    image with more than one build (a multi-arch image on native runners) needs it, and an
    immutable one gets it so that a re-run finds its tags (scripts/merge.sh). A stack of only
    single-build mutable images pushes each build under its tags directly."""
    return bool(settings.workflow.promote) or any(
        len(legs(settings, image)) > 1 or image.immutable_tags for image in settings.images
    )


def rows(settings: Settings) -> list[dict[str, Any]]:
    """Every build of every image, in the images' order: what the `build` job's matrix reads.
    Keys that would be empty or false are left out (GitHub reads a missing key as empty)."""
    out = []
    digest = by_digest(settings)
    for image in settings.images:
        builds = legs(settings, image)
        for number, platforms in enumerate(builds, 1):
            native = native_runner(settings, platforms)
            row: dict[str, Any] = {
                "image": image.name,
                "key": image.key,
                "variable": image.variable,
                "context": image.context,
                "file": image.dockerfile,
                "platforms": ", ".join(platforms),
                "runner": native or settings.workflow.runner,
            }
            if digest:
                # Its digest's artifact is `digest.<key>.<leg>`: a key holds no `.`, so one image's
                # pattern never matches another's (`digest.api.*` is not `digest.api-v2.1`).
                row |= {"leg": number, "legs": len(builds)}
            if len(builds) > 1:
                row["all"] = ", ".join(image.platforms)
            if native is None and platforms != ("linux/amd64",):
                row["qemu"] = True
            if settings.cache:
                row["cache"] = settings.cache_scope(image, platforms[0] if len(builds) > 1 else None)
            if image.target:
                row["target"] = image.target
            if image.build_args:
                # Plain text in the workflow: build arguments are never secrets.
                row["buildArgs"] = "\n".join(f"{name}={value}" for name, value in image.build_args.items())
            if image.labels:
                row["labels"] = "\n".join(f"{name}={value}" for name, value in image.labels.items())
            if image.immutable_tags:
                row["immutable"] = True
            if settings.workflow.promote:
                row["pathspecs"] = "\n".join(f":(glob){path}" for path in settings.paths(image))
            out.append(row)
    return out


def table(settings: Settings) -> str:
    """The rows as JSON lines, a `|` block: what a reviewer reads to see every image."""
    return block([json.dumps(row, ensure_ascii=False) for row in rows(settings)])


def filters(settings: Settings) -> str:
    """Each image's path patterns for scripts/changes.sh, one a line: image key, + or - (a `!`
    pattern excludes), and the pattern as a POSIX ERE of GitHub's glob semantics."""
    lines = []
    for image in settings.images:
        for path in settings.paths(image):
            sign, glob = ("-", path[1:]) if path.startswith("!") else ("+", path)
            lines.append(f"{image.key} {sign} {rules.github_glob_ere(glob)}")
    return block(lines)


def any_row(settings: Settings, key: str) -> bool:
    """Whether some build's row has `key` (so the steps that read it are written)."""
    return any(key in row for row in rows(settings))
