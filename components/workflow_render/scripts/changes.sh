#!/usr/bin/env bash
# The files changed since what this run compares with, from GitHub's compare API: no history is
# fetched. A push compares with the head of the last successful run of this workflow on its
# branch (not the previous push: a cancelled or failed run must not lose its changes); a pull
# request with its base, as GitHub shows its changes. Fails open: with nothing to compare with,
# or a comparison that fails, lists more files than GitHub returns, or is not a fast-forward, it
# lists nothing, and every image builds (scripts/plan.sh).
# In: GITHUB_REPOSITORY, HEAD, and BASE (pull request) or WORKFLOW and BRANCH (push).
# Out: files (a JSON list: each changed file, and the old name of a renamed one), or none.
set -euo pipefail

every() {
  echo "::notice::$1: building every image"
  exit 0
}

base=${BASE:-}
if [[ -z $base ]]; then
  # Push runs only: a dispatched run (`make verify`, or a build by hand) may succeed having
  # built nothing, and would hide the changes of a push whose build failed.
  base=$(gh api --method GET "repos/$GITHUB_REPOSITORY/actions/workflows/$WORKFLOW/runs" \
    -f branch="$BRANCH" -f event=push -f status=success -f per_page=1 \
    --jq '.workflow_runs[0].head_sha // ""') || every "the last successful run could not be looked up"
  [[ -n $base ]] || every "no earlier successful run on $BRANCH"
fi
# Files renamed away from an image's paths count as its changes too (previous_filename).
answer=$(gh api "repos/$GITHUB_REPOSITORY/compare/$base...$HEAD" \
  --jq '{status, count: (.files | length), files: [.files[] | .filename, (.previous_filename // empty)]}') ||
  every "the comparison with ${base::7} failed"
status=$(jq -r .status <<< "$answer")
count=$(jq -r .count <<< "$answer")
if [[ -z ${BASE:-} && $status != ahead && $status != identical ]]; then
  every "${base::7}, the last successful run, is not an ancestor of this commit (the comparison is $status: a rewritten history, or an older commit run again)"
fi
# GitHub lists at most 300 files of a comparison ("Compare two commits").
((count < 300)) || every "$count files changed since ${base::7}, more than GitHub's comparison lists"
echo "files=$(jq -c .files <<< "$answer")" >> "$GITHUB_OUTPUT"
echo "$count files changed since ${base::7}"
