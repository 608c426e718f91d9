"""The pull-request workflow (`workflow.pullRequests`, committed at `workflow.pullRequestPath`):
each image whose files a pull request changes is built for every platform, and nothing is
pushed, so a broken Dockerfile shows on the pull request, not after the merge.

It holds no credential at all: no registry login, no `secrets.`, no `id-token`, and never
`pull_request_target` (which would run with the base repository's secrets on a fork's code).
It reads the owning stack's build cache and writes none, so a pull request cannot seed what a
branch or release build restores. A fork's pull request runs the same way.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.settings import Image, Settings, platform_key
from components.workflow_render.jobs import changes
from components.workflow_render.parts import checkout, job, run, script, step
from components.workflow_render.push import build_options

BASE = "${{ github.event.pull_request.base.sha }}"


def _build(settings: Settings, image_: Image, platforms: tuple[str, ...]) -> CommentedMap:
    """One build of the image: natively on the platform's runner, or every platform under QEMU."""
    mode = settings.workflow.pin_actions
    native = len(platforms) == 1 and not settings.workflow.emulate
    runner = settings.workflow.runner_of.get(platforms[0]) if native else None
    out = job(
        settings,
        f"Build {image_.name} ({', '.join(platforms)})",
        settings.workflow.timeout_minutes.build,
        needs=["changes"],
        # A failed detection builds (fails open), as on pushes.
        condition=f"!cancelled() && needs.changes.outputs.{image_.key} != 'false'",
        runner=runner,
    )
    steps = [checkout(mode)]
    if runner is None and platforms != ("linux/amd64",):
        steps.append(step(f"Set up QEMU ({', '.join(platforms)})", "docker/setup-qemu-action", mode))
    scope = settings.cache_scope(image_, platforms[0] if native and len(image_.platforms) > 1 else None)
    build = {
        "context": image_.context,
        "file": image_.dockerfile,
        "platforms": ",".join(platforms),
        "push": False,
        **build_options(settings, image_, scope, write_cache=False),
    }
    steps += [
        step("Set up Docker Buildx", "docker/setup-buildx-action", mode),
        step("Build, pushing nothing", "docker/build-push-action", mode, build),
        run(
            "Summarize what was built",
            script("summary"),
            env={"IMAGE": image_.name, "PLATFORMS": ", ".join(platforms), "PUSHED": "false"},
        ),
    ]
    out["steps"] = CommentedSeq(steps)
    return out


def pull_request_workflow(settings: Settings, adopted_name: str | None = None) -> CommentedMap:
    """The workflow as an ordered mapping. Its name is that of the file it takes over (`adopt`),
    else `only-build (<stack>)`."""
    doc = CommentedMap()
    doc["name"] = adopted_name or f"only-build ({settings.stack})"
    doc["on"] = CommentedMap(pull_request=CommentedMap(branches=CommentedSeq([settings.github.branch])))
    doc["permissions"] = CommentedMap(contents="read")
    # A new push to the pull request makes the older run pointless.
    doc["concurrency"] = CommentedMap(
        [
            ("group", "${{ github.workflow }}-${{ github.event.pull_request.number }}"),
            ("cancel-in-progress", True),
        ]
    )
    jobs = CommentedMap(changes=changes(settings, base=BASE))
    for image_ in settings.images:
        if len(image_.platforms) == 1 or settings.workflow.emulate:
            jobs[f"{image_.key}-build"] = _build(settings, image_, image_.platforms)
        else:
            for platform in image_.platforms:
                jobs[f"{image_.key}-build-{platform_key(platform)}"] = _build(settings, image_, (platform,))
    doc["jobs"] = jobs
    doc.yaml_set_start_comment(
        f"Managed by acr-pipeline (Pulumi stack '{settings.stack}'): edit the stack config and run\n"
        "`pulumi up`, not this file; manual changes are overwritten. Builds pull requests; pushes nothing."
    )
    return doc
