"""Every mistake a user can make is refused before anything is registered, in one message that
names the key, the value and the rule, and never shows a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import assume, event, find, given
from hypothesis import strategies as st

from components.config import ConfigError
from components.rules import ACR_LIMITS, acr_name, github_name, repository, workflow_path
from tests.conftest import KNOWN_PASSWORD, SECRET_KEYS, config, encode, settings_for
from tools.mock_engine import RecordingMonitor, run_program

USERNAME = "acr-pipeline:registryUsername"
PROMOTING = {"tags": ["v*"], "promote": {}}
WEBHOOK = "https://hooks.slack.com/services/T000/B000/leakme"


@dataclass
class Case:
    id: str
    overrides: dict[str, Any]
    expected: list[str]
    """Substrings of the message: the key (as written in the stack file) and the rule."""
    secret_keys: set[str] = field(default_factory=lambda: set(SECRET_KEYS))
    absent: list[str] = field(default_factory=list)
    """Substrings the message must not hold (values that must not be echoed)."""
    count: int | None = None
    """How many problems exactly, where follow-on errors must not appear."""
    exact: list[str] = field(default_factory=list)
    """Problems that must be reported word for word (each a whole line of the message)."""


CASES = [
    # --- secrets
    Case(
        "plaintext-password",
        {},
        [
            "acr-pipeline:registryPassword: is stored in plaintext",
            "`pulumi config set --secret registryPassword` (the value is not shown here)",
        ],
        set(),
    ),
    Case(
        "missing-password",
        {"registryPassword": None},
        [],
        exact=[
            "acr-pipeline:registryPassword: is required; set it with "
            "`pulumi config set --secret registryPassword`"
        ],
    ),
    Case(
        "empty-password",
        {"registryPassword": ""},
        [],
        exact=[
            "acr-pipeline:registryPassword: is required; set it with "
            "`pulumi config set --secret registryPassword`"
        ],
    ),
    Case(
        "missing-username",
        {"registryUsername": None},
        [],
        exact=["acr-pipeline:registryUsername: is required"],
    ),
    Case(
        "plaintext-github-token",
        {"github:token": "ghp_0123456789abcdef"},
        [
            "github:token: is stored in plaintext",
            "`pulumi config set --secret github:token` (or leave it unset and export GITHUB_TOKEN)",
        ],
    ),
    Case(
        "plaintext-webhook",
        {"workflow": {"notify": {"kind": "slack"}}, "notifyWebhookUrl": WEBHOOK},
        [
            "acr-pipeline:notifyWebhookUrl: is stored in plaintext",
            "`pulumi config set --secret notifyWebhookUrl`",
        ],
    ),
    # --- provider settings
    Case("missing-region", {"alicloud:region": None}, ["alicloud:region: is required"]),
    Case("bad-region", {"alicloud:region": "Hangzhou"}, ['alicloud:region = "Hangzhou"', "region id"]),
    Case("missing-owner", {"github:owner": None}, ["github:owner: is required"]),
    Case("bad-owner", {"github:owner": "-acme"}, ['github:owner = "-acme"', "login"]),
    # --- each rule in the stack's own words
    Case(
        "repository-name-of-a-personal-stack-quotes-the-personal-rule",
        {"registry": {"edition": "personal", "instanceId": None}, "images": [{"name": "API"}]},
        [],
        exact=[
            'acr-pipeline:images[0].name = "API": an ACR personal repository name must be 2-30 characters '
            "of lowercase letters, digits, '_', '-' and '.', starting and ending with a letter or digit"
        ],
        count=1,
    ),
    Case(
        "a-reviewer-team-written-as-a-mention",
        {
            "github": {
                "repository": "shop",
                "environment": "production",
                "reviewers": {"teams": ["@acme/platform"]},
            }
        },
        [],
        exact=[
            'acr-pipeline:github.reviewers.teams[0] = "@acme/platform": is a mention: write the team\'s slug '
            "alone, 'platform' (drop '@acme/': the organization is github:owner)"
        ],
    ),
    Case(
        "a-reviewer-user-written-as-a-mention",
        {"github": {"repository": "shop", "environment": "production", "reviewers": {"users": ["@octocat"]}}},
        [],
        exact=[
            'acr-pipeline:github.reviewers.users[0] = "@octocat": is a mention: write the login alone, '
            "'octocat' (drop the '@')"
        ],
    ),
    # --- keyless pushes
    Case(
        "release-tags-unprotected-for-a-keyless-role",
        {
            "auth": {"mode": "oidc"},
            "registryUsername": None,
            "registryPassword": None,
            "workflow": {"tags": ["v*"]},
            "github": {"repository": "shop", "protectReleaseTags": False},
        },
        [],
        set(),
        exact=[
            "acr-pipeline:github.protectReleaseTags = false: the push role trusts the runs of release tags "
            "(workflow.tags), which anyone who may push a tag could create: keep the tag ruleset "
            "(protectReleaseTags: true), or build releases in an environment with reviewers "
            "(github.environment and github.reviewers)"
        ],
    ),
    Case(
        "releasers-without-a-ruleset",
        {"github": {"repository": "shop", "releasers": {"teams": ["release-managers"]}}},
        [],
        exact=[
            'acr-pipeline:github.releasers = {"users": [], "teams": ["release-managers"]}: is for the '
            "release-tag ruleset, which this stack does not create (it protects the release tags of a "
            "keyless stack without an environment): remove it"
        ],
    ),
    Case(
        "releasers-naming-no-one",
        {
            "auth": {"mode": "oidc"},
            "registryUsername": None,
            "registryPassword": None,
            "workflow": {"tags": ["v*"]},
            "github": {"repository": "shop", "releasers": {}},
        },
        ["acr-pipeline:github.releasers", "names no one: list users or teams, or remove the key (admins)"],
        set(),
    ),
    Case(
        "oidc-on-personal-edition",
        {
            "auth": {"mode": "oidc"},
            "registry": {"edition": "personal", "instanceId": None},
            "registryUsername": None,
            "registryPassword": None,
        },
        [],
        set(),
        exact=[
            'acr-pipeline:auth.mode = "oidc": oidc needs registry.edition: enterprise (its temporary tokens '
            "are per instance)"
        ],
    ),
    Case(
        "oidc-session-too-long",
        {
            "auth": {"mode": "oidc", "sessionSeconds": 86400},
            "registryUsername": None,
            "registryPassword": None,
        },
        ["acr-pipeline:auth.sessionSeconds = 86400", "900 to 43200"],
        set(),
    ),
    Case(
        "oidc-malformed-provider-arn",
        {
            "auth": {"mode": "oidc", "oidcProvider": "arn:aws:iam::1:oidc-provider/x"},
            "registryUsername": None,
            "registryPassword": None,
        },
        ["acr-pipeline:auth.oidcProvider", "acs:ram::<account-id>:oidc-provider/<name>"],
        set(),
    ),
    Case(
        "oidc-and-a-password",
        {"auth": {"mode": "oidc"}},
        [],
        exact=[
            f"acr-pipeline:{key}: is not used with auth.mode: oidc (no password anywhere): remove it with "
            f"`pulumi config rm {key} --stack dev`"
            for key in ("registryUsername", "registryPassword")
        ],
    ),
    Case(
        "oidc-fingerprints-for-a-provider-it-does-not-create",
        {
            "auth": {
                "mode": "oidc",
                "oidcProvider": "acs:ram::1234:oidc-provider/gh",
                "fingerprints": ["a" * 40],
            },
            "registryUsername": None,
            "registryPassword": None,
        },
        ["acr-pipeline:auth.fingerprints", "auth.oidcProvider: create"],
        set(),
    ),
    Case(
        "oidc-mode-typo",
        {"auth": {"mode": "odic"}},
        ['acr-pipeline:auth.mode = "odic"', "did you mean 'oidc'?"],
    ),
    # --- typos: a did-you-mean naming the key and the suggestion
    Case(
        "namespace-typo",
        {"acr-pipline:images": [{"name": "web"}]},
        ["acr-pipline:images: unknown namespace 'acr-pipline' (did you mean 'acr-pipeline:images'?)"],
    ),
    Case(
        "namespace-and-key-typos",
        {"acr-pipline:imagse": [{"name": "web"}]},
        [],
        exact=["acr-pipline:imagse: unknown namespace 'acr-pipline' (did you mean 'acr-pipeline:images'?)"],
    ),
    Case(
        "namespace-typo-of-no-key-of-ours",
        {"acr-pipline:zzz": "x"},
        [],
        exact=["acr-pipline:zzz: unknown namespace 'acr-pipline' (did you mean 'acr-pipeline:zzz'?)"],
    ),
    Case(
        "namespace-two-edits-off",
        {"acrpipline:workflow": {"cache": False}},
        ["acrpipline:workflow: unknown namespace", "did you mean 'acr-pipeline:workflow'?"],
    ),
    Case(
        "namespace-without-dash",
        {"acrpipeline:workflow": {"cache": False}},
        ["did you mean 'acr-pipeline:workflow'?"],
    ),
    Case("provider-namespace-typo", {"alicoud:region": "cn-hangzhou"}, ["did you mean 'alicloud:region'?"]),
    Case("github-namespace-typo", {"githb:owner": "acme"}, ["did you mean 'github:owner'?"]),
    Case(
        "region-typo",
        {"alicloud:region": "cn-hangzou"},
        ['alicloud:region = "cn-hangzou"', "did you mean 'cn-hangzhou'?"],
    ),
    Case(
        "edition-typo-alone",
        {"registry": {"edition": "enterprize", "instanceId": None}},
        ['registry.edition = "enterprize"', "did you mean 'enterprise'?"],
        count=1,
    ),
    Case(
        "visibility-case",
        {"registry": {"visibility": "private"}},
        ["did you mean 'PRIVATE'?"],
    ),
    Case("pin-mode-typo", {"workflow": {"pinActions": "shas"}}, ["did you mean 'sha'?"]),
    Case("notify-kind-typo", {"workflow": {"notify": {"kind": "slak"}}}, ["did you mean 'slack'?"]),
    Case("scan-trigger-typo", {"registry": {"scan": {"trigger": "onpush"}}}, ["did you mean 'onPush'?"]),
    # --- unknown keys and types
    Case(
        "unknown-top-level-key",
        {"registryPasword": "s3cr3t-value"},
        ["acr-pipeline:registryPasword: unknown key (did you mean 'registryPassword'?)"],
        absent=["s3cr3t-value"],
        exact=[
            "acr-pipeline:registryPasword: unknown key (did you mean 'registryPassword'?); known keys: "
            "registry, images, github, workflow, auth, preflight, adopt, registryUsername, "
            "registryPassword, notifyWebhookUrl"
        ],
    ),
    Case(
        "unknown-key-value-is-not-echoed",
        {"image": [{"name": "api", "target": "leak-me"}]},
        ["acr-pipeline:image: unknown key (did you mean 'images'?)"],
        absent=["leak-me"],
    ),
    Case(
        "unknown-registry-key",
        {"registry": {"namepsace": "x"}},
        ["registry.namepsace", "did you mean 'namespace'"],
    ),
    Case(
        "unknown-image-key",
        {"images": [{"name": "api", "dockerFile": "x"}]},
        ["images[0].dockerFile", "unknown key"],
        exact=[
            "acr-pipeline:images[0].dockerFile: unknown key (did you mean 'dockerfile'?); known keys: name, "
            "context, dockerfile, paths, platforms, variable, buildArgs, target, labels, immutableTags"
        ],
    ),
    Case(
        "image-without-a-name",
        {"images": [{"context": "api"}]},
        [],
        count=1,
        exact=["acr-pipeline:images[0].name: is required"],
    ),
    Case(
        "object-key-that-is-not-json",
        {"registry": "{namespace: acme"},
        [],
        count=1,
        exact=['acr-pipeline:registry = "{namespace: acme": is not valid JSON/YAML'],
    ),
    Case(
        "a-refused-image-path-and-a-later-key",
        {"images": [{"name": "api", "context": "../api"}], "workflow": {"tags": "v*"}},
        ["images[0].context", 'acr-pipeline:workflow.tags = "v*": must be a list'],
        count=2,
    ),
    Case(
        "a-value-of-80-characters-shown-whole",
        {"registry": {"namespace": "A" * 78}},
        [],
        exact=[f'acr-pipeline:registry.namespace = "{"A" * 78}": {acr_name("namespace", "enterprise")("A")}'],
    ),
    Case(
        "a-longer-value-cut-to-80",
        {"registry": {"namespace": "A" * 79}},
        [],
        exact=[
            f'acr-pipeline:registry.namespace = "{"A" * 76}...: {acr_name("namespace", "enterprise")("A")}'
        ],
    ),
    Case(
        "non-ascii-value-shown-as-written",
        {"registry": {"namespace": "生产"}},
        ['acr-pipeline:registry.namespace = "生产": an ACR enterprise namespace'],
    ),
    Case("unknown-workflow-key", {"workflow": {"cahce": False}}, ["workflow.cahce", "did you mean 'cache'"]),
    Case(
        "registry-not-an-object", {"registry": "acme-dev"}, ['acr-pipeline:registry = "acme-dev"', "object"]
    ),
    Case("images-not-a-list", {"images": {"name": "api"}}, ["acr-pipeline:images", "must be a list"]),
    Case("image-not-an-object", {"images": ["api"]}, ['images[0] = "api"', "must be an object"]),
    Case("bool-as-word", {"workflow": {"cache": "yes"}}, ['workflow.cache = "yes"', "true or false"]),
    Case(
        "platforms-not-a-list",
        {"images": [{"name": "api", "platforms": "linux/amd64"}]},
        ["images[0].platforms", "list"],
    ),
    Case(
        "empty-images",
        {"images": []},
        [],
        exact=["acr-pipeline:images = []: must list at least one image"],
    ),
    Case(
        "empty-paths",
        {"images": [{"name": "api", "paths": []}]},
        ["images[0].paths = []", "at least one path"],
    ),
    # --- registry
    Case("missing-namespace", {"registry": {"namespace": None}}, ["registry.namespace: is required"]),
    Case(
        "namespace-uppercase",
        {"registry": {"namespace": "Acme"}},
        ['registry.namespace = "Acme"', "lowercase"],
    ),
    Case(
        "namespace-too-long-personal",
        {"registry": {"edition": "personal", "namespace": "a" * 31}},
        ["registry.namespace", "2-30"],
    ),
    Case(
        "repository-delimiter-at-end",
        {"images": [{"name": "api-"}]},
        ['images[0].name = "api-"', "starting and ending"],
    ),
    Case(
        "personal-multi-tier-repository",
        {"registry": {"edition": "personal", "instanceId": None}, "images": [{"name": "agent/client"}]},
        ['images[0].name = "agent/client"', "personal repository"],
    ),
    Case(
        "personal-namespace-with-dot",
        {"registry": {"edition": "personal", "instanceId": None, "namespace": "acme.dev"}},
        ['registry.namespace = "acme.dev"', "'_' and '-'"],
    ),
    Case(
        "trailing-newline-in-a-name",
        {"images": [{"name": "api", "variable": "API_IMAGE\n"}]},
        ['images[0].variable = "API_IMAGE\\n"', "single line"],
    ),
    Case(
        "repository-dot-git",
        {"github": {"repository": "shop.git"}},
        ['github.repository = "shop.git"', ".git"],
    ),
    Case(
        "unknown-edition",
        {"registry": {"edition": "standard"}},
        ['registry.edition = "standard"', "enterprise, personal, external"],
    ),
    Case(
        "enterprise-without-instance",
        {"registry": {"instanceId": None}},
        ["registry.instanceId: is required"],
    ),
    Case("bad-instance-id", {"registry": {"instanceId": "acme"}}, ['registry.instanceId = "acme"', "cri-"]),
    Case(
        "enterprise-without-endpoint",
        {"registry": {"instanceName": None}},
        ["registry.endpoint", "instanceName or endpoint"],
    ),
    Case(
        "external-without-endpoint",
        {"registry": {"edition": "external", "instanceName": None}},
        ["registry.endpoint", "external"],
    ),
    Case(
        "endpoint-with-scheme",
        {"registry": {"endpoint": "https://registry.example.com"}},
        ["registry.endpoint", "no scheme"],
    ),
    Case(
        "bad-visibility",
        {"registry": {"visibility": "private"}},
        ['registry.visibility = "private"', "PRIVATE, PUBLIC"],
    ),
    Case(
        "bad-cidr",
        {"registry": {"publicAccess": [{"cidr": "10.0.0.1/8"}]}},
        ["registry.publicAccess[0].cidr", "CIDR"],
    ),
    Case(
        "retention-without-count",
        {"registry": {"retention": {"keepTagPattern": "^v"}}},
        ["registry.retention.keepLastTags", "required"],
    ),
    Case(
        "retention-bad-regex",
        {"registry": {"retention": {"keepLastTags": 5, "keepTagPattern": "(v"}}},
        ["keepTagPattern", "regular expression"],
    ),
    Case(
        "scan-on-personal",
        {"registry": {"edition": "personal", "instanceId": None, "scan": {}}},
        ["registry.scan", "Enterprise Edition"],
    ),
    Case(
        "immutable-on-personal",
        {
            "registry": {"edition": "personal", "instanceId": None},
            "images": [{"name": "api", "immutableTags": True}],
        },
        [],
        exact=[
            "acr-pipeline:images[0].immutableTags = true: is an Enterprise Edition setting (registry.edition)"
        ],
    ),
    # --- images and variables
    Case(
        "duplicate-images",
        {"images": [{"name": "api"}, {"name": "api"}]},
        ["images[1].name", "same name as images[0]"],
    ),
    Case(
        "variable-clash",
        {"images": [{"name": "api", "variable": "IMG"}, {"name": "web", "variable": "img"}]},
        ["images[1].variable", "case-insensitive"],
    ),
    Case(
        "names-giving-one-job-id",
        {"images": [{"name": "web-app"}, {"name": "web.app"}]},
        ["images[1].name", "same job id as images[0]"],
    ),
    Case(
        "reserved-variable",
        {"images": [{"name": "api", "variable": "ALIYUN_REGISTRY_PWD"}]},
        [],
        exact=[
            'acr-pipeline:images[0].variable = "ALIYUN_REGISTRY_PWD": is reserved for another setting; '
            "choose another name (names are case-insensitive)"
        ],
    ),
    Case(
        "variable-named-like-the-notify-secret",
        {
            "images": [{"name": "api", "variable": "deploy_hook"}],
            "workflow": {"notify": {"kind": "slack", "secret": "DEPLOY_HOOK"}},
        },
        ['acr-pipeline:images[0].variable = "deploy_hook": is reserved for another setting'],
    ),
    Case(
        "notify-secret-reserved-in-any-case",
        {"workflow": {"notify": {"kind": "slack", "secret": "aliyun_registry_pwd"}}},
        [],
        exact=[
            'acr-pipeline:workflow.notify.secret = "aliyun_registry_pwd": is reserved for another setting; '
            "choose another name (names are case-insensitive)"
        ],
    ),
    Case(
        "github-prefix-variable",
        {"images": [{"name": "api", "variable": "GITHUB_IMAGE"}]},
        ["images[0].variable", "GITHUB_"],
    ),
    Case(
        "variable-with-dash",
        {"images": [{"name": "api", "variable": "API-IMAGE"}]},
        ['images[0].variable = "API-IMAGE"', "letters, digits"],
    ),
    Case(
        "variable-leading-digit",
        {"images": [{"name": "api", "variable": "1API"}]},
        ["images[0].variable", "start with a digit"],
    ),
    Case(
        "platform-without-os",
        {"images": [{"name": "api", "platforms": ["arm64"]}]},
        ['images[0].platforms[0] = "arm64"', "os/arch"],
    ),
    Case(
        "context-outside-repo",
        {"images": [{"name": "api", "context": "../api"}]},
        ["images[0].context", "inside the repository"],
    ),
    Case(
        "expression-injection",
        {"images": [{"name": "api", "context": "${{ secrets.X }}"}]},
        ["images[0].context", "${{"],
    ),
    Case(
        "bad-build-arg-name",
        {"images": [{"name": "api", "buildArgs": {"BAD-NAME": "1"}}]},
        ["images[0].buildArgs.BAD-NAME", "letters, digits"],
        exact=[
            'acr-pipeline:images[0].buildArgs.BAD-NAME = "BAD-NAME": a build argument name is letters, '
            "digits and '_', not starting with a digit"
        ],
    ),
    Case(
        "label-key-uppercase",
        {"images": [{"name": "api", "labels": {"Team": "x"}}]},
        ["images[0].labels.Team", "OCI label key"],
    ),
    Case(
        "build-arg-not-text",
        {"images": [{"name": "api", "buildArgs": {"X": {"a": 1}}}]},
        ["images[0].buildArgs.X", "never secrets"],
        exact=[
            'acr-pipeline:images[0].buildArgs.X = {"a": 1}: must be a string '
            "(build arguments are plain text, never secrets)"
        ],
    ),
    Case(
        "label-value-not-text",
        {"images": [{"name": "api", "labels": {"team": [1]}}]},
        [],
        exact=["acr-pipeline:images[0].labels.team = [1]: must be a string"],
    ),
    # --- GitHub
    Case(
        "repository-slug",
        {"github": {"repository": "acme/shop"}},
        ['github.repository = "acme/shop"', "github:owner", "repository: 'shop'"],
    ),
    Case("missing-repository", {"github": {"repository": None}}, ["github.repository: is required"]),
    Case("bad-branch", {"github": {"branch": "feature..x"}}, ['github.branch = "feature..x"', "branch name"]),
    Case(
        "reviewers-without-environment",
        {"github": {"reviewers": {"users": ["alice"]}}},
        ["github.reviewers", "github.environment"],
    ),
    Case(
        "too-many-reviewers",
        {"github": {"environment": "prod", "reviewers": {"users": list(range(1, 8))}}},
        ["github.reviewers", "at most 6"],
    ),
    Case(
        "a-platform-listed-twice",
        {
            "images": [
                {"name": "api", "platforms": ["linux/arm64", "linux/amd64", "linux/arm64", "linux/amd64"]}
            ]
        },
        [],
        exact=[
            "acr-pipeline:images[0].platforms = "
            '["linux/arm64", "linux/amd64", "linux/arm64", "linux/amd64"]: '
            "lists linux/amd64, linux/arm64 twice"
        ],
    ),
    Case(
        "wait-timer-past-its-maximum",
        {"github": {"environment": "prod", "waitTimer": 43201}},
        [],
        exact=["acr-pipeline:github.waitTimer = 43201: must be a whole number from 0 to 43200"],
    ),
    Case(
        "reviewer-id-zero",
        {"github": {"environment": "prod", "reviewers": {"users": [0]}}},
        [],
        exact=[
            "acr-pipeline:github.reviewers.users[0] = 0: must be a GitHub login/team slug or a numeric id"
        ],
    ),
    Case(
        "wait-timer-too-long",
        {"github": {"environment": "prod", "waitTimer": 50000}},
        ["github.waitTimer = 50000", "0 to 43200"],
    ),
    # --- workflow
    Case(
        "workflow-outside-dir",
        {"workflow": {"path": "ci/build.yml"}},
        ['workflow.path = "ci/build.yml"', ".github/workflows/"],
    ),
    Case(
        "workflow-in-subdir",
        {"workflow": {"path": ".github/workflows/ci/build.yml"}},
        ["workflow.path", "subdirectories"],
    ),
    Case(
        "workflow-not-yaml",
        {"workflow": {"path": ".github/workflows/build.json"}},
        ["workflow.path", ".yml or .yaml"],
    ),
    Case(
        "unknown-pin-mode",
        {"workflow": {"pinActions": "branch"}},
        ['workflow.pinActions = "branch"', "sha, tag"],
    ),
    Case("no-trigger-left", {"workflow": {"branchBuilds": False}}, ["workflow.branchBuilds", "tags"]),
    Case(
        "notify-without-kind",
        {"workflow": {"notify": {}}},
        ["workflow.notify.kind", "dingtalk, feishu, slack"],
    ),
    Case(
        "empty-public-access-would-open-everything",
        {"registry": {"publicAccess": []}},
        ["registry.publicAccess = []", "0.0.0.0/0"],
    ),
    Case(
        "secret-marked-object",
        {"registry": {"namespace": "acme-dev", "password": KNOWN_PASSWORD}},
        [
            "acr-pipeline:registry: is stored as a secret, but only notifyWebhookUrl, registryPassword, "
            "registryUsername may be; its value is not shown"
        ],
        {*SECRET_KEYS, "acr-pipeline:registry"},
    ),
    Case(
        "secret-username-on-two-lines",
        {"registryUsername": f"pusher\n{KNOWN_PASSWORD}"},
        [f"{USERNAME}: must be a single line of printable characters (the value is not shown)"],
        {*SECRET_KEYS, "acr-pipeline:registryUsername"},
    ),
    Case(
        "credential-like-unknown-key",
        {"github": {"token": "ghp_0123456789abcdef"}},
        ["acr-pipeline:github.token: unknown key"],
    ),
    Case(
        "environment-refuses-the-branch",
        {"github": {"environment": "prod", "deploymentTags": ["v*"]}},
        [],
        exact=[
            "acr-pipeline:github.deploymentBranches = []: pushes to github.branch 'main' build in "
            "environment 'prod', which would refuse them: add the branch, or set workflow.branchBuilds: false"
        ],
    ),
    Case(
        "environment-star-does-not-cross-a-slash",
        {"github": {"environment": "prod", "branch": "release/2026/q1", "deploymentBranches": ["release/*"]}},
        ["github.deploymentBranches", "pushes to github.branch 'release/2026/q1'"],
    ),
    Case(
        "environment-refuses-every-release-tag",
        {"github": {"environment": "prod", "deploymentBranches": ["main"]}, "workflow": {"tags": ["v*"]}},
        [],
        count=1,
        exact=[
            "acr-pipeline:github.deploymentTags = []: release tags build in environment 'prod', whose "
            "deployment rules admit no tag: add github.deploymentTags (e.g. the patterns of workflow.tags)"
        ],
    ),
    Case(
        "release-tags-the-environment-would-refuse",
        {
            "github": {
                "environment": "prod",
                "deploymentBranches": ["main"],
                "deploymentTags": ["release-*"],
            },
            "workflow": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]},
        },
        [],
        count=1,
        exact=[
            'acr-pipeline:github.deploymentTags = ["release-*"]: admits no tag that workflow.tags '
            "'v[0-9]+.[0-9]+.[0-9]+' builds, so environment 'prod' would refuse every such release run: "
            "add 'v*.*.*' (deployment rules are globs, where `+` is itself), or the pattern of the tags "
            "you release"
        ],
    ),
    Case(
        "release-tags-whose-plus-the-deployment-rule-reads-as-itself",
        {
            "github": {"environment": "prod", "deploymentBranches": ["main"], "deploymentTags": ["v+.*"]},
            "workflow": {"tags": ["v[0-9]+.[0-9]+"]},
        },
        ["github.deploymentTags", "admits no tag that workflow.tags 'v[0-9]+.[0-9]+' builds", "add 'v*.*'"],
        count=1,
    ),
    Case(
        "a-release-tag-written-as-a-regex",
        {"workflow": {"tags": [r"^v\d+\.\d+\.\d+$"]}},
        [],
        count=1,
        exact=[
            r'acr-pipeline:workflow.tags[0] = "^v\\d+\\.\\d+\\.\\d+$": is a regular expression (anchors '
            r"(^, $), classes such as \d), and GitHub reads these patterns as globs (`*`, `**`, `?`, `+` "
            "after a character or set, `[0-9]`): write the pattern meant: 'v[0-9]+.[0-9]+.[0-9]+'"
        ],
    ),
    Case(
        "release-tags-as-alternatives",
        {"workflow": {"tags": ["(v|release-)*"]}},
        ["workflow.tags[0]", "groups or alternatives", "one pattern per alternative"],
        count=1,
    ),
    Case(
        "a-deployment-rule-written-as-a-regex",
        {"github": {"environment": "prod", "deploymentBranches": ["^main$"]}},
        [
            'github.deploymentBranches[0] = "^main$"',
            "is a regular expression",
            "write the pattern meant: 'main'",
        ],
        count=1,
    ),
    Case(
        "a-deployment-branch-with-a-space",
        {"github": {"environment": "prod", "deploymentBranches": ["release 1"]}},
        ['github.deploymentBranches[0] = "release 1"', "what git refuses in a branch or tag name"],
    ),
    Case(
        "a-branch-that-is-a-pattern",
        {"github": {"repository": "shop", "branch": "release/*"}},
        ['github.branch = "release/*"', "must be one branch, not a pattern"],
        count=1,
    ),
    Case(
        "a-path-filter-written-as-a-regex",
        {"images": [{"name": "api", "paths": ["^api/.*$"]}]},
        ['images[0].paths[0] = "^api/.*$"', "is a regular expression", "write the pattern meant: 'api/**'"],
        count=1,
    ),
    Case(
        "promote-from-a-malformed-namespace",
        {"workflow": {"tags": ["v*"], "promote": {"fromNamespaces": ["Acme_Staging"]}}},
        ['workflow.promote.fromNamespaces[0] = "Acme_Staging"'],
    ),
    Case(
        "brace-pattern",
        {"images": [{"name": "api", "paths": ["api/**", "libs/{a,b}/**"]}]},
        [
            'images[0].paths[1] = "libs/{a,b}/**"',
            "braces are not part of GitHub's path patterns",
            "list each path",
        ],
        count=1,
    ),
    Case(
        "promote-with-a-negated-pattern",
        {"images": [{"name": "api", "paths": ["api/**", "!api/docs/**"]}], "workflow": PROMOTING},
        [],
        count=1,
        exact=[
            "acr-pipeline:images[0].paths[1] = \"!api/docs/**\": a leading '!' excludes what earlier "
            "patterns matched, which git reads differently, and a release compares the image's paths "
            "with git (workflow.promote): list each path"
        ],
    ),
    Case(
        "promote-from-its-own-namespace",
        {"workflow": {"tags": ["v*"], "promote": {"fromNamespaces": ["acme-dev"]}}},
        [],
        exact=[
            'acr-pipeline:workflow.promote.fromNamespaces = ["acme-dev"]: names the stack\'s own namespace, '
            "which a release always looks in first"
        ],
    ),
    Case(
        "webhook-without-notify",
        {"notifyWebhookUrl": WEBHOOK},
        ["acr-pipeline:notifyWebhookUrl: is set but workflow.notify is not: add workflow.notify.kind"],
        {*SECRET_KEYS, "acr-pipeline:notifyWebhookUrl"},
    ),
]


def test_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_refused_before_any_resource_with_a_clear_message(case: Case) -> None:
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as err:
        run_program(encode(config(**case.overrides)), case.secret_keys, monitor=monitor)
    message = str(err.value)
    for expected in case.expected:
        assert expected in message, f"{case.id}: {expected!r} not in:\n{message}"
    assert monitor.registered == [], f"{case.id} registered resources before refusing"
    for secret in (KNOWN_PASSWORD, WEBHOOK, "ghp_0123456789abcdef", *case.absent):
        assert secret not in message, f"{case.id} shows {secret!r}"
    assert len(message.splitlines()) <= 25
    if case.count is not None:
        assert len(err.value.problems) == case.count, f"{case.id}: follow-on errors in:\n{message}"
    for problem in case.exact:
        assert problem in err.value.problems, f"{case.id}: {problem!r} is not a line of:\n{message}"


# --- the naming rules against their documented patterns ----------------------------------

ACR_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def acr_segments(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, middle, last: (first + middle + last)[:max_size],
        st.sampled_from(ACR_CHARS),
        st.text(alphabet=ACR_CHARS + "._-", min_size=max(0, min_size - 2), max_size=max_size - 2),
        st.sampled_from(ACR_CHARS),
    )


acr_names = acr_segments(62)
# Three tiers of at most 38 characters and two slashes: 116, inside the 120-character limit.
acr_tiers = acr_segments(38)


@given(acr_names)
def test_documented_acr_names_are_accepted(name: str) -> None:
    assert acr_name("namespace", "enterprise")(name) is None
    assert acr_name("repository", "enterprise")(name) is None


@given(st.lists(acr_tiers, min_size=2, max_size=3))
def test_enterprise_repositories_may_be_multi_tier_but_personal_ones_not(tiers: list[str]) -> None:
    name = "/".join(tiers)
    assert len(name) <= ACR_LIMITS["enterprise"]
    assert acr_name("repository", "enterprise")(name) is None
    assert acr_name("repository", "personal")(name) is not None
    assert acr_name("namespace", "enterprise")(name) is not None


# Three tiers of 41 or more: over the limit, each tier valid on its own.
@given(st.lists(acr_segments(62, min_size=41), min_size=3, max_size=4).map("/".join))
def test_multi_tier_names_over_the_limit_are_refused(name: str) -> None:
    assert acr_name("repository", "enterprise")(name) is not None


@given(acr_names, st.sampled_from(["A", "_", "-", ".", "/", " ", "é"]))
def test_names_with_uppercase_or_edge_delimiters_are_refused(name: str, bad: str) -> None:
    rule = acr_name("namespace", "enterprise")
    assert rule(bad + name) is not None
    if bad not in "._-":
        assert rule(name[:1] + bad + name[1:]) is not None


@given(st.integers(min_value=31, max_value=200))
def test_personal_namespace_length_limit(length: int) -> None:
    assert acr_name("namespace", "personal")("a" * length) is not None
    assert acr_name("namespace", "personal")("a" * ACR_LIMITS["personal"]) is None


# Names of GitHub's form, a quarter of them with the reserved prefix in any case: a strategy of
# the form alone would almost never meet the GITHUB_ rule (none in 3,000 examples, once).
variable_names = st.tuples(
    st.sampled_from(["", "", "", "GITHUB_", "github_", "GitHub_"]),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,40}\Z"),
).map("".join)


@given(variable_names)
def test_github_variable_names_follow_githubs_rule(name: str) -> None:
    reserved = name.upper().startswith("GITHUB_")
    event("reserved prefix" if reserved else "free name")
    assert (github_name(name) is None) == (not reserved)


def test_the_variable_name_strategy_meets_the_reserved_prefix_rule() -> None:
    """The property above reaches both sides of its rule, whatever hypothesis draws."""
    assert find(variable_names, lambda name: name.upper().startswith("GITHUB_"))
    assert find(variable_names, lambda name: not name.upper().startswith("GITHUB_"))
    for reserved in ("GITHUB_TOKEN", "github_x", "GitHub_API_IMAGE"):
        assert github_name(reserved) == "the GITHUB_ prefix is reserved by GitHub"


@given(st.from_regex(r"\A[0-9][A-Za-z0-9_]{0,20}\Z") | st.from_regex(r"\A[A-Z_]*[^A-Za-z0-9_][A-Z_]*\Z"))
def test_github_variable_names_outside_the_rule_are_refused(name: str) -> None:
    assert github_name(name) is not None


@given(st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z").filter(lambda v: v not in (".", "..")))
def test_github_repository_names_are_accepted(name: str) -> None:
    assert repository(name) is None


@given(st.from_regex(r"\A[A-Za-z0-9._-]{1,30}\Z"))
def test_workflow_files_directly_in_the_workflows_dir_with_yaml_suffix(stem: str) -> None:
    assert workflow_path(f".github/workflows/{stem}.yml") is None
    assert workflow_path(f".github/{stem}.yml") is not None
    assert workflow_path(f".github/workflows/{stem}.txt") is not None


# --- every key, every wrong kind of value: our wording, never pydantic's ---------------------

PYDANTIC_WORDING = (
    "Input should",
    "Field required",
    "validation error",
    "Value error",
    "pydantic",
    "Extra inputs",
)
WRONG_VALUES: list[Any] = [7, "text", True, [1], {"a": 1}, None, ""]


def _key_paths() -> list[tuple[str, ...]]:
    """Every key the schema declares, as a path of names ("[]" for a list's first item)."""
    from tools.schema import stack_schema

    whole = stack_schema()
    defs = whole["$defs"]
    out: list[tuple[str, ...]] = []

    def walk(props: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, node in props.items():
            out.append((*prefix, key))
            ref = node.get("$ref") or node.get("items", {}).get("$ref")
            if ref:
                below = (*prefix, key, "[]") if "items" in node else (*prefix, key)
                walk(defs[ref.rsplit("/", 1)[-1]]["properties"], below)

    walk(whole["properties"]["config"]["properties"], ())
    return out


MINIMAL: dict[str, dict[str, Any]] = {
    "acr-pipeline:images": {"name": "api"},
    "publicAccess": {"cidr": "10.0.0.0/8"},
    "retention": {"keepLastTags": 5},
    "notify": {"kind": "slack"},
}


def _set(cfg: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node: Any = cfg
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if part == "[]":
            node = node[0]
            continue
        default: Any = [dict(MINIMAL.get(part, {}))] if nxt == "[]" else dict(MINIMAL.get(part, {}))
        if not isinstance(node.get(part), (dict, list)):
            node[part] = default
        node = node[part]
    node[path[-1]] = value


@pytest.mark.parametrize("path", _key_paths(), ids=".".join)
def test_every_key_answers_a_wrong_value_in_our_words(path: tuple[str, ...]) -> None:
    for value in WRONG_VALUES:
        cfg = config()
        _set(cfg, path, value)
        secret_keys = {*SECRET_KEYS, *(k for k in cfg if k.endswith(("Password", "WebhookUrl", "token")))}
        try:
            run_program(encode({k: v for k, v in cfg.items() if v is not None}), secret_keys)
        except ConfigError as err:
            message = str(err)
            leaked = [w for w in PYDANTIC_WORDING if w.lower() in message.lower()]
            assert not leaked, f"{'.'.join(path)} = {value!r}: pydantic's wording {leaked} in:\n{message}"
            assert "is not a value this key accepts" not in message, (
                f"{'.'.join(path)} = {value!r}:\n{message}"
            )


# --- a one-letter typo of any key or namespace is caught, with the key it meant -------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _typo(word: str, kind: str, at: int, letter: str) -> str:
    at %= len(word)
    if kind == "delete":
        return word[:at] + word[at + 1 :]
    if kind == "insert":
        return word[:at] + letter + word[at:]
    if kind == "replace":
        return word[:at] + letter + word[at + 1 :]
    at = min(at, len(word) - 2)  # swap two neighbours
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


typos = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "swap"]), st.integers(0, 40), st.sampled_from(LETTERS)
)
# Every key but the provider ones (their namespaces are open: other provider settings are fine).
TYPO_KEYS = [p for p in _key_paths() if len(p) > 1 or p[0].startswith("acr-pipeline:")]


