#!/usr/bin/env bash
# Which images changed, from GitHub's compare API: no history is fetched. A push compares with
# the head of the last successful run of this workflow on its branch (not the previous push:
# a cancelled or failed run must not lose its changes); a pull request with its base, as
# GitHub shows its changes. Fails open: with nothing to compare with, or a comparison that
# fails, lists more files than GitHub returns, or is not a fast-forward, every image builds.
# In: GITHUB_REPOSITORY, HEAD, FILTERS (a line each: image key, + or - (exclude), an ERE), and
#     BASE (pull request) or WORKFLOW and BRANCH (push). Out: <image key>=true|false.
set -euo pipefail

keys=()
declare -A changed=()
while read -r key _ _; do
  if [[ -n $key && -z ${changed[$key]+set} ]]; then
    keys+=("$key")
    changed[$key]=false
  fi
done <<< "$FILTERS"

finish() {
  for key in "${keys[@]}"; do
    echo "$key=${changed[$key]}" >> "$GITHUB_OUTPUT"
  done
  printf '### Changed images\n\n%s\n' "$1" >> "$GITHUB_STEP_SUMMARY"
  exit 0
}

build_all() {
  for key in "${keys[@]}"; do
    changed[$key]=true
  done
  echo "::notice::$1: building every image"
  finish "$1: building every image (${keys[*]})."
}

# Whether a file is one of the image's: its patterns in order, a later one overriding an
# earlier one, as GitHub's path filters do.
matches() {
  local image=$1 file=$2 found=false key sign pattern
  while read -r key sign pattern; do
    if [[ $key == "$image" && $file =~ $pattern ]]; then
      [[ $sign == + ]] && found=true || found=false
    fi
  done <<< "$FILTERS"
  [[ $found == true ]]
}

base=${BASE:-}
since="the pull request's base"
if [[ -z $base ]]; then
  # Push runs only: a dispatched run (`make verify`, or a build by hand) may succeed having
  # built nothing, and would hide the changes of a push whose build failed.
  if ! base=$(gh api --method GET "repos/$GITHUB_REPOSITORY/actions/workflows/$WORKFLOW/runs" \
    -f branch="$BRANCH" -f event=push -f status=success -f per_page=1 \
    --jq '.workflow_runs[0].head_sha // ""'); then
    build_all "the last successful run could not be looked up"
  fi
  if [[ -z $base ]]; then
    build_all "no earlier successful run on $BRANCH"
  fi
  since="the last successful run"
fi

# Files renamed away from an image's paths count as its changes too (previous_filename).
if ! answer=$(gh api "repos/$GITHUB_REPOSITORY/compare/$base...$HEAD" \
  --jq '.status, (.files | length), (.files[] | .filename, (.previous_filename // empty))'); then
  build_all "the comparison with ${base::7} ($since) failed"
fi
mapfile -t lines <<< "$answer"
status=${lines[0]}
count=${lines[1]}
if [[ -z ${BASE:-} && $status != ahead && $status != identical ]]; then
  build_all "${base::7} ($since) is not an ancestor of this commit (the comparison is $status: a rewritten history, or an older commit run again)"
fi
# GitHub lists at most 300 files of a comparison ("Compare two commits").
if ((count >= 300)); then
  build_all "$count files changed since ${base::7} ($since), more than GitHub's comparison lists"
fi

for file in "${lines[@]:2}"; do
  for key in "${keys[@]}"; do
    if [[ ${changed[$key]} == false ]] && matches "$key" "$file"; then
      changed[$key]=true
    fi
  done
done
built=()
for key in "${keys[@]}"; do
  if [[ ${changed[$key]} == true ]]; then
    built+=("$key")
  fi
done
finish "Since ${base::7} ($since), $count files changed: ${built[*]:-no image} to build."
