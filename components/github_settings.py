"""The GitHub side: the Actions variables and secrets the workflow reads, and the GitHub
Environment they are scoped to when the stack has one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_github as github

from components.adoption import Adoption
from components.fields import Secret
from components.settings import GitHub


@dataclass(frozen=True)
class GitHubSettingsArgs:
    github: GitHub
    """The repository, and the environment with its protection rules when there is one."""
    variables: dict[str, pulumi.Input[str]]
    """Variable name -> value (plain text: these are visible in the repository settings)."""
    adoption: Adoption
    """Which variables and which environment already exist, and their import IDs."""
    secrets: dict[str, Secret] = field(default_factory=dict)
    """Secret name -> value, at the stack's scope; written as Pulumi secrets, never shown."""
    repository_secrets: dict[str, Secret] = field(default_factory=dict)
    """Secrets at repository scope even when the stack has an environment."""


class GitHubActionsSettings(pulumi.ComponentResource):
    """Repository (or environment) variables and secrets for the build workflow."""

    environment: github.RepositoryEnvironment | None
    policies: list[github.RepositoryEnvironmentDeploymentPolicy]
    """Deployment branch/tag rules of the environment: runs need them in place."""
    variables: dict[str, pulumi.CustomResource]
    secrets: dict[str, pulumi.CustomResource]
    prerequisites: list[pulumi.Resource]
    """What a workflow run needs in place: every variable, secret and deployment rule."""

    def __init__(
        self, name: str, args: GitHubSettingsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acr-pipeline:github:GitHubActionsSettings", name, None, opts)
        self.repository = args.github.repository
        self.adoption = args.adoption
        self.environment, self.policies = None, []
        if args.github.environment:
            self.environment = self._environment(name, args.github)
            self.policies = self._deployment_policies(name, args.github, self.environment)
        env_name = self.environment.environment if self.environment else None

        self.variables = {
            var: self._variable(f"{name}-var-{var}", var, value, env_name)
            for var, value in args.variables.items()
        }
        self.secrets = {
            secret: self._secret(f"{name}-secret-{secret}", secret, value, env_name)
            for secret, value in args.secrets.items()
        }
        self.secrets.update(
            {
                secret: self._secret(f"{name}-secret-{secret}", secret, value, None)
                for secret, value in args.repository_secrets.items()
            }
        )
        self.prerequisites = [*self.variables.values(), *self.secrets.values(), *self.policies]
        self.register_outputs({"variables": list(self.variables), "secrets": list(self.secrets)})

    def _options(self, import_id: str | None = None) -> pulumi.ResourceOptions:
        # On replacement (a new environment, say) the default create-before-delete would fail
        # or lose the value: creating a variable that exists is a POST that GitHub answers with
        # 409 (resource_github_actions_variable.go, resourceGithubActionsVariableCreate), and a
        # secret is a PUT upsert that the delete of the old one then removes. Delete first.
        # Logical names come from the GitHub names, so reordering images replaces nothing.
        return pulumi.ResourceOptions(parent=self, delete_before_replace=True, import_=import_id)

    def _variable(
        self, resource_name: str, var: str, value: pulumi.Input[str], env_name: pulumi.Output[str] | None
    ) -> pulumi.CustomResource:
        kind = github.ActionsVariable if env_name is None else github.ActionsEnvironmentVariable
        scope = {} if env_name is None else {"environment": env_name}
        resource: pulumi.CustomResource = kind(
            resource_name,
            repository=self.repository,
            variable_name=var,
            value=value,
            opts=self._options(self.adoption.variable(var)),
            **scope,
        )
        return resource

    def _secret(
        self, resource_name: str, secret: str, value: Secret, env_name: pulumi.Output[str] | None
    ) -> pulumi.CustomResource:
        kind = github.ActionsSecret if env_name is None else github.ActionsEnvironmentSecret
        scope = {} if env_name is None else {"environment": env_name}
        resource: pulumi.CustomResource = kind(
            resource_name,
            repository=self.repository,
            secret_name=secret,
            value=pulumi.Output.secret(value.reveal()),
            opts=self._options(),
            **scope,
        )
        return resource

    def _environment(self, name: str, env: GitHub) -> github.RepositoryEnvironment:
        restricted = bool(env.deployment_branches or env.deployment_tags)
        reviewers = None
        if env.reviewers:  # the settings refuse reviewers that name no one
            reviewers = [
                github.RepositoryEnvironmentReviewerArgs(
                    users=[github_id("user", u, self) for u in env.reviewers.users] or None,
                    teams=[github_id("team", t, self) for t in env.reviewers.teams] or None,
                )
            ]
        environment = github.RepositoryEnvironment(
            f"{name}-environment",
            repository=self.repository,
            environment=env.environment,
            reviewers=reviewers,
            # Required reviewers mean something only if an admin cannot skip them and the
            # person who pushed cannot approve their own run (the provider's defaults allow both).
            can_admins_bypass=reviewers is None,
            prevent_self_review=reviewers is not None,
            wait_timer=env.wait_timer,
            deployment_branch_policy=(
                github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                    protected_branches=False, custom_branch_policies=True
                )
                if restricted
                else None
            ),
            # Creating an environment is a PUT that overwrites an existing one's protections
            # (resource_github_repository_environment.go, ...Create): an existing one is imported
            # instead, so `pulumi preview` shows what changes. Deleting it would delete its
            # secrets too, including the team's own: `pulumi destroy` leaves it.
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, import_=self.adoption.environment()
            ),
        )
        return environment

    def _deployment_policies(
        self, name: str, env: GitHub, environment: github.RepositoryEnvironment
    ) -> list[github.RepositoryEnvironmentDeploymentPolicy]:
        """One rule per branch or tag pattern the environment admits. A rule that exists already
        is taken as it is (GitHub answers its POST with 303 and the existing rule)."""
        refs = [("branch", p) for p in env.deployment_branches] + [("tag", p) for p in env.deployment_tags]
        return [
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-deploy-{kind}-{pattern}",
                repository=self.repository,
                environment=environment.environment,
                branch_pattern=pattern if kind == "branch" else None,
                tag_pattern=pattern if kind == "tag" else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for kind, pattern in refs
        ]


def github_id(kind: str, who: int | str, parent: pulumi.Resource) -> pulumi.Input[int]:
    """A reviewer's numeric id as is; a user's login or a team's slug looked up (a data-source
    call, only when a name is given; get_team needs the organization's Members: read)."""
    if isinstance(who, int):
        return who
    options = pulumi.InvokeOutputOptions(parent=parent)
    found = (
        github.get_user_output(username=who, opts=options)
        if kind == "user"
        else github.get_team_output(slug=who, opts=options)
    )
    return cast("pulumi.Output[int]", found.id.apply(int))
