#!/usr/bin/env bash
# After a failed keyless login: the claims of the job's own OIDC token beside what the role's
# trust policy admits, naming the claim that differs. The token itself is never printed.
# In: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub's, with
#     id-token: write), AUDIENCE, ISSUER, SUBJECTS (one StringLike pattern per line).
set -euo pipefail

token=$(curl --fail --silent --show-error --max-time 30 \
  -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$AUDIENCE" | jq -r .value)
payload=${token#*.}
payload=${payload%%.*}
payload=$(tr '_-' '/+' <<< "$payload")
while ((${#payload} % 4)); do
  payload+="="
done
claims=$(base64 -d <<< "$payload")
claim() { jq -r --arg name "$1" '.[$name] // "(none)"' <<< "$claims"; }
sub=$(claim sub)
aud=$(claim aud)
iss=$(claim iss)

admitted=false
admits=()
while read -r subject; do
  if [[ -z $subject ]]; then
    continue
  fi
  admits+=("\`$subject\`")
  # RAM's StringLike: * and ? are wildcards, as in a shell pattern.
  # shellcheck disable=SC2053
  if [[ $sub == $subject ]]; then
    admitted=true
  fi
done <<< "$SUBJECTS"

differs=()
if [[ $iss != "$ISSUER" ]]; then
  differs+=("iss: the token's issuer is $iss, the trust policy admits $ISSUER")
fi
if [[ $aud != "$AUDIENCE" ]]; then
  differs+=("aud: the token's audience is $aud, the trust policy admits $AUDIENCE")
fi
if [[ $admitted == false ]]; then
  differs+=("sub: the token's subject $sub is none of those the trust policy admits (run from a ref or environment it admits, or change the stack's github.branch, workflow.tags or github.environment and run pulumi up)")
fi
{
  echo "### The keyless login failed: this job's OIDC token"
  echo
  echo "| claim | this job's token | the role's trust policy admits |"
  echo "|---|---|---|"
  echo "| sub | \`$sub\` | ${admits[*]} |"
  echo "| aud | \`$aud\` | \`$AUDIENCE\` |"
  echo "| iss | \`$iss\` | \`$ISSUER\` |"
  echo "| ref | \`$(claim ref)\` | |"
  echo "| environment | \`$(claim environment)\` | |"
  echo
  if ((${#differs[@]})); then
    printf -- '- differs: %s\n' "${differs[@]}"
  else
    echo "The token matches the trust policy: look at the provider (its fingerprints, its client IDs) and the role's ARN in ALIYUN_ROLE_ARN."
  fi
} >> "$GITHUB_STEP_SUMMARY"
for difference in "${differs[@]}"; do
  echo "::error::$difference"
done
if ((${#differs[@]} == 0)); then
  echo "::error::the token's claims match the trust policy; see the summary for what else to check"
fi
exit 1
