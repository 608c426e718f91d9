#!/usr/bin/env bash
# A verify run (Run workflow with verify: true): after the same registry login the builds use,
# each image's repository is asked, with those credentials, for a tag no build pushes; nothing
# is pushed. "manifest unknown" or "not found" means the repository answered (buildx says
# "<reference>: not found" for any 404, containerd's resolver: a missing tag, or a repository
# missing from a registry that does not say NAME_UNKNOWN, which the stack's next up recreates);
# "unauthorized",
# "denied" or "authentication required" that the login may not read it; "name unknown" that
# there is no such repository. The job summary gets a table: registry, image, login, reachable.
# In: REGISTRY, LOGIN (the login steps' outcome), IMAGES (per line: name, reference).
set -euo pipefail

probe=acr-pipeline-verify
failed=0
rows=()
while IFS=$'\t' read -r name reference; do
  [[ -n $name ]] || continue
  if [[ $LOGIN != success ]]; then
    reachable="not asked: the login failed"
  elif answer=$(docker buildx imagetools inspect "$reference:$probe" 2>&1); then
    reachable=yes
  else
    case ${answer,,} in
      *"name unknown"* | *name_unknown* | *"repository name not known"*) reachable="no: no such repository" ;;
      *"manifest unknown"* | *manifest_unknown* | *"not found"*) reachable=yes ;;
      *unauthorized* | *denied* | *"authentication required"*) reachable="no: the login may not read it" ;;
      *) reachable="no: $(head -n 1 <<< "$answer")" ;;
    esac
  fi
  [[ $reachable == yes ]] || failed=1
  echo "$name: $reachable"
  rows+=("| \`$REGISTRY\` | \`${reference#"$REGISTRY"/}\` | $LOGIN | $reachable |")
done <<< "$IMAGES"
{
  printf '### Verify: login and repositories\n\n| registry | image | login | reachable |\n|---|---|---|---|\n'
  printf '%s\n' "${rows[@]}"
} >> "$GITHUB_STEP_SUMMARY"
if ((failed)); then
  echo "::error::verification failed: see the table in the run's summary"
  exit 1
fi
echo "every repository answers with the workflow's login; nothing was pushed"
