#!/usr/bin/env bash
# The image under its tags, once every build of it is pushed. Each build of the image runs this
# after pushing by digest and publishing its digest; the one that finds all of them creates the
# image (a multi-arch one from several), so the release waits for one approval, not one per
# wave of jobs. Two builds that finish together both create it: from the same digests it is the
# same image (in an immutable repository, the second finds the tags there already).
# In: IMAGE, LEGS (how many builds), DIGESTS (a directory: a file per build holding its digest),
#     TAGS (one per line), IMMUTABLE, RETRY_PAUSE. Out: merged=true|false, digest.
set -euo pipefail

mapfile -t files < <(find "$DIGESTS" -type f 2> /dev/null | sort)
if ((${#files[@]} < LEGS)); then
  echo "::notice::${#files[@]} of $LEGS builds of the image pushed so far: the last one creates it"
  echo "merged=false" >> "$GITHUB_OUTPUT"
  exit 0
fi
sources=()
for file in "${files[@]}"; do
  sources+=("$IMAGE@$(< "$file")")
done
args=()
while read -r tag; do
  if [[ -n $tag ]]; then
    args+=(-t "$tag")
  fi
done <<< "$TAGS"

all_tags_exist() {
  local tag
  for tag in "${args[@]}"; do
    if [[ $tag != -t ]] && ! docker buildx imagetools inspect "$tag" > /dev/null 2>&1; then
      return 1
    fi
  done
}

for attempt in 1 2; do
  if docker buildx imagetools create "${args[@]}" "${sources[@]}"; then
    break
  fi
  if [[ $IMMUTABLE == true ]] && all_tags_exist; then
    echo "::notice::another build of the image created it first"
    break
  fi
  if ((attempt == 2)); then
    echo "::error::could not create the image $IMAGE from ${sources[*]}"
    exit 1
  fi
  sleep "$RETRY_PAUSE"
done
digest=$(docker buildx imagetools inspect "${args[1]}" --format '{{.Manifest.Digest}}')
echo "merged=true" >> "$GITHUB_OUTPUT"
echo "digest=$digest" >> "$GITHUB_OUTPUT"
