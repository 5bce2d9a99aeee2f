#!/usr/bin/env python3
"""Rent a machine from a cloudlease server in one command, paying over Lightning by L402.

    examples/l402-client.py https://rent.example.com --plan small --hours 2 \\
        --ssh-key-file ~/.ssh/id_ed25519.pub --pay 'lncli payinvoice --force --json'

1. POST /api/v1/leases with ``Accept-Payment: L402``: the server answers 402 with
   ``WWW-Authenticate: L402 macaroon="…", invoice="…"``.
2. The invoice is paid by your wallet: ``--pay`` is a command that gets the invoice as its
   last argument (or in place of ``{invoice}``) and prints the preimage, as 64 hex digits
   or as JSON with a ``preimage`` (or ``payment_preimage``) field anywhere in it (lncli,
   Core Lightning's ``pay``, Electrum's ``lnpay`` all do).
3. The same POST again with ``Authorization: L402 <macaroon>:<preimage>``: 201 with the
   lease, its token (the lease page's URL) and, once ready, its machine's ssh command.

With ``--extend TOKEN`` it extends that lease instead. The answer is printed as JSON on
stdout; progress on stderr. Standard library only. Exit: 0 rented, 1 the server refused,
2 usage, 3 the payment failed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

CHALLENGE = re.compile(r'L402 macaroon="([^"]+)", invoice="([^"]+)"', re.I)


def post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {"error": {"message": raw[:200].decode("utf-8", "replace")}}
        return e.code, dict(e.headers), doc


def find_preimage(text: str) -> str | None:
    """The preimage in a wallet's output: JSON with a preimage field, or 64 hex digits."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("preimage", "payment_preimage"):
                value = item.get(key)
                if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value):
                    return value.lower()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    m = re.search(r"\b[0-9a-fA-F]{64}\b", text)
    return m.group(0).lower() if m and doc is None else None


def pay(command: str, invoice: str, timeout: float) -> str:
    args = shlex.split(command)
    args = [a.replace("{invoice}", invoice) for a in args] if "{invoice}" in command \
        else [*args, invoice]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    preimage = find_preimage(out.stdout)
    if out.returncode != 0 or preimage is None:
        detail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no preimage"]
        raise SystemExit(f"l402-client: the payment failed: {detail[0][:200]}") from None
    return preimage


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("server", help="the server's base URL, e.g. https://rent.example.com")
    p.add_argument("--plan", help="the plan (default: the server's only one)")
    p.add_argument("--hours", type=int, default=1)
    p.add_argument("--ssh-key-file", help="your public key, for the machine")
    p.add_argument("--extend", metavar="TOKEN", help="extend this lease instead of renting")
    p.add_argument("--pay", required=True, metavar="COMMAND",
                   help="pays the invoice (its last argument, or {invoice}) and prints the "
                        "preimage")
    p.add_argument("--timeout", type=float, default=120, help="seconds for each step")
    a = p.parse_args(argv)
    base = a.server.rstrip("/")
    if a.extend:
        url, body = f"{base}/api/v1/leases/{a.extend}/extend", {"hours": a.hours}
    else:
        url, body = f"{base}/api/v1/leases", {"hours": a.hours}
        if a.plan:
            body["plan"] = a.plan
        else:
            with urllib.request.urlopen(f"{base}/api/v1/plans", timeout=a.timeout) as r:
                plans = json.loads(r.read())["plans"]
            if len(plans) != 1:
                p.error("the server offers several plans; choose one with --plan")
            body["plan"] = plans[0]["name"]
        if a.ssh_key_file:
            try:
                with open(a.ssh_key_file, encoding="utf-8") as f:
                    body["ssh_key"] = f.read().strip()
            except OSError as exc:
                p.error(f"--ssh-key-file: {exc.strerror}: {a.ssh_key_file}")
    status, headers, doc = post(url, body, {"Accept-Payment": "L402"}, a.timeout)
    challenge = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
    m = CHALLENGE.search(challenge)
    if status != 402 or m is None:
        print(json.dumps(doc), file=sys.stdout)
        print(f"l402-client: the server answered {status}, not an L402 challenge: "
              f"{doc.get('error', {}).get('message', '')}", file=sys.stderr)
        return 1
    macaroon, invoice = m.groups()
    print(f"l402-client: paying {invoice[:24]}…", file=sys.stderr)
    try:
        preimage = pay(a.pay, invoice, a.timeout)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 3
    status, _, doc = post(url, body, {"Authorization": f"L402 {macaroon}:{preimage}"},
                          a.timeout)
    print(json.dumps(doc, indent=2))
    if status != 201:
        print(f"l402-client: the server answered {status}: "
              f"{doc.get('error', {}).get('message', '')}", file=sys.stderr)
        return 1
    machine = doc.get("machine") or {}
    login = machine.get("login")
    print("l402-client: " + (f"log in with: {login}" if login else
                             f"lease {doc['lease']['id']} is {doc['lease']['status']}; see "
                             f"{doc.get('url', '')}"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
