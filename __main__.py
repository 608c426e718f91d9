"""acr-pipeline: an ACR namespace and repositories, the GitHub Actions settings, and the
build-push workflow that uses them. Reads settings, wires components, exports outputs."""

import pulumi

from components import settings as config
from components.github_settings import EnvironmentArgs, GitHubActionsSettings, GitHubSettingsArgs
from components.registry import AcrRegistry, RegistryArgs
from components.workflow import WorkflowFile, WorkflowFileArgs
from components.workflow_render import render

# Every configuration error is reported here, before any resource is registered.
settings = config.load()
gh = settings.github

registry = AcrRegistry(
    "registry",
    RegistryArgs(
        registry=settings.registry,
        images=settings.images,
        source=f"{gh.owner}/{gh.repository}",
        stack=settings.stack,
    ),
)

# Values come from settings, not resource outputs, so GitHub is written in parallel with ACR.
actions = GitHubActionsSettings(
    "github",
    GitHubSettingsArgs(
        repository=gh.repository,
        variables=settings.variables,
        secrets=settings.secrets,
        repository_secrets=settings.repository_secrets,
        environment=(
            EnvironmentArgs(
                name=gh.environment,
                reviewers=gh.reviewers,
                wait_timer=gh.wait_timer,
                deployment_branches=gh.deployment_branches,
                deployment_tags=gh.deployment_tags,
            )
            if gh.environment
            else None
        ),
    ),
)

workflow = WorkflowFile(
    "workflow",
    WorkflowFileArgs(
        repository=gh.repository,
        branch=gh.branch,
        path=settings.workflow.path,
        content=render(settings),
        stack=settings.stack,
        # The run its commit triggers needs every variable, secret, repository, environment
        # rule and the registry's internet access in place (retention and scan rules it does not).
        depends_on=[
            *actions.variables.values(),
            *actions.secrets.values(),
            *actions.policies,
            *registry.repositories.values(),
            *([registry.internet_endpoint] if registry.internet_endpoint else []),
        ],
        via_pull_request=settings.workflow.via_pull_request,
    ),
)

pulumi.export("registryEndpoint", settings.registry.endpoint)
pulumi.export("images", {image.name: settings.image_reference(image) for image in settings.images})
pulumi.export("workflowPath", settings.workflow.path)
pulumi.export("variables", list(settings.variables))
pulumi.export("secrets", list(settings.secret_names))
pulumi.export("registrySettings", config.registry_summary(settings))
