"""The LND client against a loopback HTTPS server that follows LND's documented REST
shapes (tests/lnd_server.py): each invoice state, one list call per pass, the macaroon,
the pinned certificate, and every way the answer can be wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudlease.config.lightning import LightningSettings
from cloudlease.core.errors import BackendError, BadValue, ExitCode, LedgerError
from cloudlease.lightning import LnState
from cloudlease.lightning.base import make_node
from cloudlease.lightning.lnd import LndNode
from tests.lnd_server import MACAROON, LndServer


@pytest.fixture
def server(certs: dict[str, Path]) -> Iterator[LndServer]:
    srv = LndServer(certs["cert"], certs["key"], MACAROON)
    yield srv
    srv.close()


@pytest.fixture
def node(server: LndServer, macaroon: Path, certs: dict[str, Path]) -> Iterator[LndNode]:
    n = LndNode(server.url, network="regtest", macaroon=macaroon, tls_cert=certs["cert"],
                timeout=5)
    yield n
    n.close()


def test_create_invoice_is_checked_and_stored_shape(node: LndNode, server: LndServer) -> None:
    inv = node.create_invoice(21_000_000, "lease L-1 (2 h)", 900)
    assert inv.bolt11.startswith("lnbcrt210u1")
    assert inv.amount_msat == 21_000_000 and inv.amount_sats == 21_000
    assert inv.description == "lease L-1 (2 h)"
    assert inv.payment_hash in server.invoices
    assert inv.expires_at - inv.created_at == timedelta(seconds=900)
    method, path = server.requests[-1]
    assert (method, path) == ("POST", "/v1/invoices")


def test_each_state(node: LndNode, server: LndServer) -> None:
    invs = [node.create_invoice(1_000_000 * (i + 1), f"lease L-{i}", 600) for i in range(4)]
    h = [i.payment_hash for i in invs]
    server.settle(h[1], when=1_796_000_000)
    server.accept(h[2])
    server.cancel(h[3])
    before = len(server.requests)
    got = node.statuses(invs)
    assert len(server.requests) == before + 1  # one list call for the whole pass
    assert server.requests[-1][1].startswith("/v1/invoices?")
    assert got[h[0]].state == LnState.OPEN and got[h[0]].preimage is None
    paid = got[h[1]]
    assert paid.state == LnState.PAID and paid.amount_paid_msat == 2_000_000
    assert paid.settled_at == datetime.fromtimestamp(1_796_000_000, UTC)
    assert hashlib.sha256(bytes.fromhex(paid.preimage)).hexdigest() == h[1]
    assert got[h[2]].state == LnState.OPEN  # ACCEPTED: a held HTLC is not a payment yet
    assert got[h[3]].state == LnState.CANCELLED


def test_open_or_canceled_past_expiry_is_expired(node: LndNode, server: LndServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    a = node.create_invoice(1_000_000, "a", 600)
    b = node.create_invoice(1_000_000, "b", 600)
    server.cancel(b.payment_hash)  # LND cancels an invoice itself when it expires
    later = a.expires_at + timedelta(seconds=1)
    monkeypatch.setenv("CLOUDLEASE_NOW", later.isoformat())
    got = node.statuses([a, b])
    assert got[a.payment_hash].state == LnState.EXPIRED
    assert got[b.payment_hash].state == LnState.EXPIRED


def test_overpaid_invoice_reports_what_arrived(node: LndNode, server: LndServer) -> None:
    inv = node.create_invoice(5_000_000, "x", 600)
    server.settle(inv.payment_hash, amt_paid_msat=6_000_000)
    assert node.statuses([inv])[inv.payment_hash].amount_paid_msat == 6_000_000


def test_settled_since_last_pass_is_seen_without_pending_only(node: LndNode,
                                                               server: LndServer) -> None:
    invs = [node.create_invoice(1_000_000, f"i{i}", 600) for i in range(3)]
    node.statuses(invs)
    server.settle(invs[0].payment_hash)
    got = node.statuses(invs)
    assert got[invs[0].payment_hash].state == LnState.PAID
    assert "pending_only=true" not in server.requests[-1][1]


def test_old_invoices_are_paged_back_to(node: LndNode, server: LndServer) -> None:
    old = node.create_invoice(1_000_000, "old", 3600)
    for i in range(250):  # other invoices made since by other apps on the node
        server.add_invoice(1_000, f"other {i}", 3600)
    before = len(server.requests)
    got = node.statuses([old])
    assert got[old.payment_hash].state == LnState.OPEN
    assert len(server.requests) - before == 2  # pages of 101 then 202, backwards: found


def test_statuses_of_nothing_asks_nothing(node: LndNode, server: LndServer) -> None:
    assert node.statuses([]) == {}
    assert server.requests == []


def test_cancel(node: LndNode, server: LndServer) -> None:
    a = node.create_invoice(1_000_000, "a", 600)
    b = node.create_invoice(1_000_000, "b", 600)
    server.settle(b.payment_hash)
    assert node.cancel(a) is True
    assert server.invoices[a.payment_hash]["state"] == "CANCELED"
    assert server.requests[-1] == ("POST", "/v2/invoices/cancel")
    assert node.cancel(b) is False  # already settled: the other payment way wins nothing
    assert node.statuses([a])[a.payment_hash].state == LnState.CANCELLED


def test_lookup_fallback_for_an_invoice_outside_the_list(node: LndNode, server: LndServer
                                                        ) -> None:
    inv = node.create_invoice(1_000_000, "a", 600)
    original = server._list
    server._list = lambda q: {"invoices": [], "first_index_offset": "0",  # type: ignore
                              "last_index_offset": "0"}
    try:
        got = node.statuses([inv])
    finally:
        server._list = original  # type: ignore[method-assign]
    assert got[inv.payment_hash].state == LnState.OPEN
    assert server.requests[-1] == ("GET", f"/v1/invoice/{inv.payment_hash}")


def _fails(fn, code: str, *words: str) -> BackendError:
    with pytest.raises(BackendError) as info:
        fn()
    err = info.value
    assert err.exit_code == ExitCode.BACKEND and err.code == code, (err.code, err.message)
    for word in words:
        assert word in err.message, err.message
    assert "\n" not in err.message
    return err


def test_unknown_invoice_is_an_error(node: LndNode, server: LndServer) -> None:
    inv = node.create_invoice(1_000_000, "a", 600)
    del server.invoices[inv.payment_hash]
    _fails(lambda: node.statuses([inv]), "ln_unknown_invoice", "does not know")


@pytest.mark.parametrize(("fault", "code", "word"), [
    ("wrong_amount", "ln_wrong_amount", "msat"),
    ("wrong_network", "ln_wrong_network", "mainnet"),
    ("wrong_hash", "ln_wrong_hash", "payment hash"),
    ("no_expiry", "ln_short_expiry", "expires"),
    ("wrong_description", "ln_wrong_description", "description"),
    ("html", "ln_bad_answer", "HTML"),
    ("not_json", "ln_bad_answer", "not JSON"),
])
def test_bad_invoice_answers_are_refused(node: LndNode, server: LndServer, fault: str,
                                         code: str, word: str) -> None:
    server.fault = fault
    _fails(lambda: node.create_invoice(21_000_000, "lease L-1", 900), code, word)


@pytest.mark.parametrize(("fault", "code"), [
    ("list_other_amount", "ln_wrong_amount"),
    ("bad_preimage", "ln_bad_preimage"),
    ("html", "ln_bad_answer"),
])
def test_bad_status_answers_are_refused(node: LndNode, server: LndServer, fault: str,
                                        code: str) -> None:
    inv = node.create_invoice(21_000_000, "lease L-1", 900)
    server.settle(inv.payment_hash)
    server.fault = fault
    _fails(lambda: node.statuses([inv]), code)


def test_lookup_answering_another_hash(node: LndNode, server: LndServer) -> None:
    a = node.create_invoice(1_000_000, "a", 600)
    node.create_invoice(1_000_000, "b", 600)
    server._list = lambda q: {"invoices": [], "first_index_offset": "0",  # type: ignore
                              "last_index_offset": "0"}
    server.fault = "lookup_other_hash"
    _fails(lambda: node.statuses([a]), "ln_wrong_hash", "another invoice")


def test_wrong_macaroon_is_refused(server: LndServer, tmp_path: Path,
                                   certs: dict[str, Path]) -> None:
    wrong = tmp_path / "admin.macaroon"
    wrong.write_bytes(b"not the right one")
    wrong.chmod(0o600)
    n = LndNode(server.url, network="regtest", macaroon=wrong, tls_cert=certs["cert"])
    _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_auth",
           "config.toml:lightning.macaroon", "401")


def test_macaroon_header_is_sent_as_hex(node: LndNode, server: LndServer) -> None:
    node.create_invoice(1_000_000, "a", 600)  # the server answers 401 to anything else


@pytest.mark.parametrize("problem", ["missing", "world", "group", "symlink"])
def test_unusable_macaroon_file_is_a_config_error(server: LndServer, tmp_path: Path,
                                                  certs: dict[str, Path], problem: str) -> None:
    path = tmp_path / "invoice.macaroon"
    if problem != "missing":
        real = tmp_path / "real.macaroon"
        real.write_bytes(MACAROON)
        real.chmod({"world": 0o604, "group": 0o640}.get(problem, 0o600))
        if problem == "symlink":
            path.symlink_to(real)
        else:
            real.rename(path)
    with pytest.raises(LedgerError) as info:
        LndNode(server.url, network="regtest", macaroon=path, tls_cert=certs["cert"])
    assert info.value.exit_code == ExitCode.LEDGER
    assert info.value.message.startswith("config.toml:lightning.macaroon: ")
    if problem in ("world", "group"):
        assert "chmod 600" in info.value.message


def test_make_node_checks_the_macaroon(server: LndServer, tmp_path: Path,
                                       certs: dict[str, Path]) -> None:
    (tmp_path / "invoice.macaroon").write_bytes(MACAROON)
    (tmp_path / "invoice.macaroon").chmod(0o644)
    settings = LightningSettings(backend="lnd", url=server.url, macaroon="invoice.macaroon",
                                 tls_cert=str(certs["cert"]))
    with pytest.raises(LedgerError, match="lightning.macaroon"):
        make_node(settings, tmp_path, "regtest")
    (tmp_path / "invoice.macaroon").chmod(0o600)
    n = make_node(settings, tmp_path, "regtest")  # relative to the home
    assert isinstance(n, LndNode) and n.simulated is False and n.name == "lnd"


def test_a_server_with_another_certificate_is_refused(certs: dict[str, Path],
                                                      macaroon: Path) -> None:
    impostor = LndServer(certs["other_cert"], certs["other_key"], MACAROON)
    try:
        n = LndNode(impostor.url, network="regtest", macaroon=macaroon,
                    tls_cert=certs["cert"])
        err = _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_tls",
                     "not the pinned one", str(certs["cert"]))
        assert impostor.requests == []  # nothing, the macaroon least of all, was sent
        assert err.exit_code == 6
    finally:
        impostor.close()


def test_the_pinned_certificate_must_match_exactly(certs: dict[str, Path], macaroon: Path,
                                                   tmp_path: Path) -> None:
    # A bundle trusting both certificates still pins the first one: the impostor presents
    # a certificate the bundle would accept, but not the pinned fingerprint.
    impostor = LndServer(certs["other_cert"], certs["other_key"], MACAROON)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certs["cert"].read_bytes() + certs["other_cert"].read_bytes())
    try:
        n = LndNode(impostor.url, network="regtest", macaroon=macaroon, tls_cert=bundle)
        _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_tls")
    finally:
        impostor.close()


def test_a_ca_bundle_from_the_environment_does_not_replace_the_pin(
        certs: dict[str, Path], macaroon: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = LndServer(certs["other_cert"], certs["other_key"], MACAROON)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs["other_cert"]))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(certs["other_cert"]))
    try:
        n = LndNode(impostor.url, network="regtest", macaroon=macaroon,
                    tls_cert=certs["cert"])
        _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_tls")
        assert impostor.requests == []
    finally:
        impostor.close()


def test_plain_http_and_missing_cert_are_refused(macaroon: Path, tmp_path: Path,
                                                 certs: dict[str, Path]) -> None:
    with pytest.raises(BadValue, match="https"):
        LndNode("http://127.0.0.1:8080", network="regtest", macaroon=macaroon,
                tls_cert=certs["cert"])
    with pytest.raises(LedgerError, match="lightning.tls_cert"):
        LndNode("https://127.0.0.1:8080", network="regtest", macaroon=macaroon,
                tls_cert=tmp_path / "nope.cert")
    junk = tmp_path / "junk.cert"
    junk.write_text("hello")
    with pytest.raises(LedgerError, match="lightning.tls_cert"):
        LndNode("https://127.0.0.1:8080", network="regtest", macaroon=macaroon,
                tls_cert=junk)


def test_timeout(node: LndNode, server: LndServer) -> None:
    node.timeout = 1
    server.delay = 1.5
    _fails(lambda: node.create_invoice(1_000_000, "a", 600), "ln_timeout", "1 s")


def test_node_down(macaroon: Path, certs: dict[str, Path]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = LndNode(f"https://127.0.0.1:{port}", network="regtest", macaroon=macaroon,
                tls_cert=certs["cert"])
    _fails(lambda: n.statuses([_fixed_invoice()]), "ln_down", "not answering")


def test_other_network_home(server: LndServer, macaroon: Path, certs: dict[str, Path]) -> None:
    n = LndNode(server.url, network="signet", macaroon=macaroon, tls_cert=certs["cert"])
    _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_wrong_network", "signet")
    server.network = "signet"
    assert n.create_invoice(1_000_000, "a", 600).bolt11.startswith("lntbs10u1")


def test_bad_requests_are_refused_before_asking(node: LndNode, server: LndServer) -> None:
    for args in ((0, "a", 600), (1000, "a\nb", 600), (1000, "x" * 700, 600), (1000, "a", 5)):
        with pytest.raises(BadValue):
            node.create_invoice(*args)
    assert server.requests == []


def test_no_credentials_in_messages(server: LndServer, macaroon: Path,
                                    certs: dict[str, Path]) -> None:
    server.fault = "html"
    n = LndNode(server.url, network="regtest", macaroon=macaroon, tls_cert=certs["cert"])
    err = _fails(lambda: n.create_invoice(1_000_000, "a", 600), "ln_bad_answer")
    assert MACAROON.hex() not in err.message


def _fixed_invoice():
    from cloudlease.lightning.base import LnInvoice

    now = datetime.now(UTC).replace(microsecond=0)
    return LnInvoice("lnbcrt1", "00" * 32, 1000, "x", now, now + timedelta(minutes=10))
