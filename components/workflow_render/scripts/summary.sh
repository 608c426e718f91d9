#!/usr/bin/env bash
# The job summary of an image this job pushed, created or released: where it is, its tags,
# digest and platforms, and the line that pulls exactly this image.
# In: IMAGE, TAGS (one per line), DIGEST, PLATFORMS, and RELEASED (the sha- image a release
# was promoted from) or PUSHED=false (a pull request's build, nothing pushed).
set -euo pipefail

{
  echo "### \`$IMAGE\`"
  echo
  if [[ ${PUSHED:-true} == false ]]; then
    echo "Built for $PLATFORMS; not pushed (a pull request's build)."
    exit 0
  fi
  if [[ -n ${RELEASED:-} ]]; then
    echo "Released \`$RELEASED\` as it is, no rebuild."
    echo
  fi
  echo "| | |"
  echo "|---|---|"
  echo "| tags | $(sed -e '/^$/d' -e 's/.*:/`/' -e 's/$/`/' <<< "$TAGS" | paste -sd ' ') |"
  echo "| digest | \`$DIGEST\` |"
  echo "| platforms | $PLATFORMS |"
  echo
  echo '```sh'
  echo "docker pull $IMAGE@$DIGEST"
  echo '```'
} >> "$GITHUB_STEP_SUMMARY"
