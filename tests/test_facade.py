"""The facade (``cloudlease.ops``): opening a home, the operations the faces call instead
of reaching adapters, and the ledger's named queries running on their indexes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudlease import ops
from cloudlease.core.errors import BadValue, LedgerError, NotFound

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = (NOW, NOW)


def test_open_refuses_a_path_without_a_ledger(tmp_path: Path):
    where = tmp_path / "nothing"
    with pytest.raises(LedgerError) as err:
        ops.open(where)
    assert err.value.exit_code == 5 and err.value.code == "ledger_missing"
    assert str(where) in err.value.message
    assert not where.exists()  # opening never creates a home


def test_a_context_closes_its_ledger_at_the_end_of_a_with_block(home: Path):
    with ops.open(home, lock_timeout=1) as ctx:
        assert ctx.lock_timeout == 1
        assert ctx.read().network == "regtest"
        assert ctx._db is not None
    assert ctx._db is None


def test_qr_codes_through_the_facade(tmp_path: Path):
    uri = "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00002"
    svg = ops.qr.svg(uri)
    assert svg.startswith("<svg") and "<?xml" not in svg
    ops.qr.write_svg(uri, tmp_path / "p.svg")
    assert (tmp_path / "p.svg").read_text().startswith("<?xml")
    assert "\u2588" in ops.qr.terminal(uri)
    for bad in (lambda: ops.qr.svg("https://example.com"), lambda: ops.qr.svg(uri, scale=0),
                lambda: ops.qr.terminal("bitcoin:")):
        with pytest.raises(BadValue) as err:
            bad()
        assert err.value.exit_code == 2


def test_wallet_show_and_reveal(home: Path, cli):
    cli("rent", "--hours", "1", "--no-wait")
    with ops.open(home) as ctx:
        data, notes = ops.wallet.show(ctx)
        assert data["kind"] == "keys" and notes == []
        assert [a["request"] for a in data["addresses"]] == ["P-1"]
        assert data["keystore"]["mode"] == "0600"
        keys = ops.wallet.reveal(ctx)
        assert [k["address"] for k in keys] == [data["addresses"][0]["address"]]
        assert all(k["wif"] for k in keys)


def test_devchain_operations_refuse_what_the_cli_refused(home: Path, cli):
    cli("rent", "--hours", "1", "--no-wait", "--method", "onchain")
    with ops.open(home) as ctx:
        with pytest.raises(NotFound):
            ops.devchain.pay(ctx, "P-9")
        with pytest.raises(BadValue, match="needs --sats"):
            ops.devchain.pay(ctx, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
        with pytest.raises(BadValue, match="no Lightning invoice"):
            ops.devchain.ln_pay(ctx, "P-1")
        with pytest.raises(BadValue, match="exactly one"):
            ops.devchain.replace(ctx, "00" * 32)
        txid, address, sats = ops.devchain.pay(ctx, "P-1")
        assert sats == 1000 and address == ctx.read().request("P-1").address
        hashes, height = ops.devchain.mine(ctx)
        assert len(hashes) == 1 and height >= 1
        assert ops.deliver.listing(ctx) == []
        ddl = ops.ledgertools.schema_ddl(ctx)
        assert ddl["dialect"] == "sqlite" and "CREATE TABLE leases" in ddl["ddl"]


# Each named query, and the index it must run on (SQLite's query plan). A query that
# reads its whole table is named with None: the small tables, and reports over all rows.
PLANS: dict[str, tuple[Callable[[Any], Any], str | None]] = {
    "leases.by_idempotency_key": (lambda s: s.leases.by_idempotency_key("k"),
                                  "leases_idempotency_key"),
    "leases.due_to_end": (lambda s: s.leases.due_to_end(NOW), "leases_status"),
    "leases.of_tenant": (lambda s: s.leases.of_tenant("alice"), "leases_tenant"),
    "leases.listing(tenant)": (lambda s: list(s.leases.listing(tenant="alice")),
                               "leases_tenant"),
    "leases.listing(open)": (lambda s: list(s.leases.listing(open_only=True)),
                             "leases_status"),
    "leases.count_in_pool": (lambda s: s.leases.count_in_pool("p"), "leases_pool_status"),
    "leases.holding_slots": (lambda s: s.leases.holding_slots("p"), "leases_pool_status"),
    "leases.in_pool": (lambda s: s.leases.in_pool("p", "active"), "leases_pool_status"),
    "leases.active_without_machine": (lambda s: s.leases.active_without_machine(),
                                      "leases_status"),
    "leases.count_of_tenant": (lambda s: s.leases.count_of_tenant("alice"), "leases_tenant"),
    "machines.in_states": (lambda s: s.machines.in_states(["pending", "ready"]),
                           "machines_state"),
    "plans.in_pool": (lambda s: s.plans.in_pool("p"), None),
    "tenants.current": (lambda s: s.tenants.current(), None),
    "requests.watched": (lambda s: s.requests.watched(NOW, NOW), "payment_requests_status"),
    "requests.by_idempotency_key": (lambda s: s.requests.by_idempotency_key("k"),
                                    "payment_requests_idempotency_key"),
    "requests.address_taken": (lambda s: s.requests.address_taken("x"),
                               "payment_requests_address"),
    "requests.with_address": (lambda s: s.requests.with_address(), None),
    "requests.latest_indexed": (lambda s: s.requests.latest_indexed(5),
                                "payment_requests_address_index"),
    "requests.last_paid_index": (lambda s: s.requests.last_paid_index(),
                                 "payment_requests_address_index"),
    "requests.count_indexed_after": (lambda s: s.requests.count_indexed_after(3),
                                     "payment_requests_address_index"),
    "requests.of_keys_wallet": (lambda s: s.requests.of_keys_wallet(), None),
    "requests.paid_to_keys_wallet": (lambda s: s.requests.paid_to_keys_wallet(), None),
    "requests.open_of_tenant": (lambda s: s.requests.open_of_tenant("alice"),
                                "payment_requests_tenant"),
    "requests.unsettled_with_money": (lambda s: s.requests.unsettled_with_money(SPAN),
                                      "payment_requests_seen_at"),
    "requests.settled": (lambda s: s.requests.settled(SPAN, tenant="alice"),
                         "payment_requests_"),
    "requests.count_of_tenant": (lambda s: s.requests.count_of_tenant("alice"),
                                 "payment_requests_tenant"),
    "requests.open": (lambda s: s.requests.open(), "payment_requests_status"),
    "requests.by_payment_hash": (lambda s: s.requests.by_payment_hash("ab"),
                                 "payment_requests_ln_payment_hash"),
    "requests.listing(lease)": (lambda s: s.requests.listing(lease="L-1"),
                                "payment_requests_lease"),
    "requests.paid_by_lease": (lambda s: s.requests.paid_by_lease(["L-1"]),
                               "payment_requests_"),
    "leases.ran_in_pool_since": (lambda s: s.leases.ran_in_pool_since("p", NOW),
                                 "leases_pool_status"),
    "leases.active_in_pool": (lambda s: s.leases.active_in_pool("p"), "leases_pool_status"),
    "invoices.numbers_like": (lambda s: s.invoices.numbers_like("INV", 5), "invoices_number"),
    "deliveries.claimed_and_due": (lambda s: s.deliveries.claimed_and_due(NOW),
                                   "deliveries_status_created_at"),
    "requests.open_lightning": (lambda s: s.requests.open_lightning(),
                                "payment_requests_status"),
    "payments.of_request": (lambda s: s.payments.of_request("P-1"), "payments_request"),
    "payments.onchain_of": (lambda s: s.payments.onchain_of(["P-1"]), "payments_request"),
    "transfers.pending": (lambda s: s.transfers.pending(), "transfers_status"),
    "transfers.recorded": (lambda s: s.transfers.recorded("t", "P-1"), "transfers_"),
    "transfers.not_failed": (lambda s: s.transfers.not_failed(SPAN), "transfers_"),
    "transfers.change_addresses": (lambda s: s.transfers.change_addresses(), None),
    "contributions.of_pool": (lambda s: s.contributions.of_pool("p"), "contributions_pool"),
    "contributions.count_in_pool": (lambda s: s.contributions.count_in_pool("p"),
                                    "contributions_pool"),
    "contributions.stake_of": (lambda s: s.contributions.stake_of("alice"),
                               "contributions_tenant"),
    "contributions.settled": (lambda s: s.contributions.settled(SPAN, tenant="alice"),
                              "contributions_tenant"),
    "payouts.of_pool": (lambda s: s.payouts.of_pool("p"), "payouts_pool"),
    "payouts.of_period": (lambda s: s.payouts.of_period("2026-03"), None),
    "invoices.by_number": (lambda s: s.invoices.by_number("INV"), "invoices_number"),
    "invoices.number_taken": (lambda s: s.invoices.number_taken("INV"), "invoices_number"),
    "invoices.not_void": (lambda s: s.invoices.not_void("alice", "2026-03", "invoice"),
                          "invoices_tenant_period"),
    "invoices.not_void(anonymous)": (lambda s: s.invoices.not_void(None, "2026-03",
                                                                   "statement"),
                                     "invoices_tenant_period"),
    "invoices.listing": (lambda s: s.invoices.listing(tenant="alice"),
                         "invoices_tenant_period"),
    "invoices.issued_to": (lambda s: s.invoices.issued_to("alice"), "invoices_tenant_period"),
    "invoices.taxed": (lambda s: s.invoices.taxed("2026-03", SPAN), None),
    "deliveries.of_event": (lambda s: s.deliveries.of_event("E-1"), "deliveries_event"),
    "deliveries.due": (lambda s: s.deliveries.due(NOW, limit=50),
                       "deliveries_status_created_at"),
    "deliveries.failing": (lambda s: s.deliveries.failing(), "deliveries_status_created_at"),
    "deliveries.undelivered": (lambda s: s.deliveries.undelivered(),
                               "deliveries_status_created_at"),
    "deliveries.latest_delivered": (lambda s: s.deliveries.latest_delivered(20),
                                    "deliveries_status_created_at"),
}


def test_named_queries_run_on_their_indexes(home: Path, cli):
    """What each named query asks SQLite, and the plan SQLite makes for it: the query
    searches the index named in PLANS (so a named query costs what it returns, not the
    size of the ledger), or reads its table whole where PLANS says so."""
    cli("tenant", "add", "alice")
    cli("rent", "--hours", "1", "--tenant", "alice", "--no-wait")
    from cloudlease.ledger.queries import NAMED

    with ops.open(home) as ctx:
        conn = ctx.db().conn
        ledger = ctx.read()
        covered = {name.partition("(")[0].split(".")[1] for name in PLANS}
        for mixin in NAMED.values():
            public = {n for n in vars(mixin) if not n.startswith("_")}
            assert public <= covered, public - covered
        for name, (call, index) in PLANS.items():
            seen: list[str] = []
            conn.set_trace_callback(seen.append)
            try:
                call(ledger)
            finally:
                conn.set_trace_callback(None)
            assert len(seen) == 1, (name, seen)
            plan = " | ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + seen[0]))
            if index is None:
                assert "SCAN" in plan, (name, plan)
            else:
                assert f"INDEX {index}" in plan and not plan.startswith("SCAN"), (name, plan)
