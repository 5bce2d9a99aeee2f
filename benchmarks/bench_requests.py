"""Payment requests per second, for the ``descriptor`` and the ``keys`` wallet.

Measures:

1. ``ops.leases.rent`` called in a loop in one process (each call is a full ledger
   transaction: writer lock, the rows it needs loaded and checked against the audit chain,
   new address, request, one audit entry, commit), up to 1,000 requests per wallet, on a
   fresh home:
   - descriptor wallet: mainnet, watch-only, the BIP84 test zpub of the 'abandon ... about'
     mnemonic (first address checked against bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu),
     a plan priced in sats (so no exchange rate is fetched);
   - keys wallet: regtest, a new key per request appended to keys.toml.
   Every request stays unpaid, so the ledger grows by one open lease and one open request
   per call (as in a burst of rentals within the payment window); the rate is printed per
   block of 100 so any decline with the number of open requests shows. A wallet's loop
   stops early when it passes ``--budget`` seconds (default 60) to keep the run short;
   the output says so. The size of ledger.db (and its -wal) is printed at the end.
2. Address generation alone: ``DescriptorWallet.address_at`` and ``KeyStore.new_key``
   (which appends to keys.toml and fsyncs each time) and a bare bit key + P2WPKH address.
3. Wall time of one ``cloudlease rent --hours 1 --json --no-wait`` subprocess on a fresh
   regtest home (median of 5, after one untimed run).

Run from the repository root:

    python benchmarks/bench_requests.py
    python benchmarks/bench_requests.py --n 300 --budget 0     # 300 each, no time limit
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

ZPUB = ("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868R"
        "vUUkgDKf31mGDtKsAYz2oz2AGutZYs")
FIRST_ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


def rent_loop(home: Path, n: int, budget: float, label: str) -> None:
    from cloudlease.ops import leases
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    first = leases.rent(ctx, 1)  # warm-up: imports, settings; counted below
    made, total = 1, 0.0
    block_start, block_count = time.perf_counter(), 1
    t_start = block_start
    print(f"{label}: first address {first.request.address}")
    print(f"  {'requests':>10s}  {'ms/request':>10s}  {'req/s':>7s}")
    while made < n:
        leases.rent(ctx, 1)
        made += 1
        block_count += 1
        if made % 100 == 0 or made == n:
            now = time.perf_counter()
            per = (now - block_start) / block_count
            print(f"  {made - block_count + 1:>4d}-{made:<5d}  {per * 1000:10.1f}  "
                  f"{1 / per:7.1f}", flush=True)
            block_start, block_count = now, 0
            if budget and now - t_start > budget and made < n:
                print(f"  stopped after {made} requests: past the {budget:.0f} s budget")
                break
    total = time.perf_counter() - t_start
    size = c.ledger_size(home)  # before close: the -wal is folded in when the last one closes
    ctx.close()
    keys = home / "keys.toml"
    extra = f", keys.toml {c.human_bytes(c.size_of(keys))}" if keys.exists() else ""
    print(f"  overall: {made} requests in {total:.1f} s = {made / total:.1f} req/s "
          f"({size}{extra})\n")


def address_only(tmp: Path, n: int) -> None:
    import bit

    from cloudlease.bitcoin.address import p2wpkh_address
    from cloudlease.bitcoin.keystore import KeyStore
    from cloudlease.bitcoin.wallet import DescriptorWallet, parse_wallet_source

    wallet = DescriptorWallet(parse_wallet_source(ZPUB, "mainnet"), "mainnet")
    t0 = time.perf_counter()
    for i in range(n):
        wallet.address_at(i)
    d = time.perf_counter() - t0
    print(f"{'DescriptorWallet.address_at':42s} {n / d:9.0f} addresses/s  ({d / n * 1e3:.2f} ms)")
    t0 = time.perf_counter()
    for _ in range(n):
        key = bit.PrivateKeyTestnet()
        p2wpkh_address(key.public_key, "regtest")
        key.to_wif()
    d = time.perf_counter() - t0
    print(f"{'bit key + P2WPKH address (no file)':42s} {n / d:9.0f} addresses/s  "
          f"({d / n * 1e3:.2f} ms)")
    store = KeyStore(tmp / "keys-only.toml")
    t0 = time.perf_counter()
    for _ in range(n):
        store.new_key("regtest")
    d = time.perf_counter() - t0
    print(f"{'KeyStore.new_key (appends to keys.toml)':42s} {n / d:9.0f} addresses/s  "
          f"({d / n * 1e3:.2f} ms; one KeyStore object, no reload)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="requests per wallet")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds per wallet loop before stopping early (0: no limit)")
    args = ap.parse_args()
    from cloudlease.ops import plans
    from cloudlease.ops.context import Context
    from cloudlease.ops.home import init

    tmp = Path(tempfile.mkdtemp(prefix="cloudlease-bench-req-"))
    try:
        print(f"python {sys.version.split()[0]}; up to {args.n} requests per wallet, "
              "one process, ops.leases.rent in a loop\n")
        home = tmp / "descriptor-mainnet"
        init(home, network="mainnet", xpub=ZPUB)
        ctx = Context.at(home)
        plans.add(ctx, "standard", "1000 sat")
        ctx.close()
        rent_loop(home, args.n, args.budget, "descriptor wallet (mainnet, BIP84 zpub)")
        ctx = Context.at(home)
        first = ctx.read().requests["P-1"].address
        ctx.close()
        assert first == FIRST_ADDRESS, f"first derived address {first} != {FIRST_ADDRESS}"

        home = tmp / "keys-regtest"
        init(home)
        rent_loop(home, args.n, args.budget, "keys wallet (regtest)")

        print("address generation alone, 1,000 each:")
        address_only(tmp, 1000)

        home = tmp / "cli-regtest"
        init(home)
        cmd = c.cloudlease_cmd()
        w = c.wall([*cmd, "rent", "--hours", "1", "--json", "--no-wait", "--home", str(home)])
        print(f"\n{'cloudlease rent --json --no-wait (regtest)':42s} {c.fmt_wall(w)}")
        print(f"  ({' '.join(cmd)}; fresh home, keys wallet, devchain backend)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
