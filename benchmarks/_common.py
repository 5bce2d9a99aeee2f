"""Shared helpers for the benchmark scripts (not a benchmark itself).

- ``cloudlease_cmd()``: how to start the CLI (the console script next to the running
  interpreter when there is one, since it skips runpy; else ``python -m cloudlease``).
- ``wall()``: median/min/max wall time of a real subprocess over several runs.
- ``build_home()``: a regtest home holding N leases the way a long-running operator's
  would look: sealed history in ``archive/`` segments, recent closed leases and open ones
  in the hot ledger, an audit trail of realistic length, and a ledger ``verify`` accepts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])


# -- running the CLI -----------------------------------------------------------------------
def cloudlease_cmd() -> list[str]:
    script = Path(sys.executable).with_name("cloudlease")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("cloudlease")
    if found:
        return [found]
    return [sys.executable, "-m", "cloudlease"]


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDLEASE_")}
    e["NO_COLOR"] = "1"
    e.update(extra)
    return e


def run(argv: Sequence[str], *, environ: dict[str, str] | None = None,
        stdout: int | None = subprocess.PIPE, ok: Sequence[int] = (0,)
        ) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(list(argv), stdout=stdout, stderr=subprocess.PIPE,
                          env=environ or env(), check=False)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} failed with exit {proc.returncode}:\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return proc


def wall(argv: Sequence[str], *, runs: int = 5, environ: dict[str, str] | None = None,
         before: Callable[[], None] | None = None, stdout: int | None = subprocess.DEVNULL,
         ok: Sequence[int] = (0,)) -> dict[str, float]:
    """Wall times (seconds) of ``runs`` runs of a subprocess; ``before`` runs untimed."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        run(argv, environ=environ, stdout=stdout, ok=ok)
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "runs": runs}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def fmt_wall(w: dict[str, float]) -> str:
    return (f"{ms(w['median'])}  (min {w['min'] * 1000:.1f}, max {w['max'] * 1000:.1f}, "
            f"n={w['runs']:.0f})")


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# -- addresses -----------------------------------------------------------------------------
def regtest_vpub() -> str:
    """BIP84 account 0 (m/84'/1'/0') of the 'abandon ... about' mnemonic, as a vpub."""
    from embit import bip32, bip39
    from embit.networks import NETWORKS

    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC),
                                 version=NETWORKS["test"]["xprv"])
    return root.derive("m/84h/1h/0h").to_public().to_base58(version=NETWORKS["test"]["zpub"])


_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_HRP = [ord(x) >> 5 for x in "bcrt"] + [0] + [ord(x) & 31 for x in "bcrt"]


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (b >> i) & 1:
                chk ^= _GEN[i]
    return chk


def filler_address(i: int, tag: str = "bench") -> str:
    """A valid regtest P2WPKH address nobody holds a key for (fast: no EC maths).

    Used for sealed history, whose addresses are only stored, never derived again."""
    n = int.from_bytes(hashlib.sha256(f"{tag}:{i}".encode()).digest()[:20], "big")
    data = [0] + [(n >> (5 * (31 - k))) & 31 for k in range(32)]
    pm = _polymod(_HRP + data + [0] * 6) ^ 1
    return "bcrt1" + "".join(_CHARSET[d] for d in data + [(pm >> 5 * (5 - k)) & 31
                                                          for k in range(6)])


def filler_wif(i: int) -> str:
    """A testnet WIF-shaped compressed key (0xef + 32 bytes + 0x01, base58check)."""
    from embit import base58

    raw = b"\xef" + hashlib.sha256(f"wif:{i}".encode()).digest() + b"\x01"
    return base58.encode_check(raw)


# -- config edits (benchmarks own their homes and may rewrite their config) --------------
def set_config(home: Path, table: str, key: str, value: object) -> None:
    """Set ``key`` in ``[table]`` of home/config.toml (adds it when missing). Values are
    written inline (an array on one line); a multi-line array it replaces is removed."""
    import tomli_w

    if isinstance(value, list):
        rendered = "[" + ", ".join(tomli_w.dumps({"v": v})[4:].strip() for v in value) + "]"
    else:
        rendered = tomli_w.dumps({"v": value})[4:].strip()
    path = home / "config.toml"
    lines = path.read_text().splitlines()
    in_table = False
    for n, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            if in_table:  # key absent: insert at the end of the table
                lines.insert(n, f"{key} = {rendered}")
                break
            in_table = stripped == f"[{table}]"
            continue
        if in_table and stripped.split("=", 1)[0].strip() == key:
            old = stripped.split("=", 1)[1].split("#", 1)[0].strip()
            end = n
            if old.startswith("[") and not old.endswith("]"):  # multi-line array
                while not lines[end].split("#", 1)[0].strip().endswith("]"):
                    end += 1
            lines[n:end + 1] = [f"{key} = {rendered}"]
            break
    else:
        if not in_table:
            lines.append(f"[{table}]")
        lines.append(f"{key} = {rendered}")
    path.write_text("\n".join(lines) + "\n")


