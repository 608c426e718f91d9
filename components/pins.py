"""The one table of GitHub Actions the generated workflows use.

Each action is pinned to a release by full commit SHA; the version stays beside it as the
`# vX.Y.Z` comment in the rendered workflow. Renovate keeps this table current (see
renovate.json); the tests refuse versions below the majors listed in MINIMUM_MAJOR, the
first majors that run on GitHub's node24 runtime.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    action: str
    version: str
    sha: str

    @property
    def major(self) -> str:
        return self.version.split(".")[0]


# fmt: off
PINS: dict[str, Pin] = {pin.action: pin for pin in (
    Pin("actions/checkout", "v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1"),
    Pin("docker/setup-qemu-action", "v4.2.0", "96fe6ef7f33517b61c61be40b68a1882f3264fb8"),
    Pin("docker/setup-buildx-action", "v4.3.0", "37fe631027851001ddb9b187196cc803df7f5f0e"),
    Pin("docker/login-action", "v4.1.0", "4907a6ddec9925e35a0a9e82d7399ccc52663121"),
    Pin("docker/metadata-action", "v6.2.0", "dc802804100637a589fabce1cb79ff13a1411302"),
    Pin("docker/build-push-action", "v7.3.0", "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a"),
    Pin("actions/upload-artifact", "v7.0.0", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"),
    Pin("actions/download-artifact", "v8.0.1", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"),
    Pin("pulumi/actions", "v7.0.0", "8e5e406f4007fca908480587cb9893c07090f58d"),
    Pin("aliyun/configure-aliyun-credentials-action", "v1.0.7", "b347e60e64028a4d567a8f31ca42e1b0706c3c99"),
    Pin("aliyun/acr-login", "v2.0.1", "353042f823ba507f8b53cc70da8e1b7181adc89e"),
    Pin("sigstore/cosign-installer", "v4.1.2", "6f9f17788090df1f26f669e9d70d6ae9567deba6"),
)}
# fmt: on

# Older majors run on node20, which GitHub has retired.
MINIMUM_MAJOR: dict[str, int] = {
    "actions/checkout": 5,
    "docker/setup-qemu-action": 4,
    "docker/setup-buildx-action": 4,
    "docker/login-action": 4,
    "docker/metadata-action": 6,
    "docker/build-push-action": 7,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "pulumi/actions": 7,
    # The newest releases we could verify; both declare node20, which GitHub runs on node24.
    "aliyun/configure-aliyun-credentials-action": 1,
    "aliyun/acr-login": 2,
    # A composite action (no node runtime); v4 installs cosign v3, verified against its own SHAs.
    "sigstore/cosign-installer": 4,
}


# Actions whose `vN` tag does not follow their releases (configure-aliyun-credentials-action's
# `v1` is v1.0.6; acr-login has no `v2`; cosign-installer has no `v4`, its newest floating tag
# is `v3`): a tag pin names their exact version.
NOT_FLOATING = frozenset(
    {"aliyun/configure-aliyun-credentials-action", "aliyun/acr-login", "sigstore/cosign-installer"}
)


def uses(action: str, mode: str) -> tuple[str, str]:
    """The `uses:` value for an action and the end-of-line comment that goes with it."""
    pin = PINS[action]
    if mode == "tag":
        # The stack asked for tags; say so to reviewers and to zizmor.
        tag = pin.version if action in NOT_FLOATING else pin.major
        return f"{action}@{tag}", "zizmor: ignore[unpinned-uses] tag pin chosen by workflow.pinActions"
    return f"{action}@{pin.sha}", pin.version
