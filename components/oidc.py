"""Keyless pushes (`auth.mode: oidc`): GitHub's OIDC token -> a RAM role -> a temporary ACR token.

The build job asks GitHub for an OIDC token, `aliyun/configure-aliyun-credentials-action`
trades it for STS credentials of a RAM role (AssumeRoleWithOIDC), and `aliyun/acr-login` turns
those into a temporary registry login (GetAuthorizationToken): no password is stored anywhere.
The role's trust policy admits only this repository's runs (its environment, or its branch and
release tags) for GitHub's issuer and the STS audience; its policy allows push and pull on this
stack's repositories and nothing else. Policy documents are data, serialized by
`Output.json_dumps`, never formatted as text.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_alicloud as alicloud
import pulumi_github as github

from components.contract import GITHUB_ISSUER, PROJECT, PROVIDER_VARIABLE, ROLE_VARIABLE, STS_AUDIENCE
from components.github_settings import github_id
from components.settings import Settings
from components.stackfile import StackFileError, provider_creators


class ProviderNotFound(pulumi.RunError):
    """The OIDC provider a stack names is not in the account: one clear line at preview."""


def named_provider_arn(s: Settings) -> str:
    """The ARN of the account's OIDC provider that `auth.oidcProvider` names (by name, or by an
    ARN that must be the one found): one lookup, before any resource is registered.

    `nameRegex` is a Go regexp, unanchored (data_source_alicloud_ims_oidc_providers.go): anchored
    here, and the names compared exactly."""
    name = s.auth.named_provider or ""
    found = alicloud.ims.get_oidc_providers(name_regex=f"^{re.escape(name)}$").providers
    arns = [p.arn for p in found if p.oidc_provider_name == name]
    key = f"{PROJECT}:auth.oidcProvider = {json.dumps(s.auth.oidc_provider)}"
    if not arns:
        raise ProviderNotFound(
            f"{key}: the account has no OIDC provider named {name!r}; {creator_hint(s, name)}"
        )
    if s.auth.oidc_provider.startswith("acs:") and arns[0] != s.auth.oidc_provider:
        raise ProviderNotFound(
            f"{key}: the account's provider {name!r} is {arns[0]}, another ARN (another account id?); "
            f"name it by its name alone, `oidcProvider: {name}`, and its ARN is looked up"
        )
    return str(arns[0])


def creator_hint(s: Settings, name: str) -> str:
    """Which stack creates the provider, as `make check-stacks` would tell (the stack files are
    beside the program), else what to do."""
    try:
        creators = provider_creators(name, s.registry.instance_id)
    except (OSError, StackFileError):  # a hint only: the stack files may be elsewhere, or broken
        creators = []
    if creators:
        stack = creators[0]
        return (
            f"stack '{stack}' creates it (auth.oidcProvider: create): run `pulumi up --stack {stack}` first"
        )
    return (
        "create it with one stack of this account (auth.oidcProvider: create, auth.providerName: "
        f"{name}) and deploy that stack first, or check the name in the RAM console"
    )


def subjects(s: Settings) -> list[str]:
    """The `sub` claims that may assume the role (the settings derive them, so that the verify
    run's diagnosis shows exactly what the trust policy admits)."""
    return list(s.trusted_subjects)


def trust_policy(provider_arn: str, allowed: list[str]) -> dict[str, Any]:
    """Who may assume the role: tokens from GitHub's issuer, for STS, with one of `allowed` as
    subject, presented through this OIDC provider (RAM's trust policy for an OIDC IdP)."""
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Federated": [provider_arn]},
                "Condition": {
                    "StringEquals": {"oidc:iss": GITHUB_ISSUER, "oidc:aud": STS_AUDIENCE},
                    "StringLike": {"oidc:sub": allowed},
                },
            }
        ],
    }


def push_policy(s: Settings) -> dict[str, Any]:
    """Push and pull on exactly this stack's repositories (and pull on those a release is promoted
    from). GetAuthorizationToken takes no resource (Alibaba's API reference: all resources); the
    token it returns has only the role's rights."""
    reg = s.registry

    def arns(namespace: str) -> list[str]:
        return [f"acs:cr:{s.region}:*:repository/{reg.instance_id}/{namespace}/{i.name}" for i in s.images]

    push = {
        "Effect": "Allow",
        "Action": ["cr:PullRepository", "cr:PushRepository"],
        "Resource": arns(reg.namespace),
    }
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["cr:GetAuthorizationToken"], "Resource": "*"},
        push,
    ]
    promote = s.workflow.promote
    if promote and promote.from_namespaces:
        # A release promotes the image another stack built: reading it is all this role may do.
        others = [arn for ns in promote.from_namespaces for arn in arns(ns)]
        statements.append({"Effect": "Allow", "Action": ["cr:PullRepository"], "Resource": others})
    return {"Version": "1", "Statement": statements}


def role_name(s: Settings) -> str:
    """One role per stack and repository, stable, within RAM's 64 characters."""
    name = re.sub(r"[^A-Za-z0-9.-]", "-", f"acr-push-{s.owner}-{s.github.repository}-{s.stack}")
    if len(name) <= 64:
        return name
    return f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class PushRoleArgs:
    settings: Settings
    provider_arn: str | None = None
    """The ARN of the provider another stack created (`named_provider_arn`); None: create it."""
    ruleset_import: str | None = None
    """The import ID of the release-tag ruleset that exists already (`adopt`), or None."""


