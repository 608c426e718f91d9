#!/usr/bin/env bash
# The image under its tags, once every build of it is in. Each build of the image runs this after
# pushing by digest and publishing its digest; the one that finds all of them creates the image
# (a multi-arch one from several), so the release waits for one approval, not one per wave of
# jobs. A build that found the commit's image already built (scripts/promote.sh) published that
# image's digest and tag instead: then that image is the release, whatever the others built.
# Two builds that finish together both create it: from the same digests it is the same image.
# In an immutable repository a tag that exists is checked, never trusted: it must hold an image
# of this release's commit (its org.opencontainers.image.revision label); the tags not there yet
# are created from it, so that a partly pushed release converges on a re-run.
# In: IMAGE, LEGS (how many builds), DIGESTS (a directory: a file per build holding its digest,
#     and the image it found, if any), TAGS (one per line), IMMUTABLE, REVISION (the run's
#     commit), RETRY_PAUSE. Out: merged=true|false, digest, released (the image found, if any).
set -euo pipefail

revision() {
  docker buildx imagetools inspect "$1" --format '{{json .Image}}' |
    jq -r '[.. | objects | .Labels? // empty | .["org.opencontainers.image.revision"] // "none"] | unique | join(" ")'
}

mapfile -t files < <(find "$DIGESTS" -type f 2> /dev/null | sort)
if ((${#files[@]} < LEGS)); then
  echo "::notice::${#files[@]} of $LEGS builds of the image pushed so far: the last one creates it"
  echo "merged=false" >> "$GITHUB_OUTPUT"
  exit 0
fi
sources=()
released=
for file in "${files[@]}"; do
  read -r digest found < "$file"
  if [[ -n ${found:-} ]]; then
    released=$found
    sources=("${found%:*}@$digest")
    break
  fi
  sources+=("$IMAGE@$digest")
done
expected=$REVISION
if [[ -n $released ]]; then
  expected=$(revision "${sources[0]}")
fi
missing=()
while read -r tag; do
  if [[ -z $tag ]]; then
    continue
  fi
  if [[ $IMMUTABLE == true ]] && docker buildx imagetools inspect "$tag" > /dev/null 2>&1; then
    held=$(revision "$tag")
    if [[ $held != "$expected" ]]; then
      echo "::error::$tag exists and holds an image of commit $held, not of $expected that this run releases: an immutable tag never moves. Release this commit under another tag, or delete $tag in the registry if it was pushed by mistake"
      exit 1
    fi
    # Pushed by an earlier attempt: the tags still missing are made of that very image.
    sources=("$IMAGE@$(docker buildx imagetools inspect "$tag" --format '{{.Manifest.Digest}}')")
    continue
  fi
  missing+=("$tag")
done <<< "$TAGS"
args=()
for tag in "${missing[@]}"; do
  args+=(-t "$tag")
done
for attempt in 1 2; do
  if ((${#args[@]} == 0)) || docker buildx imagetools create "${args[@]}" "${sources[@]}"; then
    break
  fi
  if ((attempt == 2)); then
    echo "::error::could not create the image $IMAGE from ${sources[*]}"
    exit 1
  fi
  sleep "$RETRY_PAUSE"
done
first=$(sed -n '/./{p;q}' <<< "$TAGS")
{
  echo "merged=true"
  echo "digest=$(docker buildx imagetools inspect "$first" --format '{{.Manifest.Digest}}')"
  echo "released=$released"
} >> "$GITHUB_OUTPUT"
