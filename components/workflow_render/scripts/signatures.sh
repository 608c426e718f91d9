#!/usr/bin/env bash
# A verify run of a signing stack: each image as the run's ref tags it (a release's tag, or the
# branch's), its digest, and whether a signature of that digest was made by this repository's
# workflow (cosign verify, keyless: GitHub's issuer and the workflow's identity). A digest with
# no such signature fails the run, naming the image, the digest and the identity expected. An
# image the ref does not tag (an immutable image has no branch tag) is not checked.
# In: IMAGES (per line: name, reference), TAG, ISSUER, IDENTITY (a regexp, anchored).
set -euo pipefail

failed=0
rows=()
while IFS=$'\t' read -r name reference; do
  [[ -n $name ]] || continue
  if ! digest=$(docker buildx imagetools inspect "$reference:$TAG" --format '{{.Manifest.Digest}}' 2>&1); then
    case ${digest,,} in
      *"not found"* | *"manifest unknown"* | *manifest_unknown*) signed="not checked: no image tagged $TAG" ;;
      *) signed="no: $(head -n 1 <<< "$digest")" && failed=1 ;;
    esac
    digest=
  elif proof=$(cosign verify --certificate-oidc-issuer "$ISSUER" --certificate-identity-regexp "$IDENTITY" \
    "$reference@$digest" 2>&1); then
    signed=yes
  else
    signed="no: $(tail -n 1 <<< "$proof")"
    failed=1
    echo "::error::$name ($reference@$digest) has no signature made by $IDENTITY"
  fi
  echo "$name: $signed"
  rows+=("| \`$name\` | \`$TAG\` | \`${digest:-none}\` | $signed |")
done <<< "$IMAGES"
{
  printf '### Verify: signatures\n\n| image | tag | digest | signed |\n|---|---|---|---|\n'
  printf '%s\n' "${rows[@]}"
} >> "$GITHUB_STEP_SUMMARY"
exit "$failed"