@given(st.sampled_from(TYPO_KEYS), typos)
def test_a_one_letter_typo_of_any_key_is_refused_with_the_key_meant(
    path: tuple[str, ...], typo: tuple[str, int, str]
) -> None:
    from components.rules import distance

    prefix, _, key = path[-1].rpartition(":")  # a top-level key keeps its namespace
    wrong = f"{prefix}:{_typo(key, *typo)}" if prefix else _typo(key, *typo)
    siblings = {p[-1] for p in _key_paths() if p[:-1] == path[:-1]}
    assume(wrong not in siblings and wrong.lower() != path[-1].lower())
    cfg = config()
    _set(cfg, (*path[:-1], wrong), "x")
    wrong, key = wrong.rpartition(":")[2], key
    with pytest.raises(ConfigError) as err:
        run_program(encode(cfg), SECRET_KEYS)
    (line,) = [
        p for p in err.value.problems if f".{wrong}: unknown key" in p or f":{wrong}: unknown key" in p
    ]
    meant = line.split("did you mean '")[1].split("'")[0]
    assert distance(meant, wrong) <= distance(key, wrong) == 1


@given(st.sampled_from(["acr-pipeline:registry", "alicloud:region", "github:owner"]), typos)
def test_a_one_letter_typo_of_a_namespace_is_refused_with_the_key_meant(
    key: str, typo: tuple[str, int, str]
) -> None:
    namespace, _, name = key.partition(":")
    wrong = f"{_typo(namespace, *typo)}:{name}"
    assume(wrong.partition(":")[0] != namespace)
    cfg = {**config(), wrong: config()[key]}
    with pytest.raises(ConfigError) as err:
        run_program(encode(cfg), SECRET_KEYS)
    assert f"{wrong}: unknown namespace" in str(err.value)
    assert f"did you mean '{key}'?" in str(err.value)


