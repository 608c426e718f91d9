#!/usr/bin/env bash
# Whether this run's commit is still the head of its branch. A run of an older commit (a re-run,
# or one a newer push overtook) pushes its sha- tag but moves neither the branch's tag nor
# latest back to an older image. When the branch cannot be looked up, nothing moves either.
# In: GITHUB_REPOSITORY, BRANCH, HEAD. Out: current=true|false.
set -euo pipefail

tip=$(gh api "repos/$GITHUB_REPOSITORY/branches/$BRANCH" --jq .commit.sha 2> /dev/null) || tip=
if [[ $tip != "$HEAD" ]]; then
  echo "::notice::${HEAD::7} is not the head of $BRANCH (${tip:-which could not be looked up}): its sha- tag is pushed; $BRANCH and latest stay where they are"
fi
echo "current=$([[ $tip == "$HEAD" ]] && echo true || echo false)" >> "$GITHUB_OUTPUT"
