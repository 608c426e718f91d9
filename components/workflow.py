"""The workflow files, committed to the repository once everything they read exists."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_github as github

from components.adoption import Adoption
from components.settings import Settings
from components.workflow_render import render, render_pull_requests


@dataclass(frozen=True)
class CommittedFile:
    path: str
    content: str
    """The rendered workflow (see components.workflow_render): plain text, never an Output."""
    role: str = ""
    """Part of the logical name: "" for `build-push` (`workflow-file`, as it always was),
    `pull-requests` for the pull-request workflow (`workflow-pull-requests-file`)."""
    import_id: str | None = None
    """The import ID of the file already committed there (adoption), or None."""


@dataclass(frozen=True)
class WorkflowFileArgs:
    repository: str
    branch: str
    files: Sequence[CommittedFile]
    stack: str
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What a run reads or logs in through: every variable and secret, the environment's
    deployment rules, every repository and internet ACL entry, and with OIDC the role, its
    policy attachment and the provider. The commit triggers a run that needs them all."""
    via_pull_request: bool = False
    """Commit to a branch of its own and open a pull request into `branch` (protected branches)."""


def committed_files(settings: Settings, adoption: Adoption) -> list[CommittedFile]:
    """The build-push workflow, and with `workflow.pullRequests` the pull-request one: each keeps
    the name of the file it takes over (`adopt`), and is imported when it exists."""
    path = settings.workflow_path
    files = [CommittedFile(path, render(settings, adoption.workflow_name(path)), "", adoption.file(path))]
    if settings.workflow.pull_requests:
        path = settings.workflow.pull_request_path
        text = render_pull_requests(settings, adoption.workflow_name(path))
        files.append(CommittedFile(path, text, "pull-requests", adoption.file(path)))
    return files


class WorkflowFile(pulumi.ComponentResource):
    """`build-push.yml` (and the pull-request workflow) committed with `github.RepositoryFile`,
    directly or through one pull request."""

    files: dict[str, github.RepositoryFile]
    """Path -> the committed file."""
    pull_request: github.RepositoryPullRequest | None

    def __init__(self, name: str, args: WorkflowFileArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:workflow:WorkflowFile", name, None, opts)
        if not all(isinstance(f.content, str) for f in args.files):
            # An Output here would be written into the file as "Calling __str__ on an Output[T]".
            raise TypeError("CommittedFile.content must be the rendered text, not an Output")
        self.pull_request = None
        paths = ", ".join(f.path for f in args.files)
        message = f"ci: update {paths} (acr-pipeline stack {args.stack})"

        target: pulumi.Input[str] = args.branch
        # In pull-request mode the branch name carries the content's hash, and a new name makes a
        # new branch (a rename is the provider's default, of a branch GitHub may have deleted at
        # the merge), so a new file and a new pull request (`branch` and `head_ref` are ForceNew).
        # The old ones are forgotten, not deleted: merged, their branch may be gone already.
        review = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        if args.via_pull_request:
            contents = "".join(f.content for f in args.files)
            digest = hashlib.sha256(contents.encode()).hexdigest()[:10]
            head = github.Branch(
                f"{name}-branch",
                repository=args.repository,
                branch=f"acr-pipeline/{args.stack}-{digest}",
                source_branch=args.branch,
                opts=pulumi.ResourceOptions.merge(
                    review, pulumi.ResourceOptions(replace_on_changes=["branch"])
                ),
            )
            target = head.branch

        self.files = {
            f.path: github.RepositoryFile(
                f"{name}-{f.role + '-' if f.role else ''}file",
                repository=args.repository,
                branch=target,
                file=f.path,
                content=f.content,
                commit_message=message,
                # A file that exists is refused unless this is set (resource_github_repository_file.go,
                # ...Create: "refusing to overwrite existing file"): a hand-written workflow is taken
                # over only with `adopt`, which imports it. A pull request's branch is ours, and holds
                # the base branch's copy of the file from the start.
                overwrite_on_create=args.via_pull_request,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(args.depends_on),
                    # Same file path on replacement: create-before-delete would delete the new file.
                    delete_before_replace=True,
                    retain_on_delete=args.via_pull_request,
                    import_=f.import_id,
                ),
            )
            for f in args.files
        }

        if args.via_pull_request:
            self.pull_request = github.RepositoryPullRequest(
                f"{name}-pull-request",
                base_repository=args.repository,
                base_ref=args.branch,
                head_ref=target,
                title=message,
                body=(
                    f"Generated by `pulumi up` on stack `{args.stack}` of acr-pipeline. "
                    "The variables, secrets and registry repositories it uses already exist; "
                    "merging starts the first build."
                ),
                opts=pulumi.ResourceOptions.merge(
                    review, pulumi.ResourceOptions(depends_on=list(self.files.values()))
                ),
            )
        self.register_outputs({"paths": list(self.files)})
