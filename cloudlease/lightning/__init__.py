"""Lightning payments through the operator's own node (docs/design.md, "Lightning").

Backends: ``devchain`` (a simulated node beside the devchain, regtest only), ``electrum``
(an Electrum daemon's JSON-RPC) and ``lnd`` (LND's REST API). The interface is in
:mod:`cloudlease.lightning.base`; ``[lightning]`` settings in
:mod:`cloudlease.config.lightning`; the local BOLT11 check every invoice passes in
:mod:`cloudlease.lightning.bolt11check`. Importing this package imports no third-party
library: each backend imports what it needs when it is made.
"""

from cloudlease.config.lightning import LightningSettings, check_init_args, parse_section
from cloudlease.lightning.base import (
    LightningNode,
    LnInvoice,
    LnState,
    LnStatus,
    make_node,
)

__all__ = [
    "LightningNode",
    "LightningSettings",
    "LnInvoice",
    "LnState",
    "LnStatus",
    "check_init_args",
    "make_node",
    "parse_section",
]
