"""Shared helpers for the benchmark scripts (not a benchmark itself).

- ``cloudlease_cmd()``: how to start the CLI (the console script next to the running
  interpreter when there is one, since it skips runpy; else ``python -m cloudlease``).
- ``wall()``: median/min/max wall time of a real subprocess over several runs.
- ``build_home()``: a regtest home holding N leases the way a long-running operator's
  would look: years of closed history, recent closed leases and open ones, and the audit
  chain cloudlease would have written (``verify --full`` accepts it).
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
    """The environment for a CLI subprocess: no CLOUDLEASE_* settings of the caller's, no
    colour, and without PYTHONDONTWRITEBYTECODE, so the CLI reads cached bytecode like a
    normal install instead of compiling every module it imports on every start."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("CLOUDLEASE_") and k != "PYTHONDONTWRITEBYTECODE"}
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
         ok: Sequence[int] = (0,), warmup: int = 1) -> dict[str, float]:
    """Wall times (seconds) of ``runs`` runs of a subprocess, after ``warmup`` untimed runs
    (the first start of a command writes its modules' bytecode cache; the OS caches the
    files); ``before`` runs untimed before every run, warm-ups included."""
    for _ in range(warmup):
        if before is not None:
            before()
        run(argv, environ=environ, stdout=stdout, ok=ok)
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


