#!/usr/bin/env bash
# The image under its tags, once every build of it is in. Each build of the image runs this after
# pushing by digest and publishing its digest; the one that finds all of them creates the image
# (a multi-arch one from several), so the release waits for one approval, not one per wave of
# jobs. A build that found the commit's image already built (scripts/promote.sh) published that
# image's digest and tag instead: then that image is the release, whatever the others built.
# Two builds that finish together both create it: from the same digests it is the same image.
# In an immutable repository a tag that exists is checked, never trusted: it must hold an image
# of this release's commit (its org.opencontainers.image.revision label); the tags not there yet
# are created from it, so that a partly pushed release converges (in the retry, or on a re-run).
# In: IMAGE, LEGS (how many builds), DIGESTS (a directory: a file per build holding its digest,
#     and the image it found, if any), TAGS (one per line), IMMUTABLE, REVISION (the run's
#     commit), RETRY_PAUSE. Out: merged=true|false, digest, released (the image found, if any).
set -euo pipefail

revision() {
  docker buildx imagetools inspect "$1" --format '{{json .Image}}' |
    jq -r '[objects | if has("os") then . else .[] end | .config.Labels["org.opencontainers.image.revision"] // "none"] | unique | join(" ")'
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
# The tags still to push, as -t arguments. In an immutable repository a tag there is checked and
# kept; the rest are made of the very image it holds (pushed by an earlier attempt). Asked again
# before a retry, so that a create cut off half-way converges in the same run.
pending() {
  args=()
  while read -r tag; do
    [[ -n $tag ]] || continue
    if [[ $IMMUTABLE == true ]]; then
      if held_digest=$(docker buildx imagetools inspect "$tag" --format '{{.Manifest.Digest}}' 2>&1); then
        held=$(revision "$tag")
        if [[ $held != "$expected" ]]; then
          echo "::error::$tag exists and holds an image of commit ${held:-none}, not of $expected that this run releases: an immutable tag never moves. Release this commit under another tag, or delete $tag in the registry if it was pushed by mistake"
          exit 1
        fi
        sources=("$IMAGE@$held_digest")
        continue
      fi
      case ${held_digest,,} in
        *"not found"* | *"manifest unknown"* | *manifest_unknown* | *"name unknown"* | *name_unknown*) ;;
        *) echo "::error::could not inspect $tag: $held_digest" && exit 1 ;;
      esac
    fi
    args+=(-t "$tag")
  done <<< "$TAGS"
}

for attempt in 1 2; do
  pending
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
