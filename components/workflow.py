"""The workflow file, committed to the repository once everything it reads exists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_github as github


@dataclass(frozen=True)
class WorkflowFileArgs:
    repository: str
    branch: str
    path: str
    content: str
    """The rendered workflow (see components.workflow_render): plain text, never an Output."""
    stack: str
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Every variable, secret and repository: the commit triggers a run that needs them all."""


class WorkflowFile(pulumi.ComponentResource):
    """`build-push.yml` committed to `branch` with `github.RepositoryFile`."""

    file: github.RepositoryFile
    path: str

    def __init__(self, name: str, args: WorkflowFileArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:workflow:WorkflowFile", name, None, opts)
        if not isinstance(args.content, str):
            # An Output here would be written into the file as "Calling __str__ on an Output[T]".
            raise TypeError("WorkflowFileArgs.content must be the rendered text, not an Output")
        self.path = args.path
        self.file = github.RepositoryFile(
            f"{name}-file",
            repository=args.repository,
            branch=args.branch,
            file=args.path,
            content=args.content,
            commit_message=f"ci: update {args.path} (acr-pipeline stack {args.stack})",
            # A hand-written build-push.yml already in the repository is taken over.
            overwrite_on_create=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # Same file path on replacement: create-before-delete would delete the new file.
                delete_before_replace=True,
            ),
        )
        self.register_outputs({"path": self.path})
