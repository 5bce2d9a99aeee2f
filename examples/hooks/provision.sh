#!/bin/sh
# A cloudlease hook: the event arrives as JSON on stdin, with CLOUDLEASE_EVENT,
# CLOUDLEASE_EVENT_ID, CLOUDLEASE_LEASE_ID, CLOUDLEASE_TENANT and CLOUDLEASE_HOME set.
# Exit non-zero to have cloudlease retry the event on the next tick. Delivery is
# at-least-once: use CLOUDLEASE_EVENT_ID to ignore an event seen before.
set -eu
log="${CLOUDLEASE_HOOK_LOG:-$CLOUDLEASE_HOME/hooks.log}"
event=$(cat)
case "$CLOUDLEASE_EVENT" in
  lease_active)  action="start a machine for" ;;
  lease_ended)   action="stop the machine of" ;;
  lease_expired) action="forget" ;;
  *)             action="note" ;;
esac
printf '%s %s %s %s\n' "$CLOUDLEASE_EVENT_ID" "$CLOUDLEASE_EVENT" "$action" \
  "${CLOUDLEASE_LEASE_ID:-?}" >> "$log"
printf '%s\n' "$event" > /dev/null
