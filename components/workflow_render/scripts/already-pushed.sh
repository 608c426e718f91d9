#!/usr/bin/env bash
# An immutable repository refuses a tag it already has: a re-run, or a manual run of a commit
# already built, pushes nothing and succeeds. In: TAGS (one per line). Out: all=true|false.
set -euo pipefail

while read -r tag; do
  if [[ -n $tag ]] && ! docker buildx imagetools inspect "$tag" > /dev/null 2>&1; then
    echo "all=false" >> "$GITHUB_OUTPUT"
    exit 0
  fi
done <<< "$TAGS"
echo "::notice::every tag of this run is pushed already (immutable tags: not again)"
echo "all=true" >> "$GITHUB_OUTPUT"
