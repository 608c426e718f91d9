"""The committed workflows, rendered from settings by pure functions.

`render` gives the `build-push` workflow (jobs: components/workflow_render/jobs.py) and
`render_pull_requests` the pull-request workflow (pull_requests.py). Each is built as a data
structure and emitted by ruamel.yaml, so every value that comes from configuration is quoted
by the emitter, never spliced into YAML text; values reach shell scripts (scripts/, placed by
parts.py) through `env:`. The same settings always give the same bytes (no timestamps, fixed
key order), so a second `pulumi up` shows no change.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.settings import Settings
from components.workflow_render import jobs
from components.workflow_render.parts import dump
from components.workflow_render.pull_requests import pull_request_workflow

__all__ = ["committed_files", "render", "render_pull_requests", "workflow"]


def workflow(settings: Settings, adopted_name: str | None = None) -> CommentedMap:
    """The workflow as an ordered mapping (what `render` emits). Its name is the configured
    one, else that of the workflow it takes over (`adopt`), else `build-push (<stack>)`."""
    doc = CommentedMap()
    doc["name"] = settings.workflow.name or adopted_name or f"build-push ({settings.stack})"
    push = CommentedMap()
    if settings.workflow.branch_builds:
        push["branches"] = CommentedSeq([settings.github.branch])
    if settings.workflow.tags:
        push["tags"] = CommentedSeq(settings.workflow.tags)
    verify = CommentedMap(
        description="Only verify: the registry login and each image's repository; nothing is built or pushed",
        type="boolean",
        default=False,
    )
    doc["on"] = CommentedMap(push=push, workflow_dispatch=CommentedMap(inputs=CommentedMap(verify=verify)))
    doc["permissions"] = CommentedMap(contents="read")
    # Superseded runs of a ref are cancelled; a verify run is in a group of its own, so that it
    # never cancels a build (nor a build it), and so is a re-run (an older commit's run attempted
    # again must not cancel the newer run of the ref).
    group = (
        "${{ github.workflow }}-${{ github.ref }}${{ inputs.verify && '-verify' || '' }}"
        "${{ github.run_attempt != '1' && format('-{0}', github.run_id) || '' }}"
    )
    doc["concurrency"] = CommentedMap([("group", group), ("cancel-in-progress", True)])
    out = CommentedMap()
    if not settings.workflow.branch_builds:
        out["release-tags-only"] = jobs.release_tags_only(settings)
    out["changes"] = jobs.changes(settings)
    out["build"] = jobs.build(settings)
    out["verify"] = jobs.verify(settings)
    if settings.workflow.notify:
        out["notify-failure"] = jobs.notify(settings, settings.workflow.notify, list(out))
    doc["jobs"] = out
    doc.yaml_set_start_comment(
        f"Managed by acr-pipeline (Pulumi stack '{settings.stack}'): edit the stack config and run\n"
        "`pulumi up`, not this file; manual changes are overwritten."
    )
    return doc


def render(settings: Settings, adopted_name: str | None = None) -> str:
    """The `build-push` workflow file's exact text."""
    return dump(workflow(settings, adopted_name))


def render_pull_requests(settings: Settings, adopted_name: str | None = None) -> str:
    """The pull-request workflow file's exact text (`workflow.pullRequests`)."""
    return dump(pull_request_workflow(settings, adopted_name))


def committed_files(settings: Settings) -> dict[str, str]:
    """Every file the stack commits, by its path in the repository: the build-push workflow and,
    with `workflow.pullRequests`, the pull-request one (as rendered without adoption)."""
    files = {settings.workflow_path: render(settings)}
    if settings.workflow.pull_requests:
        files[settings.workflow.pull_request_path] = render_pull_requests(settings)
    return files
