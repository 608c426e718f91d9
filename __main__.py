"""acr-pipeline: an ACR namespace and repositories, the GitHub Actions settings, and the
build-push workflow that uses them. Reads settings, wires components, exports outputs."""

import pulumi

from components import config
from components.adoption import adoption, leftover_secrets_warning
from components.github_settings import GitHubActionsSettings, GitHubSettingsArgs
from components.lookups import refused_lookups_explained
from components.oidc import PushRole, PushRoleArgs, named_provider_arn
from components.preflight import preflight
from components.registry import AcrRegistry, RegistryArgs, registry_summary
from components.workflow import WorkflowFile, WorkflowFileArgs, committed_files

# Every configuration error is reported here, before any resource is registered.
settings = config.load()
with refused_lookups_explained():
    # With `adopt`, what already exists is looked up and imported.
    existing = adoption(settings)
    # What would make the first build fail: the Dockerfiles on the branch, the instance's name.
    warnings = preflight(settings)
    # An OIDC provider another stack created is named; its ARN is looked up (and must exist) now.
    provider_arn = named_provider_arn(settings) if settings.auth.named_provider else None
if (kept := existing.workflow_name(settings.workflow_path)) and not settings.workflow.name:
    pulumi.log.warn(
        f"the workflow keeps its name {kept!r} (workflow_run chains depend on it); set "
        f"acr-pipeline:workflow.name to {kept!r} to keep it should you ever remove `adopt`"
    )
if leftover := leftover_secrets_warning(settings, existing.existing):
    pulumi.log.warn(leftover)
for warning in warnings:
    pulumi.log.warn(warning)

registry = AcrRegistry(
    "registry",
    RegistryArgs(
        registry=settings.registry,
        images=settings.images,
        source=f"{settings.owner}/{settings.github.repository}",
        stack=settings.stack,
        adoption=existing,
        signed=settings.workflow.sign,
    ),
)

# With `auth.mode: oidc`, a RAM role that admits this repository's runs replaces the password.
role = (
    PushRole("oidc", PushRoleArgs(settings, provider_arn, existing.ruleset()))
    if settings.auth.mode == "oidc"
    else None
)

# Values come from settings, not resource outputs (but the RAM role's and the provider's ARNs),
# so GitHub is written in parallel with ACR.
actions = GitHubActionsSettings(
    "github",
    GitHubSettingsArgs(
        github=settings.github,
        variables={**settings.variables, **(role.variables if role else {})},
        adoption=existing,
        secrets=settings.secrets,
        repository_secrets=settings.repository_secrets,
    ),
)

# The run that the commit triggers finds everything it reads already in place.
workflow = WorkflowFile(
    "workflow",
    WorkflowFileArgs(
        repository=settings.github.repository,
        branch=settings.github.branch,
        files=committed_files(settings, existing),
        stack=settings.stack,
        depends_on=[*actions.prerequisites, *registry.prerequisites, *(role.prerequisites if role else [])],
        via_pull_request=settings.workflow.via_pull_request,
    ),
)

pulumi.export("registryEndpoint", settings.endpoint)
pulumi.export("images", {image.name: settings.image_reference(image) for image in settings.images})
pulumi.export("workflowPath", settings.workflow_path)
pulumi.export("variables", list(settings.variable_names))
pulumi.export("secrets", list(settings.secret_names))
pulumi.export("registrySettings", registry_summary(settings))
if role:
    # What the other stacks of the account name (by name; the ARN for the record) and trust.
    pulumi.export("oidcProviderArn", role.provider_arn)
    pulumi.export("roleArn", role.role.arn)
