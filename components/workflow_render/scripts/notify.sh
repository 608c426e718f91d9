#!/usr/bin/env bash
# Tell the team a run failed: the payload the webhook's kind expects, built by jq from TEXT so
# that nothing in it can break the JSON. In: KIND, TEXT, WEBHOOK_URL.
set -euo pipefail

# shellcheck disable=SC2016 # jq programs: $text is jq's variable, not the shell's
case $KIND in
  dingtalk) payload='{msgtype: "text", text: {content: $text}}' ;;
  feishu) payload='{msg_type: "text", content: {text: $text}}' ;;
  slack) payload='{text: $text}' ;;
  *)
    echo "::error::unknown webhook kind $KIND"
    exit 1
    ;;
esac
jq -n --arg text "$TEXT" "$payload" |
  curl --fail --silent --show-error --max-time 30 --retry 1 \
    -H 'Content-Type: application/json' --data @- "$WEBHOOK_URL"
