#!/usr/bin/env bash
# The image's signature: cosign keyless, with this job's GitHub OIDC token (no key to keep), by
# digest, never by a tag that could move. Stored the way every registry takes it, as the tag
# sha256-<digest hex>.sig of the image's repository (cosign v3 would otherwise write an OCI 1.1
# referrer, whose empty config ACR refuses: "unknown manifest class"). A failure to reach
# Sigstore is tried once more after RETRY_PAUSE. In: IMAGE, DIGEST, RETRY_PAUSE.
set -euo pipefail

for attempt in 1 2; do
  if cosign sign --yes --new-bundle-format=false --use-signing-config=false "$IMAGE@$DIGEST"; then
    echo "::notice::signed $IMAGE@$DIGEST"
    exit 0
  fi
  if ((attempt == 2)); then
    echo "::error::could not sign $IMAGE@$DIGEST"
    exit 1
  fi
  sleep "$RETRY_PAUSE"
done