def ledger_size(home: Path) -> str:
    """``ledger.db 12.3 MB (+ -wal 4.0 MB)``: the SQLite ledger and its write-ahead log."""
    db = home / "ledger.db"
    wal = home / "ledger.db-wal"
    text = f"ledger.db {human_bytes(size_of(db))}" if db.exists() else "no ledger.db"
    if wal.exists():
        text += f" (+ -wal {human_bytes(size_of(wal))})"
    return text


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

    Used for closed history, whose addresses are only stored, never derived again."""
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
def init_home(path: Path, *, wallet: str = "descriptor", lightning: str = "none") -> Path:
    """A regtest home on the devchain; on-chain only unless ``lightning`` names a backend
    (``devchain``: the simulated node, which the default home would get), so the ledger
    benchmarks measure the ledger and bench_lnwire measures what Lightning adds."""
    from cloudlease.ops.home import init

    init(path, xpub=regtest_vpub() if wallet == "descriptor" else None, lightning=lightning)
    return path


def build_home(path: Path, total: int, *, open_leases: int = 50, recent_closed: int = 100,
               audit_per_lease: int = 2, tenants: int = 20, now: datetime | None = None,
               open_kind: str = "mixed",
               progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """A descriptor-wallet regtest home with ``total`` leases (ids L-1..L-total), the way a
    long-running operator's ledger looks, written straight into ledger.db with the audit
    chain cloudlease itself would have written (so ``verify --full`` accepts it):

    - ``total - open_leases - recent_closed`` closed leases (80 % ended after a settled
      payment, 15 % expired unpaid, 5 % cancelled), 5 minutes apart, the newest closed
      3 days ago;
    - ``recent_closed`` leases ended in the last day;
    - ``open_leases`` open leases, alternately active (paid, ending in the future) and
      awaiting payment with a fresh request (``open_kind="awaiting"``: all awaiting);
    - per lease ``audit_per_lease`` audit entries: the rent (lease, request and counters
      as first written), then the tick that settled or expired it (their final rows).

    Requests use real derived addresses (index = request number - 1) for open leases and
    filler addresses for closed ones.
    """
    from cloudlease.bitcoin.wallet import DescriptorWallet
    from cloudlease.core import clock
    from cloudlease.ledger import audit, schema
    from cloudlease.ledger.codec import row_hash
    from cloudlease.ledger.db import open_sqlite
    from cloudlease.model import (
        Counter,
        Lease,
        LeaseStatus,
        PaymentRequest,
        RequestStatus,
        Tenant,
    )
    from cloudlease.ops.context import Context

    say = progress or (lambda _m: None)
    now = (now or clock.now()).replace(microsecond=0)  # CLOUDLEASE_NOW pins it
    init_home(path)
    ctx = Context.at(path)
    settings = ctx.settings
    wallet = DescriptorWallet(settings.descriptor, settings.network)
    plan = ctx.read().plans.all()[0]
    ctx.close()
    names = [f"tenant-{k:03d}" for k in range(tenants)]
    closed_n = max(0, total - open_leases - recent_closed)
    hot_closed = min(recent_closed, total - closed_n)
    n_open = total - closed_n - hot_closed

    def make(i: int, kind: str, when: datetime, address: str | None = None
             ) -> tuple[Lease, PaymentRequest, Lease, PaymentRequest]:
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
        first = Lease(**lease), PaymentRequest(**req)
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
        return (*first, Lease(**lease), PaymentRequest(**req))

    def kinds():
        step = timedelta(minutes=5)
        for i in range(1, closed_n + 1):
            r = i % 20
            kind = "ended" if r < 16 else "expired" if r < 19 else "cancelled"
            yield i, kind, now - timedelta(days=3) - step * (closed_n - i), None
        for k in range(hot_closed):
            i = closed_n + k + 1
            yield i, "ended", (now - timedelta(hours=30) + timedelta(minutes=10 * k)
                               - timedelta(hours=1 + i % 24)), wallet.address_at(i - 1)
        for k in range(n_open):
            i = closed_n + hot_closed + k + 1
            if k % 2 == 0 and open_kind == "mixed":
                yield i, "active", now - timedelta(minutes=30), wallet.address_at(i - 1)
            else:
                yield i, "awaiting", now - timedelta(minutes=1), wallet.address_at(i - 1)

    t0 = time.perf_counter()
    db = open_sqlite(path / "ledger.db", lock_timeout=30)
    specs = {s.name: s.codec for s in schema.SPECS}

    def enc(table: str, rec: object) -> tuple[tuple, str]:
        c = specs[table]
        row = c.encode(rec)
        return row, row_hash(table, row)

    head = audit.head(db)
    assert head is not None
    seq, prev = head.seq, head.hash
    counts: dict[str, int] = json.loads(head.counts)
    audit_rows: list[tuple] = []
    entries: list[tuple] = []
    at = (now - timedelta(days=365)).isoformat()

    def entry(command: str, changed: list[tuple[str, str, str]],
              counters: dict[str, int] | None = None) -> None:
        nonlocal seq, prev
        seq += 1
        for kind, value in (counters or {}).items():
            counts[audit.COUNTER + kind] = value
        counts_text = json.dumps(dict(sorted(counts.items())), separators=(",", ":"))
        digest = audit.rows_digest(changed)
        h = audit.entry_hash(seq, prev, at, "bench", 1, command, counts_text, digest)
        entries.append((seq, prev, at, "bench", 1, command, counts_text, digest, h))
        audit_rows.extend((seq, t, k, d) for t, k, d in sorted(changed))
        prev = h

    final: dict[str, list[tuple]] = {"leases": [], "payment_requests": [], "tenants": []}
    tenant_rows = []
    for name in names:
        row, h = enc("tenants", Tenant(name=name, created_at=now - timedelta(days=400),
                                       email=f"{name}@example.org"))
        final["tenants"].append(row)
        tenant_rows.append(("tenants", name, h))
    counts["tenants"] = counts.get("tenants", 0) + len(names)
    entry("tenant add", tenant_rows)
    for i, kind, when, address in kinds():
        lease1, req1, lease2, req2 = make(i, kind, when, address)
        r1, h1 = enc("leases", lease1)
        r2, h2 = enc("payment_requests", req1)
        counts["leases"] = counts.get("leases", 0) + 1
        counts["payment_requests"] = counts.get("payment_requests", 0) + 1
        if i == 1:
            counts["counters"] = counts.get("counters", 0) + 3
        entry("rent 1h", [("leases", lease1.id, h1), ("payment_requests", req1.id, h2)],
              {"lease": i, "request": i, "address_index": i})
        r3, h3 = enc("leases", lease2)
        r4, h4 = enc("payment_requests", req2)
        if audit_per_lease >= 2 and (h3 != h1 or h4 != h2):
            entry("tick", [("leases", lease2.id, h3), ("payment_requests", req2.id, h4)])
        final["leases"].append(r3)
        final["payment_requests"].append(r4)
        if i % 20000 == 0:
            say(f"  {i:,} leases built")
    final["counters"] = [enc("counters", Counter(kind=k, value=total))[0]
                         for k in ("lease", "request", "address_index")]
    say(f"  records built in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    with db.write(30):
        db.execute("DELETE FROM counters")
        for table, rows in final.items():
            names_ = specs[table].names
            db.executemany(f"INSERT INTO {table} ({', '.join(names_)}) VALUES "
                           f"({', '.join('?' * len(names_))})", rows)
        db.executemany("INSERT INTO audit_rows (seq, tbl, key, hash) VALUES (?, ?, ?, ?)",
                       audit_rows)
        db.executemany(f"INSERT INTO audit ({', '.join(audit.COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(audit.COLUMNS))})", entries)
        audit.clear_touched(db)
        db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    say(f"  written in {time.perf_counter() - t0:.1f} s ({seq:,} audit entries)")
    return {"total": total, "closed": closed_n, "hot_closed": hot_closed, "open": n_open,
            "audit_entries": seq}


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


def remove_bench_group(name: str) -> None:
    """Remove what a provisioning benchmark set up for its driver group ``name``: its
    cgroup v1 folders and the Unix group (best effort: absent ones are fine)."""
    for root in ("cpu", "memory", "pids", "freezer"):
        try:
            Path(f"/sys/fs/cgroup/{root}/{name}").rmdir()
        except OSError:
            pass
    subprocess.run(["groupdel", name], capture_output=True)
