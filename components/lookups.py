"""The lookups made before anything is registered (adoption, preflight, a named OIDC provider):
a provider that refuses one (a token that expired, credentials of another account, a region
with no such service) stops the preview with one line naming the lookup, the provider's answer
and what to check, not a Python traceback.

The Python SDK raises a plain Exception for a failed data source, `invoke of <token> failed:
<reason> (<property>)` (pulumi/runtime/invoke.py); the errors the program raises itself are
`pulumi.RunError`s and pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pulumi

CREDENTIALS = {
    "github": "the GitHub token (GITHUB_TOKEN, or github:token): valid, and allowed to read the repository",
    "alicloud": (
        "the Alibaba Cloud credentials (ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
        "or alicloud:accessKey and alicloud:secretKey) and alicloud:region"
    ),
}


class LookupFailedError(pulumi.RunError):
    """A provider refused a lookup the program makes before registering anything."""


@contextmanager
def refused_lookups_explained() -> Iterator[None]:
    """Within this block, a failed data source becomes one LookupFailedError."""
    try:
        yield
    except pulumi.RunError:
        raise
    except Exception as err:
        said = str(err)
        if not said.startswith("invoke of "):
            raise
        provider = said.removeprefix("invoke of ").split(":", 1)[0]
        check = CREDENTIALS.get(provider, f"the {provider} provider's credentials")
        raise LookupFailedError(
            f"a lookup before anything is created failed: {said}; check {check}"
        ) from None
