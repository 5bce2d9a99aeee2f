#!/bin/sh
# A cloudlease hook that tells the operator what happened: one line per event in a log
# (swap the printf for mail, a chat webhook, a pager...). Machines themselves come from
# [provision] in config.toml, not from hooks: a hook only hears about them.
#
# The event arrives as JSON on stdin, with CLOUDLEASE_EVENT, CLOUDLEASE_EVENT_ID,
# CLOUDLEASE_LEASE_ID, CLOUDLEASE_TENANT and CLOUDLEASE_HOME set, and nothing else of the
# caller's environment. Exit non-zero to have cloudlease retry the event on the next tick.
# Delivery is at-least-once: use CLOUDLEASE_EVENT_ID to ignore an event seen before.
set -eu
log="${CLOUDLEASE_HOOK_LOG:-$CLOUDLEASE_HOME/events.log}"
event=$(cat)
field() {  # field machine.error → that value of the event
  printf '%s' "$event" | python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = (value or {}).get(key)
print(value if value is not None else "-")' "$1"
}
case "$CLOUDLEASE_EVENT" in
  provision_ready)  what="machine ready: $(field machine.login)" ;;
  provision_failed) what="machine FAILED: $(field machine.error)" ;;
  lease_active)     what="lease paid and active" ;;
  lease_ended)      what="lease ended" ;;
  payment_refund_due) what="refund due: $(field refund_sats) sat on $(field request_id)" ;;
  *)                what="$CLOUDLEASE_EVENT" ;;
esac
printf '%s %s %s %s\n' "$CLOUDLEASE_EVENT_ID" "$CLOUDLEASE_EVENT" "${CLOUDLEASE_LEASE_ID:--}" \
  "$what" >> "$log"