# -- building homes ------------------------------------------------------------------------
def init_home(path: Path, *, wallet: str = "descriptor") -> Path:
    from cloudlease.ops.home import init

    init(path, xpub=regtest_vpub() if wallet == "descriptor" else None)
    return path


def build_home(path: Path, total: int, *, open_leases: int = 50, recent_closed: int = 100,
               audit_per_lease: int = 2, tenants: int = 20, now: datetime | None = None,
               open_kind: str = "mixed",
               progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """A descriptor-wallet regtest home with ``total`` leases (ids L-1..L-total).

    - ``total - open_leases - recent_closed`` closed leases (80 % ended after a settled
      payment, 15 % expired unpaid, 5 % cancelled), closed 3 days to ~1 year ago, sealed
      in batches of ``archive.SEAL_BATCH`` by ``archive.seal_if_due`` itself (so the
      segments are byte-for-byte what the tool writes);
    - ``recent_closed`` leases ended in the last day (hot: too young to seal);
    - ``open_leases`` open leases, alternately active (paid, ending in the future) and
      awaiting payment with a fresh request (``open_kind="awaiting"``: all awaiting);
    - an audit trail of ``audit_per_lease`` entries per lease (a rent, then the tick that
      settled or expired it), hash-chained, ending with the entry that wrote the ledger.

    Hot requests use real derived addresses (index = request number - 1); sealed ones use
    filler addresses.
    """
    from cloudlease import clock
    from cloudlease.bitcoin.wallet import DescriptorWallet
    from cloudlease.context import Context
    from cloudlease.ledger import archive, audit, store
    from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus, Tenant

    say = progress or (lambda _m: None)
    now = (now or clock.now()).replace(microsecond=0)  # CLOUDLEASE_NOW pins it
    init_home(path)
    ctx = Context.at(path)
    ledger = store.read(ctx.home)
    settings = ctx.settings
    wallet = DescriptorWallet(settings.descriptor, settings.network)
    plan = next(iter(ledger.plans.values()))
    names = [f"tenant-{k:03d}" for k in range(tenants)]
    for name in names:
        ledger.tenants[name] = Tenant(name=name, created_at=ledger.created_at,
                                      email=f"{name}@example.org")
    sealed = max(0, total - open_leases - recent_closed)
    hot_closed = min(recent_closed, total - sealed)
    n_open = total - sealed - hot_closed

    def make(i: int, kind: str, when: datetime, address: str | None = None
             ) -> tuple[Lease, PaymentRequest]:
        lid, rid = f"L-{i}", f"P-{i}"
        hours = 1 + i % 24
        sats = plan.price_sats * hours
        tenant = names[i % tenants] if i % 2 else None
        address = address or filler_address(i)
        label, message = f"cloudlease {lid}", f"{hours} h of {plan.name}" + (
            f" for {tenant}" if tenant else "")
        uri = (f"bitcoin:{address}?amount={format(Decimal(sats).scaleb(-8).normalize(), 'f')}"
               f"&label=cloudlease%20{lid}&message={message.replace(' ', '%20')}")
        req = dict(id=rid, purpose="rent", address=address, amount_sats=sats, created_at=when,
                   expires_at=when + timedelta(minutes=15), status=RequestStatus.NEW, uri=uri,
                   lease=lid, hours=hours, label=label, message=message, wallet="descriptor",
                   address_index=i - 1)
        lease = dict(id=lid, status=LeaseStatus.AWAITING_PAYMENT, hours=hours, plan=plan.name,
                     created_at=when, tenant=tenant, price_sats=sats, requests=(rid,))
        txid = hashlib.sha256(f"tx:{i}".encode()).hexdigest()
        if kind in ("ended", "active"):
            paid = when + timedelta(minutes=5)
            req.update(status=RequestStatus.SETTLED, paid_sats=sats, confirmed_sats=sats,
                       txids=(txid,), seen_at=paid, settled_at=paid + timedelta(minutes=10))
            start = paid + timedelta(minutes=10)
            lease.update(status=LeaseStatus.ACTIVE, paid_hours=hours, starts_at=start,
                         ends_at=start + timedelta(hours=hours))
            if kind == "ended":
                lease.update(status=LeaseStatus.ENDED, closed_at=lease["ends_at"])
        elif kind in ("expired", "cancelled"):
            reason = "lease cancelled" if kind == "cancelled" else "payment window passed"
            req.update(status=RequestStatus.EXPIRED, closed_reason=reason)
            closed = when + timedelta(minutes=15 if kind == "expired" else 3)
            lease.update(status=LeaseStatus(kind), closed_at=closed,
                         note=None if kind == "cancelled" else reason)
        return Lease(**lease), PaymentRequest(**req)

    # sealed history, oldest first, 5 minutes apart, the newest closed 3 days ago
    t0 = time.perf_counter()
    step = timedelta(minutes=5)
    batch: list[int] = []
    batch_size = archive.SEAL_BATCH
    for i in range(1, sealed + 1):
        r = i % 20
        kind = "ended" if r < 16 else "expired" if r < 19 else "cancelled"
        when = now - timedelta(days=4) - step * (sealed - i)
        lease, req = make(i, kind, when)
        ledger.leases[lease.id], ledger.requests[req.id] = lease, req
        batch.append(i)
        left = sealed - i
        if len(batch) >= batch_size and (left == 0 or left >= batch_size):
            archive.seal_if_due(ctx.home, ledger)
            batch.clear()
            if len(ledger.archives) % 100 == 0:
                say(f"  sealed {len(ledger.archives)} segments")
    if batch:
        archive.seal_if_due(ctx.home, ledger, force=True)
    assert not ledger.leases, "every old closed lease should be sealed"
    # hot: recently ended, then open
    for k in range(hot_closed):
        i = sealed + k + 1
        when = now - timedelta(hours=30) + timedelta(minutes=10 * k) - timedelta(hours=1 + i % 24)
        lease, req = make(i, "ended", when, wallet.address_at(i - 1))
        ledger.leases[lease.id], ledger.requests[req.id] = lease, req
    for k in range(n_open):
        i = sealed + hot_closed + k + 1
        if k % 2 == 0 and open_kind == "mixed":  # alternate: a short unpaid tail (gap limit)
            lease, req = make(i, "active", now - timedelta(minutes=30),
                              wallet.address_at(i - 1))
        else:
            lease, req = make(i, "awaiting", now - timedelta(minutes=1),
                              wallet.address_at(i - 1))
        ledger.leases[lease.id], ledger.requests[req.id] = lease, req
    ledger.counters.update({"lease": total, "request": total})
    ledger.wallet["next_index"] = total
    say(f"  records built in {time.perf_counter() - t0:.1f} s")

    # audit trail: init is entry 1; then audit_per_lease entries per lease; then the save
    t0 = time.perf_counter()
    last = audit.last_entry(ctx.home.audit)
    assert last is not None
    prev, seq = last["hash"], last["seq"]
    lines = []
    at = (now - timedelta(days=365)).isoformat()
    for i in range(1, total + 1):
        for j in range(audit_per_lease):
            seq += 1
            if j == 0:
                action = "rent 1h"
                changes = {"added": [f"leases.L-{i}", f"requests.P-{i}"],
                           "changed": ["counters", "wallet"]}
            else:
                action = "tick"
                changes = {"changed": [f"leases.L-{i}", f"requests.P-{i}"]}
            digest = hashlib.sha256(f"ledger:{seq}".encode()).hexdigest()
            entry = audit.make_entry(seq, prev, at, action, digest, changes)
            prev = entry["hash"]
            lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False))
    with ctx.home.audit.open("a") as fh:
        if lines:
            fh.write("\n".join(lines) + "\n")
    say(f"  audit trail ({seq} entries) in {time.perf_counter() - t0:.1f} s")
    store._save(ctx.home, ledger, "bench build",
                {"changed": ["leases", "requests", "archives"]})
    return {"total": total, "sealed": sealed, "hot_closed": hot_closed, "open": n_open,
            "segments": len(ledger.archives), "audit_entries": seq + 1}


def fill_keystore(home: Path, n: int) -> None:
    """Write home/keys.toml holding ``n`` keys (filler keys, the shape bit's keys have),
    as a keys wallet that has handed out ``n`` addresses would."""
    import tomli_w

    from cloudlease.bitcoin.keystore import _HEADER, SCHEMA_VERSION

    keys = {filler_address(i, "key"): {"wif": filler_wif(i), "network": "regtest"}
            for i in range(n)}
    text = _HEADER + tomli_w.dumps({"schema_version": SCHEMA_VERSION, "keys": keys})
    path = home / "keys.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
