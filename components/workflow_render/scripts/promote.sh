#!/usr/bin/env bash
# On a release tag: the image already built from this commit's files, retagged as the release
# instead of built again, so the release is the very image that was tested. Branch runs tag an
# image sha-<commit> and build only the images whose files changed, so this commit's image may
# carry an older commit's sha-: any of the last HISTORY commits (the depth the checkout fetched)
# whose files under the image's paths are this commit's (git diff: a merge's other parent,
# built without the merged change, never is), newest first; this stack's repository (IMAGE)
# first, then the image NAME in each of the other NAMESPACES of REGISTRY. Every build of the
# image looks (so that none builds what is released); the one with RETAG=true retags.
# In: IMAGE, NAME, REGISTRY, NAMESPACES, PATHSPECS, TAGS (each one per line), RETAG, BUILD,
#     HISTORY, RETRY_PAUSE. Out: promoted=true|false, and when promoted, released (the image
#     taken) and digest.
set -euo pipefail

mapfile -t specs < <(printf '%s' "$PATHSPECS")
candidates=()
for commit in $(git rev-list --max-count="$HISTORY" HEAD); do
  if git diff --quiet "$commit" HEAD -- "${specs[@]}"; then
    candidates+=("sha-${commit::7}")
  fi
done
args=()
while read -r tag; do
  if [[ -n $tag ]]; then
    args+=(-t "$tag")
  fi
done <<< "$TAGS"
sources=("$IMAGE")
while read -r namespace; do
  if [[ -n $namespace ]]; then
    sources+=("$REGISTRY/$namespace/$NAME")
  fi
done <<< "$NAMESPACES"
for source in "${sources[@]}"; do
  for candidate in "${candidates[@]}"; do
    if ! digest=$(docker buildx imagetools inspect "$source:$candidate" --format '{{.Manifest.Digest}}' 2> /dev/null); then
      continue
    fi
    if [[ $RETAG == true ]]; then
      for attempt in 1 2; do
        if docker buildx imagetools create "${args[@]}" "$source@$digest"; then
          break
        fi
        if ((attempt == 2)); then
          echo "::error::could not retag $source:$candidate ($digest) as the release"
          exit 1
        fi
        sleep "$RETRY_PAUSE"
      done
      echo "::notice::released $source:$candidate ($digest) as it is: no rebuild"
    fi
    {
      echo "promoted=true"
      echo "released=$source:$candidate"
      echo "digest=$digest"
    } >> "$GITHUB_OUTPUT"
    exit 0
  done
done
echo "promoted=false" >> "$GITHUB_OUTPUT"
if [[ $BUILD != true ]]; then
  echo "::error::no image of this commit (${candidates[*]:-none of the last $HISTORY commits has its files}) in ${sources[*]}; promote.build is false"
  exit 1
fi
echo "::notice::no image of this commit yet: building it"