ADMIN_ROLE = 5
"""The repository role `admin` as a ruleset's bypass actor (`RepositoryRole` ids: maintain 2,
write 4, admin 5; terraform-provider-github v6.13, docs/resources/repository_ruleset.md)."""


class PushRole(pulumi.ComponentResource):
    """The OIDC provider (unless another stack owns it), the role, its policy and attachment."""

    provider: alicloud.ims.OidcProvider | None
    ruleset: github.RepositoryRuleset | None
    """With release tags and no environment: who may create, move or delete them (the role
    trusts every run of such a tag)."""
    role: alicloud.ram.Role
    policy: alicloud.ram.Policy
    attachment: alicloud.ram.RolePolicyAttachment
    provider_arn: pulumi.Output[str]
    """The ARN of the account's OIDC provider: created here, or looked up by name."""
    variables: dict[str, pulumi.Output[str]]
    """The GitHub variables that come from these resources: the role's ARN, and the provider's."""
    prerequisites: list[pulumi.Resource]
    """What a build needs in place before the workflow's first run can log in."""

    def __init__(self, name: str, args: PushRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("acr-pipeline:oidc:PushRole", name, None, opts)
        s, auth = args.settings, args.settings.auth
        child = pulumi.ResourceOptions(parent=self)
        self.provider = None
        if args.provider_arn is not None:
            provider_arn = pulumi.Output.from_input(args.provider_arn)
        else:
            self.provider = alicloud.ims.OidcProvider(
                f"{name}-provider",
                oidc_provider_name=auth.provider_name,
                issuer_url=GITHUB_ISSUER,
                client_ids=[STS_AUDIENCE],
                fingerprints=list(auth.fingerprints),
                description="GitHub Actions OIDC, for acr-pipeline push roles",
                # One per account, named by the other stacks' roles: `destroy` (or a switch back
                # to passwords) of this stack must not break their logins.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            provider_arn = self.provider.arn
        allowed = subjects(s)
        self.ruleset = self._release_tags(name, s, args.ruleset_import)
        self.role = alicloud.ram.Role(
            f"{name}-role",
            role_name=role_name(s),
            assume_role_policy_document=pulumi.Output.json_dumps(
                provider_arn.apply(lambda arn: trust_policy(arn, allowed))
            ),
            # A session may last as long as the role allows (RAM: 3600 to 43200 seconds).
            max_session_duration=max(3600, auth.session_seconds),
            description=f"Pushes {s.owner}/{s.github.repository} images (acr-pipeline stack {s.stack})",
            # A role that trusts release tags exists only once they are protected.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ruleset] if self.ruleset else None),
        )
        self.policy = alicloud.ram.Policy(
            f"{name}-policy",
            policy_name=f"{role_name(s)}-policy",  # at most 71 characters: RAM takes 128
            policy_document=pulumi.Output.json_dumps(push_policy(s)),
            # RAM keeps five versions of a policy: the sixth change would fail without this.
            rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded",
            description=f"Push and pull on the repositories of acr-pipeline stack {s.stack}",
            opts=child,
        )
        self.attachment = alicloud.ram.RolePolicyAttachment(
            f"{name}-attachment",
            role_name=self.role.role_name,
            policy_name=self.policy.policy_name,
            policy_type="Custom",
            opts=child,
        )
        self.provider_arn = provider_arn
        self.variables = {ROLE_VARIABLE: self.role.arn, PROVIDER_VARIABLE: provider_arn}
        self.prerequisites = [self.role, self.attachment, *filter(None, [self.provider, self.ruleset])]
        self.register_outputs({"roleArn": self.role.arn, "oidcProviderArn": provider_arn})

    def _release_tags(self, name: str, s: Settings, import_id: str | None) -> github.RepositoryRuleset | None:
        """A tag ruleset: only its bypass actors (github.releasers, else the repository's admins)
        may create, move or delete the tags the role trusts (`Settings.release_tag_ruleset`).
        Rulesets need a public repository, or a private one on GitHub Pro, Team or Enterprise
        Cloud; on GitHub Free a private repository's create fails with 403 "Upgrade to GitHub Pro
        or make this repository public to enable this feature" (docs/oidc.md)."""
        refs = s.release_tag_ruleset
        if not refs:
            return None
        releasers = s.github.releasers
        if releasers is None:
            bypass = [
                github.RepositoryRulesetBypassActorArgs(
                    actor_id=ADMIN_ROLE, actor_type="RepositoryRole", bypass_mode="always"
                )
            ]
        else:
            bypass = [
                github.RepositoryRulesetBypassActorArgs(
                    actor_id=github_id(kind, who, self), actor_type=actor, bypass_mode="always"
                )
                for kind, actor, names in (
                    ("user", "User", releasers.users),
                    ("team", "Team", releasers.teams),
                )
                for who in names
            ]
        return github.RepositoryRuleset(
            f"{name}-release-tags",
            name=s.release_tag_ruleset_name,
            repository=s.github.repository,
            target="tag",
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(includes=list(refs), excludes=[])
            ),
            rules=github.RepositoryRulesetRulesArgs(creation=True, update=True, deletion=True),
            bypass_actors=bypass,
            opts=pulumi.ResourceOptions(parent=self, import_=import_id),
        )
