#!/usr/bin/env bash
# The job summary of an image this job pushed, created or released: where it is, its tags,
# digest and platforms, and the line that pulls exactly this image.
# In: IMAGE, TAGS (one per line), DIGEST, PLATFORMS, and RELEASED (the sha- image a release
# was promoted from, or empty).
set -euo pipefail

list=$(sed -e '/^$/d' -e 's/.*:/`/' -e 's/$/`/' <<< "$TAGS" | paste -sd ' ')
released=${RELEASED:+"Released \`$RELEASED\` as it is, no rebuild."}
cat >> "$GITHUB_STEP_SUMMARY" << SUMMARY
### \`$IMAGE\`

$released

| | |
|---|---|
| tags | $list |
| digest | \`$DIGEST\` |
| platforms | $PLATFORMS |

\`\`\`sh
docker pull $IMAGE@$DIGEST
\`\`\`
SUMMARY
