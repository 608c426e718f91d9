#!/usr/bin/env bash
# The build matrix: the rows of BUILDS (JSON, a build a line) of each image one of whose files
# changed: its FILTERS in order, a later one overriding an earlier one, as GitHub's path filters
# do. With no list of files (a release tag, a manual run, a detection that failed open or did
# not answer), every image builds.
# In: BUILDS, FILTERS (a line each: image key, + or - (a `!` pattern excludes), an anchored
#     ERE), FILES (a JSON list, or empty). Out: builds (the rows to build, a JSON list).
set -euo pipefail

# shellcheck disable=SC2016 # a jq program: $files and $filters are jq's variables
rows=$(jq -sc --argjson files "${FILES:-null}" --arg filters "${FILTERS:-}" '
  [$filters | splits("\n") | capture("^(?<key>[^ ]+) (?<sign>[-+]) (?<ere>.+)$")] as $rules
  | def changed($key): any($files[]; . as $file | reduce ($rules[] | select(.key == $key)) as $rule
      (false; if $file | test($rule.ere) then $rule.sign == "+" else . end));
  map(select($files == null or changed(.key)))' <<< "$BUILDS")
echo "builds=$rows" >> "$GITHUB_OUTPUT"
images=$(jq -r '[.[].image] | unique | join(", ")' <<< "$rows")
echo "Images to build: ${images:-none}." >> "$GITHUB_STEP_SUMMARY"
