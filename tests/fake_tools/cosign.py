"""A fake `cosign` for the workflow's scripts (sign.sh, signatures.sh, promote.sh): keyless `sign`
and `verify` against the fake docker's registry (the same JSON state file, tests/fakes.py).
Usage: cosign.py STATE LOG ARGS...

What it does as cosign v3 does (sigstore/cosign, read at v3.1.2):
- `sign` takes the identity from the job's GitHub OIDC token, which a job has only with
  `id-token: write` (the runner's ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN; without them no
  certificate): the certificate's subject is https://github.com/<GITHUB_WORKFLOW_REF> (the
  token's job_workflow_ref for a workflow that calls no other), its issuer GitHub's, its
  workflow-sha extension the run's GITHUB_SHA. `--new-bundle-format` and `--use-signing-config`
  default to true (cmd/cosign/cli/options/sign.go); a signing config without the new bundle
  format is refused (signcommon.LoadTrustedMaterialAndSigningConfig); the new bundle format is an
  OCI 1.1 referrer, whose empty config ACR refuses; the old format is the tag
  `sha256-<digest hex>.sig` in the image's repository, which the fake registry then lists.
  Without `--yes` it asks to confirm the upload to the public log, and a step has no terminal.
  An image the registry does not hold is refused.
- `verify` needs an identity and an issuer (options/certificate.go); each signature stored for
  the digest in that repository is checked: the issuer equal, the identity regexp matched as Go's
  regexp.MatchString matches (unanchored: a pattern must anchor itself),
  `--certificate-github-workflow-sha` equal (pkg/cosign/verify.go: validateCertExtensions,
  CheckCertificatePolicy). Its errors are printed as main.go prints them, last line included.
- `errors` in the state (a text -> a message) fails any cosign call naming a reference that
  contains the text (Sigstore or the registry unreachable); `fail_sign` fails that many signs."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fake_tools.docker import RefusedError, resolve

ISSUER = "https://token.actions.githubusercontent.com"
SIGN_FLAGS = {"--yes", "--new-bundle-format", "--use-signing-config"}
VERIFY_VALUES = {
    "--certificate-oidc-issuer",
    "--certificate-identity-regexp",
    "--certificate-identity",
    "--certificate-github-workflow-sha",
}


def flags(args: list[str], booleans: set[str], values: set[str]) -> tuple[dict[str, str], list[str]]:
    """Cobra's parsing: `--flag`, `--flag=value` (booleans: true/false), `--flag value`; anything
    else that starts with `-` is unknown."""
    found: dict[str, str] = {}
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if not arg.startswith("-"):
            rest.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name in booleans:
            if has_value and value not in ("true", "false"):
                raise RefusedError(f'Error: invalid argument "{value}" for "{name}" flag')
            found[name] = value if has_value else "true"
        elif name in values:
            found[name] = value if has_value else next(items, "")
        else:
            raise RefusedError(f"Error: unknown flag: {name}")
    return found, rest


def failure(message: str) -> RefusedError:
    return RefusedError(f"Error: {message}\nmain.go:74: error during command execution: {message}")


def image(state: dict[str, Any], ref: str) -> tuple[str, str]:
    """(repository, digest) of what `ref` names, as the registry answers cosign."""
    try:
        repository, digest, _ = resolve(state, ref)
    except RefusedError:
        raise failure(f"GET {ref}: MANIFEST_UNKNOWN: manifest unknown") from None
    return repository, digest


def sign(state: dict[str, Any], env: dict[str, str], args: list[str]) -> None:
    found, refs = flags(args, SIGN_FLAGS, set())
    if len(refs) != 1:
        raise failure(f"accepts 1 arg(s), received {len(refs)}")
    (ref,) = refs
    if (
        found.get("--use-signing-config", "true") == "true"
        and found.get("--new-bundle-format", "true") != "true"
    ):
        raise failure(
            "must provide --new-bundle-format or --bundle where applicable with --signing-config or "
            "--use-signing-config"
        )
    if found.get("--yes") != "true":
        raise failure("signing: user declined to continue: EOF")
    if not (env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")):
        raise failure("signing: getting signer: getting key from Fulcio: no ambient OIDC credentials")
    for pattern, message in state.get("errors", {}).items():
        if pattern in ref:
            raise failure(message)
    if state.get("fail_sign", 0) > 0:
        state["fail_sign"] -= 1
        raise failure("signing: uploading to the transparency log: 503 Service Unavailable")
    repository, digest = image(state, ref)
    if found.get("--new-bundle-format", "true") == "true":
        raise failure(f"signing: writing the referrer of {repository}@{digest}: unknown manifest class")
    if "@" not in ref:
        sys.stderr.write(f"WARNING: Image reference {ref} uses a tag, not a digest\n")
    signature = {
        "subject": f"https://github.com/{env['GITHUB_WORKFLOW_REF']}",
        "issuer": ISSUER,
        "sha": env["GITHUB_SHA"],
    }
    state.setdefault("signatures", {}).setdefault(f"{repository}@{digest}", []).append(signature)
    stored = (
        "sha256:"
        + hashlib.sha256(json.dumps(state["signatures"][f"{repository}@{digest}"]).encode()).hexdigest()
    )
    state["images"][f"{repository}:{digest.replace(':', '-')}.sig"] = stored
    state["manifests"][f"{repository}@{stored}"] = []


def verify(state: dict[str, Any], args: list[str]) -> str:
    found, refs = flags(args, {"--new-bundle-format"}, VERIFY_VALUES)
    if not refs:
        raise failure("requires at least 1 arg(s), only received 0")
    if "--certificate-identity" not in found and "--certificate-identity-regexp" not in found:
        raise failure(
            "--certificate-identity or --certificate-identity-regexp is required for verification in "
            "keyless mode"
        )
    if "--certificate-oidc-issuer" not in found:
        raise failure(
            "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for verification "
            "in keyless mode"
        )
    for ref in refs:
        for pattern, message in state.get("errors", {}).items():
            if pattern in ref:
                raise failure(message)
        repository, digest = image(state, ref)
        signatures = state.get("signatures", {}).get(f"{repository}@{digest}", [])
        if not signatures:
            raise failure("no signatures found")
        reasons = [reason(signature, found) for signature in signatures]
        if all(reasons):
            raise failure("no matching signatures: " + "\n ".join(r for r in reasons if r))
    return json.dumps([{"critical": {"image": {"docker-manifest-digest": digest}}}])


def reason(signature: dict[str, str], found: dict[str, str]) -> str:
    """Why a signature does not pass (empty when it does)."""
    wanted_sha = found.get("--certificate-github-workflow-sha")
    if wanted_sha and signature["sha"] != wanted_sha:
        return "expected GitHub Workflow SHA not found in certificate"
    identity_ok = (
        signature["subject"] == found["--certificate-identity"]
        if "--certificate-identity" in found
        else re.search(found["--certificate-identity-regexp"], signature["subject"]) is not None
    )
    if not identity_ok or signature["issuer"] != found["--certificate-oidc-issuer"]:
        return (
            "none of the expected identities matched what was in the certificate, got subjects "
            f"[{signature['subject']}] with issuer {signature['issuer']}"
        )
    return ""


def main(state_path: Path, log: Path, args: list[str], env: dict[str, str]) -> int:
    state: dict[str, Any] = json.loads(state_path.read_text())
    with log.open("a") as out:
        out.write(json.dumps(["cosign", *args]) + "\n")
    state.setdefault("images", {})
    state.setdefault("manifests", {})
    try:
        if args[:1] == ["sign"]:
            try:
                sign(state, env, args[1:])
            finally:
                state_path.write_text(json.dumps(state))
            return 0
        if args[:1] == ["verify"]:
            print(verify(state, args[1:]))
            return 0
    except RefusedError as refused:
        sys.stderr.write(f"{refused}\n")
        return 1
    sys.stderr.write(f"fake cosign: unexpected {args}\n")
    return 2


if __name__ == "__main__":
    import os

    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:], dict(os.environ)))
