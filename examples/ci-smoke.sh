#!/usr/bin/env bash
# The whole rent → pay → active flow, offline and deterministic, on the simulated
# regtest chain. Suitable for a CI smoke test: exits non-zero on any surprise.
set -euo pipefail
CLOUDLEASE="${CLOUDLEASE:-cloudlease}"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export CLOUDLEASE_HOME="$home/cl" CLOUDLEASE_NOW="2026-01-01T12:00:00Z"
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

$CLOUDLEASE init --network regtest > /dev/null
$CLOUDLEASE tenant add alice --email alice@example.com > /dev/null
lease=$($CLOUDLEASE rent --hours 2 --tenant alice --json --no-wait)
id=$(field 'd["id"]' <<<"$lease")
req=$(field 'd["payment"]["id"]' <<<"$lease")
$CLOUDLEASE devchain pay "$req" > /dev/null
$CLOUDLEASE devchain mine > /dev/null
$CLOUDLEASE tick --json > /dev/null
$CLOUDLEASE pay check "$req" > /dev/null           # exit 0: settled
status=$($CLOUDLEASE lease show "$id" --json | field 'd["status"]')
[ "$status" = active ] || { echo "expected active, got $status" >&2; exit 1; }
export CLOUDLEASE_NOW="2026-01-01T14:00:00Z"
$CLOUDLEASE tick > /dev/null
status=$($CLOUDLEASE lease show "$id" --json | field 'd["status"]')
[ "$status" = ended ] || { echo "expected ended, got $status" >&2; exit 1; }
$CLOUDLEASE verify > /dev/null
echo "smoke test passed: $id rented, paid, active, ended"
