"""acr-pipeline: an ACR namespace and repositories, the GitHub Actions settings, and the
build-push workflow that uses them. Reads settings, wires components, exports outputs."""

import pulumi

from components import settings as config
from components.github_settings import GitHubActionsSettings, GitHubSettingsArgs
from components.registry import AcrRegistry, RegistryArgs
from components.workflow import WorkflowFile, WorkflowFileArgs
from components.workflow_render import render

# Every configuration error is reported here, before any resource is registered.
settings = config.load()

registry = AcrRegistry(
    "registry",
    RegistryArgs(
        registry=settings.registry,
        images=settings.images,
        source=f"{settings.github.owner}/{settings.github.repository}",
    ),
)

# Values come from settings, not resource outputs, so GitHub is written in parallel with ACR.
actions = GitHubActionsSettings(
    "github",
    GitHubSettingsArgs(
        repository=settings.github.repository,
        variables=settings.variables,
        username=settings.registry_username,
        password=settings.registry_password,
        environment=settings.github.environment,
    ),
)

workflow = WorkflowFile(
    "workflow",
    WorkflowFileArgs(
        repository=settings.github.repository,
        branch=settings.github.branch,
        path=settings.workflow.path,
        content=render(settings),
        stack=settings.stack,
        depends_on=[
            *actions.variables.values(),
            *actions.secrets.values(),
            *registry.repositories.values(),
        ],
    ),
)

pulumi.export("registryEndpoint", settings.registry.endpoint)
pulumi.export("images", {image.name: settings.image_reference(image) for image in settings.images})
pulumi.export("workflowPath", settings.workflow.path)
pulumi.export("variables", list(settings.variables))
pulumi.export("secrets", list(settings.secret_names))
