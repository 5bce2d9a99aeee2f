"""Ids and names parse strictly: every id kind has one form, ``<prefix>-<n>``, and anything
else is exit 2 naming it (never read as another record); new tenant names are what the
books and pages take as they are (README, "Command line"), while tenants made before the
rule keep working. ``pay check`` and ``pay list`` for finding requests."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core import validate
from cloudlease.core.errors import BadValue
from cloudlease.core.journals import tenant_components
from tests.conftest import REPO

BAD_FORMS = ["{p}--1", "{p}1", "1", "{p}-01", "{p}-1x", "{p}-", "{p}- 1", "{p}-١", "{p}-1.0",
             "{p}-{p}-1", "X-1", "{p}_1", "{p}-0"]


@pytest.mark.parametrize("prefix,args", [
    ("L", ["lease", "show", "{}"]),
    ("L", ["lease", "cancel", "{}", "--yes"]),
    ("L", ["lease", "extend", "{}", "--hours", "1"]),
    ("P", ["pay", "show", "{}"]),
    ("P", ["pay", "check", "{}"]),
    ("P", ["pay", "accept", "{}"]),
    ("P", ["pay", "refund", "{}", "--yes"]),
    ("P", ["devchain", "pay", "{}"]),
    ("P", ["devchain", "ln-pay", "{}"]),
    ("L", ["pay", "list", "--lease", "{}"]),
    ("E", ["hooks", "redeliver", "{}"]),
    ("D", ["invoice", "issue", "{}"]),
])
def test_every_id_kind_has_one_form(cli, home, prefix, args):
    cli("rent", "--hours", "1")
    before = cli.ledger_snapshot()
    for form in BAD_FORMS:
        bad = form.format(p=prefix)
        err = cli.json(*[a.format(bad) for a in args], code=2)
        told = f"use {prefix}-<n>" in err["message"] or "not an invoice id" in err["message"]
        if args[0] == "devchain" and not bad.upper().startswith("P"):
            told = told or "address" in err["message"] or "invoice" in err["message"]
        assert told, (bad, err)
    assert cli.ledger_snapshot() == before
    assert cli.json("lease", "show", "l-1")["id"] == "L-1"  # the prefix in either case


@given(st.text(max_size=12))
def test_only_the_canonical_form_is_a_lease_id(text):
    try:
        got = validate.record_id(text, "L")
    except BadValue as exc:
        assert "use L-<n>" in exc.message
        return
    assert got == text.strip().upper() and got[2] != "0" and got[2:].isdigit()


def test_invoice_ids(cli, home):
    err = cli.json("invoice", "show", "3", code=2)
    assert "D-<n>" in err["message"] and "INV-2026-0001" in err["message"]
    assert cli.json("invoice", "show", "INV-2026-0001", code=3)["code"] == "not_found"
    assert cli.json("invoice", "show", "D-9", code=3)["code"] == "not_found"


# -- tenant names -------------------------------------------------------------------------
@given(st.text(max_size=70))
def test_a_new_tenant_name_is_never_rewritten_by_the_books(text):
    try:
        validate.tenant_name(text)
    except BadValue:
        return
    assert tenant_components([text]) == {text: text}  # the account is the name itself
    assert text.lower() == text and text.isascii()


@pytest.mark.parametrize("name,hint", [
    ("Zoë Ltd.", "'zo-ltd'"), ("Alice", "'alice'"), ("alice-", "'alice'"), ("b.o.b", "'b-o-b'"),
    ("a b", "'a-b'"), ("x_y", "'x-y'"), ("日本", "'alice'"), ("a" * 65, "64"),
])
def test_names_the_books_would_rewrite_are_refused(cli, home, name, hint):
    before = cli.ledger_snapshot()
    err = cli.json("tenant", "add", name, code=2)
    assert hint in err["message"], err
    assert cli.ledger_snapshot() == before


def test_tenants_made_before_the_rule_keep_working(cli, isolated, monkeypatch, tmp_path):
    """tests/data/ledger-v1-pools holds alice, Alice and Zoë Ltd. (schema 1 let them in):
    they load, show, rent, invest and appear in books that hledger and beancount accept,
    each under its own account."""
    shutil.copytree(REPO / "tests/data/ledger-v1-pools", isolated)
    for f in isolated.iterdir():  # as the old release wrote them (git keeps no modes)
        f.chmod(0o600)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-06T00:00:00Z")
    names = {t["name"] for t in cli.json("tenant", "list")}
    assert names == {"alice", "Alice", "Zoë Ltd."}
    assert cli.json("tenant", "show", "Zoë Ltd.")["tenant"]["name"] == "Zoë Ltd."
    cli("tenant", "edit", "Zoë Ltd.", "--email", "zoe@example.com")
    cli("rent", "--hours", "1", "--plan", "gpu-hour", "--tenant", "Zoë Ltd.")
    cli("pool", "fund", "funded", "--tenant", "Alice", "--amount", "1000 sat")
    books = tmp_path / "books"
    cli("export", "--format", "hledger", "-o", f"{books}.journal")
    cli("export", "--format", "beancount", "-o", f"{books}.beancount")
    text = books.with_suffix(".journal").read_text()
    accounts = {line.split()[1] for line in text.splitlines() if line.startswith("account ")}
    investors = {a for a in accounts if a.startswith("liabilities:investors:")
                 and a.endswith(":principal")}
    assert len(investors) == 3, accounts  # alice, Alice and Zoë Ltd. apart
    hledger, bean_check = shutil.which("hledger"), shutil.which("bean-check")
    if hledger:
        subprocess.run([hledger, "-f", f"{books}.journal", "check", "--strict"], check=True,
                       capture_output=True, timeout=120)
    if bean_check:
        proc = subprocess.run([bean_check, f"{books}.beancount"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    cli("verify", "--full")


# -- finding requests ----------------------------------------------------------------------
def test_pay_check_without_ids_checks_open_requests_one_line_each(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    for _ in range(3):
        cli("rent", "--hours", "1", "--method", "onchain")
    cli("lease", "cancel", "L-1", "--yes")  # P-1: an old cancelled request
    cli("devchain", "pay", "P-2")
    cli("devchain", "mine")
    out = cli("pay", "check", code=7)  # P-1 cancelled is not open: it does not make it 8
    lines = [line.strip() for line in out.stdout.splitlines()]
    assert any(line.startswith("P-2 is settled") for line in lines)
    assert any(line.startswith("P-3 is waiting") for line in lines)
    assert not any("P-1" in line for line in lines)
    assert out.stderr.count("\n") == 1 and "P-3" in out.stderr


def test_pay_check_exit_codes_for_several_requests(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    for _ in range(3):
        cli("rent", "--hours", "1", "--method", "onchain")
    cli("devchain", "pay", "P-1")
    cli("devchain", "mine")
    assert cli.json("pay", "check", "P-1")["statuses"] == {"P-1": "settled"}
    cli("pay", "check", "P-1", "P-2", code=7)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T11:00:00Z")  # P-2 and P-3 expire
    err = cli("pay", "check", "P-1", "P-2", "P-3", code=8).stderr
    assert err.count("\n") == 1 and "2 requests: P-2, P-3" in err
    out = cli("pay", "check", code=0).stdout
    assert "no open payment requests" in out


def test_pay_list(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    cli("rent", "--hours", "1", "--method", "onchain")
    cli("rent", "--hours", "2", "--method", "lightning")
    cli("devchain", "ln-pay", "P-2")
    cli("tick")
    cli("lease", "extend", "L-2", "--hours", "1")
    rows = cli.json("pay", "list")
    assert [r["id"] for r in rows] == ["P-1", "P-2", "P-3"]
    assert [r["payable"] for r in rows] == [True, False, True]
    assert [r["id"] for r in cli.json("pay", "list", "--status", "settled")] == ["P-2"]
    assert [r["id"] for r in cli.json("pay", "list", "--lease", "L-2")] == ["P-2", "P-3"]
    assert [r["id"] for r in cli.json("pay", "list", "--open")] == ["P-1", "P-3"]
    assert len(cli("pay", "list").stdout.splitlines()) == 4  # a header, three records
    assert cli.json("pay", "list", "--status", "paid", code=2)["code"] == "bad_value"
    assert cli.json("pay", "list", "--lease", "L-9", code=3)["code"] == "not_found"
    err = cli.json("pay", "show", "P-9", code=3)
    assert "cloudlease pay list" in err["message"]
