#!/usr/bin/env bash
# On a release tag: the image already built from this commit's files, found so that the release
# is the very image that was tested, not a rebuild. Branch runs tag an image sha-<commit> and
# build only the images whose files changed, so this commit's image may carry an older
# commit's sha-: any of the last HISTORY commits (the depth the checkout fetched) whose files
# under the image's paths are this commit's (git diff: a merge's other parent, built without
# the merged change, never is), newest first; this stack's repository (IMAGE) first, then the
# image NAME in each of the other NAMESPACES of REGISTRY. An image found is checked, not
# trusted because its tag exists: its org.opencontainers.image.revision label (docker/
# metadata-action's) must be the commit its tag names, its platforms this stack's (PLATFORMS:
# another stack may build fewer), and with SIGNED=true its cosign signature one this
# repository's workflow made for that commit (the identity: OWN for this stack's repository,
# SHARED for the others'; --certificate-github-workflow-sha). An image of another commit fails
# the run; one of other platforms or unproven is not released (BUILD=true: built instead).
# Every build of the image looks; the build that creates the image releases what any of them
# found (scripts/merge.sh).
# In: IMAGE, NAME, REGISTRY, NAMESPACES, PATHSPECS (each one per line), PLATFORMS (", "), BUILD,
#     HISTORY, and SIGNED, ISSUER, OWN, SHARED (identities, regexps). Out: promoted=true|false,
#     and when promoted, released (the image taken, by tag) and digest.
set -euo pipefail

# A found image that is not this release's: built instead (BUILD=true), else the run fails.
not_released() {
  if [[ $BUILD == true ]]; then
    echo "::warning::$1; building it instead"
    echo "promoted=false" >> "$GITHUB_OUTPUT"
    exit 0
  fi
  echo "::error::$1; promote.build is false"
  exit 1
}

mapfile -t specs < <(printf '%s' "$PATHSPECS")
commits=()
for commit in $(git rev-list --max-count="$HISTORY" HEAD); do
  if git diff --quiet "$commit" HEAD -- "${specs[@]}"; then
    commits+=("$commit")
  fi
done
sources=("$IMAGE")
while read -r namespace; do
  if [[ -n $namespace ]]; then
    sources+=("$REGISTRY/$namespace/$NAME")
  fi
done <<< "$NAMESPACES"
for source in "${sources[@]}"; do
  identity=${SHARED:-}
  if [[ $source == "$IMAGE" ]]; then
    identity=${OWN:-}
  fi
  for commit in "${commits[@]}"; do
    candidate="$source:sha-${commit::7}"
    # Not there is the one answer that means "look further"; any other failure is a failure.
    if ! digest=$(docker buildx imagetools inspect "$candidate" --format '{{.Manifest.Digest}}' 2>&1); then
      case ${digest,,} in
        *"not found"* | *"manifest unknown"* | *manifest_unknown* | *"name unknown"* | *name_unknown*) continue ;;
      esac
      echo "::error::could not inspect $candidate: $digest"
      exit 1
    fi
    config=$(docker buildx imagetools inspect "$source@$digest" --format '{{json .Image}}')
    revisions=$(jq -r '[objects | if has("os") then . else .[] end | .config.Labels["org.opencontainers.image.revision"] // "none"] | unique | join(" ")' <<< "$config")
    if [[ $revisions != "$commit" ]]; then
      echo "::error::$candidate ($digest) is an image of commit ${revisions:-none}, not of $commit that its tag names: it was not built by this pipeline from that commit. Delete the tag (the next branch build of $commit pushes it anew), or release a commit whose image this pipeline built"
      exit 1
    fi
    held=$(jq -r '[objects | if has("os") then . else .[] end | [.os, .architecture, .variant // empty] | join("/")] | sort | join(", ")' <<< "$config")
    wanted=$(jq -rn --arg platforms "$PLATFORMS" '$platforms | split(", ") | sort | join(", ")')
    if [[ $held != "$wanted" ]]; then
      not_released "$candidate ($digest) is an image for ${held:-no platform}, not for $wanted that this stack builds"
    fi
    if [[ ${SIGNED:-false} == true ]] && ! proof=$(cosign verify --certificate-oidc-issuer "$ISSUER" \
      --certificate-identity-regexp "$identity" --certificate-github-workflow-sha "$commit" \
      "$source@$digest" 2>&1); then
      not_released "$candidate ($digest) has no signature of $identity for commit $commit: $(tail -n 1 <<< "$proof")"
    fi
    echo "::notice::releasing $candidate ($digest) as it is: no rebuild"
    {
      echo "promoted=true"
      echo "released=$candidate"
      echo "digest=$digest"
    } >> "$GITHUB_OUTPUT"
    exit 0
  done
done
echo "promoted=false" >> "$GITHUB_OUTPUT"
if [[ $BUILD != true ]]; then
  echo "::error::no image of this commit's files in ${sources[*]} (tags sha-<commit> of the last $HISTORY commits whose files are this commit's); promote.build is false"
  exit 1
fi
echo "::notice::no image of this commit's files yet: building it"
