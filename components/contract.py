"""The names the committed workflow reads and the identities it trusts: the pipeline's public
contract, which the settings, the resources and the renderer share. Never rename them."""

PROJECT = "acr-pipeline"
# The pipeline's public contract: the committed workflow reads these names.
REGISTRY_VARIABLE = "ALIYUN_REGISTRY"
USER_SECRET = "ALIYUN_REGISTRY_USER"  # noqa: S105 - a name, not a value
PASSWORD_SECRET = "ALIYUN_REGISTRY_PWD"  # noqa: S105 - a name, not a value
# With `auth.mode: oidc`, these variables instead of the two secrets (aliyun's actions read them).
ROLE_VARIABLE, PROVIDER_VARIABLE = "ALIYUN_ROLE_ARN", "ALIYUN_OIDC_PROVIDER_ARN"
REGION_VARIABLE, INSTANCE_VARIABLE = "ALIYUN_REGION", "ALIYUN_ACR_INSTANCE_ID"
RESERVED_NAMES = (
    REGISTRY_VARIABLE,
    USER_SECRET,
    PASSWORD_SECRET,
    ROLE_VARIABLE,
    PROVIDER_VARIABLE,
    REGION_VARIABLE,
    INSTANCE_VARIABLE,
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.aliyuncs.com"
# SHA-1 fingerprints of the certificates GitHub's issuer presents (the two widely published for
# token.actions.githubusercontent.com); docs/oidc.md says how to compute them again.
GITHUB_FINGERPRINTS = ("6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd")