@given(st.from_regex(r"\A[a-z]{1,8}\Z"), st.from_regex(r"\A[a-z]{1,8}\Z"))
def test_github_patterns_star_stops_at_a_slash_and_double_star_crosses_it(first: str, second: str) -> None:
    from components.rules import github_glob

    assert github_glob("release/*").match(f"release/{first}")
    assert not github_glob("release/*").match(f"release/{first}/{second}")
    assert github_glob("release/**").match(f"release/{first}/{second}")
    assert github_glob("v[0-9]*").match(f"v1{first}")
    assert github_glob("v?x").match(f"v{first[0]}x"), "`?` is one character"
    assert not github_glob("v?x").match("v/x"), "but never a slash"
    # `**/` is any number of directories, none included (Ruby's File.fnmatch, which GitHub uses).
    assert github_glob("**/main").match("main")
    assert github_glob("**/main").match(f"{first}/{second}/main")
    assert not github_glob("**/main").match(f"{first}main")
    assert github_glob("v[!0-9]*").match(f"vx{first}")
    assert not github_glob("v[!0-9]*").match(f"v1{first}")
    assert github_glob("v[a!]").match("v!")


@pytest.mark.parametrize(
    ("tags", "deployment"),
    [
        (["*"], ["*"]),
        (["v[0-9]+.[0-9]+.[0-9]+"], ["v*"]),
        (["v*", "!v*-rc*"], ["v[0-9]*"]),
        (["v*"], ["x", "v1*"]),
    ],
)
def test_release_tags_the_environment_lets_in_are_accepted(tags: list[str], deployment: list[str]) -> None:
    """Some tag each pattern builds passes some deployment rule (the empty name counts)."""
    github = {"repository": "shop", "environment": "prod", "deploymentBranches": ["main"]}
    s = settings_for(github={**github, "deploymentTags": deployment}, workflow={"tags": tags})
    assert s.workflow.tags == tuple(tags)
