#!/usr/bin/env bash
# aliyun/configure-aliyun-credentials-action exports the temporary credentials to every later
# step of the job; once docker is logged in, nothing else needs them. In: CREDENTIALS (names).
set -euo pipefail

for name in $CREDENTIALS; do
  echo "$name=" >> "$GITHUB_ENV"
done
