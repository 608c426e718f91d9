"""The GitHub side: the Actions variables and secrets the workflow reads, and the GitHub
Environment they are scoped to when the stack has one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_github as github

from components.settings import Reviewers, Secret


@dataclass(frozen=True)
class EnvironmentArgs:
    name: str
    reviewers: Reviewers = field(default_factory=Reviewers)
    wait_timer: int | None = None
    deployment_branches: tuple[str, ...] = ()
    deployment_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GitHubSettingsArgs:
    repository: str
    variables: dict[str, str]
    """Variable name -> value (plain text: these are visible in the repository settings)."""
    secrets: dict[str, Secret] = field(default_factory=dict)
    """Secret name -> value; written as Pulumi secrets, never shown."""
    environment: EnvironmentArgs | None = None
    """Scope variables and secrets to this GitHub Environment, which is created."""


class GitHubActionsSettings(pulumi.ComponentResource):
    """Repository (or environment) variables and secrets for the build workflow."""

    environment: github.RepositoryEnvironment | None
    variables: dict[str, pulumi.CustomResource]
    secrets: dict[str, pulumi.CustomResource]

    def __init__(
        self, name: str, args: GitHubSettingsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acr-pipeline:github:GitHubActionsSettings", name, None, opts)
        # GitHub writes variables and secrets with an upsert: on replacement the default
        # create-before-delete would write the new value, then delete it. Delete first.
        # Logical names come from the GitHub names, so reordering images replaces nothing.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        env = args.environment
        self.environment = self._environment(name, args.repository, env) if env else None
        env_name = self.environment.environment if self.environment else None

        self.variables = {}
        for var, value in args.variables.items():
            if env_name is not None:
                self.variables[var] = github.ActionsEnvironmentVariable(
                    f"{name}-var-{var}",
                    repository=args.repository,
                    environment=env_name,
                    variable_name=var,
                    value=value,
                    opts=child,
                )
            else:
                self.variables[var] = github.ActionsVariable(
                    f"{name}-var-{var}",
                    repository=args.repository,
                    variable_name=var,
                    value=value,
                    opts=child,
                )

        self.secrets = {}
        for secret_name, secret in args.secrets.items():
            secret_value = pulumi.Output.secret(secret.reveal())
            if env_name is not None:
                self.secrets[secret_name] = github.ActionsEnvironmentSecret(
                    f"{name}-secret-{secret_name}",
                    repository=args.repository,
                    environment=env_name,
                    secret_name=secret_name,
                    value=secret_value,
                    opts=child,
                )
            else:
                self.secrets[secret_name] = github.ActionsSecret(
                    f"{name}-secret-{secret_name}",
                    repository=args.repository,
                    secret_name=secret_name,
                    value=secret_value,
                    opts=child,
                )

        self.register_outputs({"variables": list(self.variables), "secrets": list(self.secrets)})

    def _environment(self, name: str, repository: str, env: EnvironmentArgs) -> github.RepositoryEnvironment:
        restricted = bool(env.deployment_branches or env.deployment_tags)
        reviewers = None
        if env.reviewers.users or env.reviewers.teams:
            reviewers = [
                github.RepositoryEnvironmentReviewerArgs(
                    users=[_user_id(u, self) for u in env.reviewers.users] or None,
                    teams=[_team_id(t, self) for t in env.reviewers.teams] or None,
                )
            ]
        environment = github.RepositoryEnvironment(
            f"{name}-environment",
            repository=repository,
            environment=env.name,
            reviewers=reviewers,
            wait_timer=env.wait_timer,
            deployment_branch_policy=(
                github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                    protected_branches=False, custom_branch_policies=True
                )
                if restricted
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        policies = [("branch", p) for p in env.deployment_branches] + [
            ("tag", p) for p in env.deployment_tags
        ]
        for kind, pattern in policies:
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-deploy-{kind}-{pattern}",
                repository=repository,
                environment=environment.environment,
                branch_pattern=pattern if kind == "branch" else None,
                tag_pattern=pattern if kind == "tag" else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return environment


def _user_id(user: int | str, parent: pulumi.Resource) -> pulumi.Input[int]:
    """A numeric id as is; a login looked up (the one data-source call, and only when asked)."""
    if isinstance(user, int):
        return user
    found = github.get_user_output(username=user, opts=pulumi.InvokeOutputOptions(parent=parent))
    return cast("pulumi.Output[int]", found.id.apply(int))


def _team_id(team: int | str, parent: pulumi.Resource) -> pulumi.Input[int]:
    if isinstance(team, int):
        return team
    found = github.get_team_output(slug=team, opts=pulumi.InvokeOutputOptions(parent=parent))
    return cast("pulumi.Output[int]", found.id.apply(int))
