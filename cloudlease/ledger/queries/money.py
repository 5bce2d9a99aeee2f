"""Named queries on money: payment requests, the payments seen on them, and transfers
(sweeps and refunds) leaving the wallet."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from cloudlease.ledger.queries._base import BY_NUMBER, Named, Tenanted, Window, window

if TYPE_CHECKING:
    from cloudlease.model import Payment, PaymentRequest, Transfer

_CHUNK = 400  # keys per IN (...) list


class Requests(Tenanted):
    """``ledger.requests`` (table ``payment_requests``): indexed on status, lease,
    address, settled_at, tenant, contribution, idempotency key, Lightning payment hash,
    address index and seen_at."""

    def watched(self, settled_since: datetime, closed_since: datetime
                ) -> list[PaymentRequest]:
        """What a pass asks the chain and the node about: open requests, settled ones
        settled after ``settled_since`` (young enough to be reorged), and expired or
        invalid ones whose window ended after ``closed_since`` (money may still come)."""
        return self.where(
            "status IN ('new', 'processing') OR (status = 'settled' AND settled_at > ?) "
            "OR (status IN ('expired', 'invalid') AND expires_at > ?)",
            (settled_since.isoformat(), closed_since.isoformat()))

    def listing(self, *, status: str | None = None, lease: str | None = None,
                open_only: bool = False) -> list[PaymentRequest]:
        """Requests oldest first, filtered by status, lease, or open (new, processing)."""
        clause: list[str] = []
        params: list[str] = []
        if status is not None:
            clause.append("status = ?")
            params.append(status)
        if open_only:
            clause.append("status IN ('new', 'processing')")
        if lease is not None:
            clause.append("lease = ?")
            params.append(lease)
        return self.where(" AND ".join(clause), params, order=BY_NUMBER)

    def by_payment_hash(self, payment_hash: str) -> PaymentRequest | None:
        """The request whose Lightning invoice has this payment hash, or None."""
        found = self.where("ln_payment_hash = ?", (payment_hash,))
        return found[0] if found else None

    def open(self) -> list[PaymentRequest]:
        """Every open request (new or processing): what ``pay check`` without ids checks."""
        return self.where("status IN ('new', 'processing')")

    def paid_by_lease(self, leases: Iterable[str]) -> dict[str, int]:
        """What settled payments brought each lease (its part of each request: an
        investment paid with it is the pool's), first payment and extensions together."""
        ids = list(leases)
        out: dict[str, int] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            for lease, sats in self._s.db.query(
                    "SELECT lease, SUM(amount_sats - COALESCE(invest_sats, 0)) FROM "
                    f"payment_requests WHERE status = 'settled' AND lease IN "
                    f"({', '.join('?' * len(chunk))}) GROUP BY lease", chunk):
                out[lease] = int(sats or 0)
        return out

    def open_lightning(self) -> list[PaymentRequest]:
        """Open requests (new, processing) that carry a Lightning invoice: what the serve
        loop asks the node about between chain passes."""
        return self.where("status IN ('new', 'processing') AND ln_payment_hash IS NOT NULL")

    def by_idempotency_key(self, key: str) -> PaymentRequest | None:
        """The request ``lease extend`` or ``pool fund`` made with this key, or None."""
        found = self.where("idempotency_key = ?", (key,))
        return found[0] if found else None

    def address_taken(self, address: str) -> bool:
        """Whether any request was given ``address`` (addresses are never reused)."""
        return bool(self.count("address = ?", (address,)))

    def with_address(self) -> list[PaymentRequest]:
        """Every request with an on-chain address, oldest first (the wallet's view)."""
        return self.where("address IS NOT NULL", order=BY_NUMBER)

    def latest_indexed(self, limit: int) -> list[PaymentRequest]:
        """The ``limit`` requests with the highest descriptor derivation index, highest
        first."""
        return self.where("address_index IS NOT NULL", order="address_index DESC",
                          limit=limit)

    def last_paid_index(self) -> int | None:
        """The highest derivation index whose request received money (chain or
        Lightning); None when none has."""
        paid = self.where("address_index IS NOT NULL AND (paid_sats > 0 OR ln_paid_msat > 0)",
                          order="address_index DESC", limit=1)
        return paid[0].address_index if paid else None

    def count_indexed_after(self, index: int) -> int:
        """Requests whose derivation index is above ``index``."""
        return self.count("address_index > ?", (index,))

    def of_keys_wallet(self) -> list[PaymentRequest]:
        """Requests paid to an address of the keys wallet (whose key is in keys.toml)."""
        return self.where("wallet = 'keys'")

    def paid_to_keys_wallet(self) -> list[PaymentRequest]:
        """Keys-wallet requests whose address received money on the chain."""
        return self.where("wallet = 'keys' AND paid_sats > 0")

    def open_of_tenant(self, name: str) -> list[PaymentRequest]:
        """A tenant's requests still to be paid or confirmed (new, processing)."""
        return self.where("tenant = ? AND status IN ('new', 'processing')", (name,))

    def unsettled_with_money(self, span: Window = None) -> list[PaymentRequest]:
        """Requests not settled that money was seen paying, first seen in ``span``."""
        more, params = window("seen_at", span)
        return self.where("status != 'settled' AND (paid_sats > 0 OR ln_paid_msat > 0)"
                          + more, params)

    def settled(self, span: Window = None, *, tenant: str | None = None,
                anonymous: bool = False) -> list[PaymentRequest]:
        """Requests settled in ``span``: all of them, or only ``tenant``'s (made by them,
        or for one of their leases), or (``anonymous``) those for leases without a
        tenant."""
        more, params = window("settled_at", span)
        clause = ["status = 'settled'" + more]
        if anonymous:
            clause.append("lease IN (SELECT id FROM leases WHERE tenant IS NULL)")
        elif tenant is not None:
            clause.append("(tenant = ? OR lease IN (SELECT id FROM leases WHERE tenant = ?))")
            params += [tenant, tenant]
        return self.where(" AND ".join(clause), params)


class Payments(Named):
    """``ledger.payments``: indexed on request."""

    def of_request(self, request: str) -> list[Payment]:
        """Every payment recorded for one request, in the order they were first seen."""
        return self.where("request = ?", (request,), order="first_seen_at")

    def onchain_of(self, requests: Iterable[str]) -> list[Payment]:
        """The on-chain payments (outputs) recorded for these requests."""
        ids = list(requests)
        out: list[Payment] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            out += self.where(f"request IN ({', '.join('?' * len(chunk))}) AND "
                              "method = 'onchain'", chunk)
        return out


class Transfers(Named):
    """``ledger.transfers``: indexed on request, txid, status, created_at."""

    def pending(self) -> list[Transfer]:
        """Transfers recorded but not known to be sent, oldest first."""
        return self.where("status = 'pending'", order="created_at, id")

    def recorded(self, txid: str, request: str) -> bool:
        """Whether the refund ``txid`` of ``request`` is already recorded."""
        return bool(self.count("txid = ? AND request = ?", (txid, request)))

    def not_failed(self, span: Window = None) -> list[Transfer]:
        """Sweeps and refunds made in ``span`` that did not fail, oldest first."""
        more, params = window("created_at", span)
        return self.where("status != 'failed'" + more, params, order="created_at, id")

    def change_addresses(self) -> set[str]:
        """The wallet's change addresses of transfers that did not fail."""
        return {t.change_address for t in self.where(
            "change_address IS NOT NULL AND status != 'failed'") if t.change_address}
