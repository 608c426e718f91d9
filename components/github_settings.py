"""The GitHub side: the Actions variables and secrets the workflow reads."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_github as github

from components.settings import PASSWORD_SECRET, USER_SECRET, Secret


@dataclass(frozen=True)
class GitHubSettingsArgs:
    repository: str
    variables: dict[str, str]
    """Variable name -> value (plain text: these are visible in the repository settings)."""
    username: str
    password: Secret
    environment: str | None = None
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

        self.environment = None
        if args.environment:
            self.environment = github.RepositoryEnvironment(
                f"{name}-environment",
                repository=args.repository,
                environment=args.environment,
                opts=pulumi.ResourceOptions(parent=self),
            )
            # Scoped values need the environment to exist first.
            env_name = self.environment.environment
            child = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.environment]))

        self.variables = {}
        for var, value in args.variables.items():
            if self.environment is not None:
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

        secret_values = {
            USER_SECRET: pulumi.Output.secret(args.username),
            PASSWORD_SECRET: pulumi.Output.secret(args.password.reveal()),
        }
        self.secrets = {}
        for secret_name, secret_value in secret_values.items():
            if self.environment is not None:
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
