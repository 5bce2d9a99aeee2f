"""Chain backends behind one small interface (see ``base.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlease.core.errors import BadValue, LedgerError

if TYPE_CHECKING:
    from cloudlease.bitcoin.backends.base import Backend
    from cloudlease.config import Settings
    from cloudlease.ledger.store import Home


def make_backend(settings: Settings, home: Home) -> Backend:
    """The backend config.toml names, ready to use."""
    if settings.backend == "devchain":
        if settings.network != "regtest":
            raise BadValue(f"the devchain backend is a simulated regtest chain; this ledger "
                           f"is on {settings.network}")
        from cloudlease.bitcoin.backends.devchain import DevchainBackend

        return DevchainBackend(home.devchain)
    if settings.backend == "esplora":
        from cloudlease.bitcoin.backends.esplora import EsploraBackend

        if not settings.esplora_urls:
            raise LedgerError("backend.esplora_urls is empty in config.toml",
                              code="config_invalid")
        t = settings.backend_timeout
        return EsploraBackend(list(settings.esplora_urls), timeout=(min(3.05, t), t))
    from cloudlease.bitcoin.backends.bitcoind import BitcoindBackend

    url = settings.effective_rpc_url
    if not url:
        raise LedgerError("backend.rpc_url is empty in config.toml (or set "
                          "CLOUDLEASE_RPC_URL)", code="config_invalid")
    return BitcoindBackend(url, wallet=settings.rpc_wallet,
                           cookie_file=settings.rpc_cookie_file or None,
                           timeout=settings.backend_timeout)
