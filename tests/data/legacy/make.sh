#!/usr/bin/env bash
# Builds the first-format (TOML) homes used by tests/test_migrate.py, with the cloudlease
# that wrote that format (commit 393dce0, the last before the SQL ledger):
#   git worktree add --detach /tmp/old 393dce0 && bash tests/data/legacy/make.sh /tmp/old
set -euo pipefail
OLD="$1"; OUT="$(cd "$(dirname "$0")" && pwd)"
cl() { PYTHONPATH="$OLD" python -m cloudlease "$@" >/dev/null; }
export NO_COLOR=1

# small: tenants, a pool with an investment, leases in every state, an invoice, a queued hook
export CLOUDLEASE_HOME="$OUT/small"; rm -rf "$CLOUDLEASE_HOME"
export CLOUDLEASE_NOW=2026-03-01T10:00:00Z
cl init
cl tenant add alice --email alice@example.com
cl tenant add bob
cl pool add gpu --slots 4 --cost-per-hour '100 sat' --consideration revenue_share --investor-pct 20 --period-months 6
cl plan add gpu-hour --price-per-hour '2000 sat' --pool gpu
cl pool fund gpu --tenant alice --amount '600000 sat'
cl rent --hours 2 --plan standard --tenant alice --no-wait --idempotency-key k-1
cl rent --hours 3 --plan gpu-hour --tenant bob --no-wait
cl rent --hours 1 --plan standard --no-wait
cl devchain pay P-1; cl devchain pay P-2; cl devchain pay P-3; cl devchain mine
cl tick
export CLOUDLEASE_NOW=2026-03-01T10:30:00Z
cl tick   # P-4 (the anonymous rent) expires unpaid
cl lease extend L-1 --hours 1
cl devchain pay P-5; cl devchain mine; cl tick
printf '[hooks]\nlease_ended = "false"\n' >> "$CLOUDLEASE_HOME/config.toml.hooks"
python - "$CLOUDLEASE_HOME/config.toml" <<'PY'
import sys; p = sys.argv[1]; s = open(p).read()
s = s.replace('[hooks]\ntimeout_seconds = 10', '[hooks]\ntimeout_seconds = 10\nlease_ended = "false"')
open(p, "w").write(s)
PY
rm -f "$CLOUDLEASE_HOME/config.toml.hooks"
export CLOUDLEASE_NOW=2026-03-02T10:00:00Z
cl tick   # leases end; the lease_ended hook fails and stays queued
cl invoice create --tenant alice --period 2026-03
export CLOUDLEASE_NOW=2026-04-02T10:00:00Z
cl invoice create --tenant alice --period 2026-03
cl invoice issue D-1

# sealed: 205 leases closed more than two days ago, so one archive segment is sealed
export CLOUDLEASE_HOME="$OUT/sealed"; rm -rf "$CLOUDLEASE_HOME"
export CLOUDLEASE_NOW=2026-05-01T10:00:00Z
cl init
cl tenant add carol
for i in $(seq 1 205); do cl rent --hours 1 --tenant carol --no-wait; done
for i in $(seq 1 205); do cl devchain pay "P-$i"; done
cl devchain mine; cl tick
export CLOUDLEASE_NOW=2026-05-04T10:00:00Z
cl tick
cl rent --hours 1 --tenant carol --no-wait
export CLOUDLEASE_NOW=2026-05-07T10:00:00Z
cl tick   # closed two days ago: sealed; L-206 expires
rm -f "$OUT"/*/ledger.lock
