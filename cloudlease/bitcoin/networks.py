"""The Bitcoin networks cloudlease knows, and what they share.

Five names: ``mainnet``, ``testnet`` (testnet3), ``testnet4``, ``signet`` and ``regtest``.
testnet, testnet4 and signet share every encoding (bech32 ``tb``, base58 ``m``/``n``/``2``,
``tpub`` keys); regtest uses bech32 ``bcrt`` with the testnet base58 prefixes and keys. So
an address or key can belong to several networks, and messages name all of them.

Nothing here imports embit at module level: :func:`embit_net` imports it when called.
"""

from __future__ import annotations

from typing import Any

from cloudlease.core.errors import BadValue

NETWORKS: tuple[str, ...] = ("mainnet", "testnet", "testnet4", "signet", "regtest")

#: bech32 human-readable part of each network's segwit addresses.
BECH32_HRP: dict[str, str] = {
    "mainnet": "bc",
    "testnet": "tb",
    "testnet4": "tb",
    "signet": "tb",
    "regtest": "bcrt",
}

#: Networks sharing the testnet base58 prefixes (P2PKH 0x6f, P2SH 0xc4) and tpub keys.
TEST_FAMILY: tuple[str, ...] = ("testnet", "testnet4", "signet", "regtest")

#: Which embit ``NETWORKS`` entry holds each network's constants.
_EMBIT_NAME: dict[str, str] = {
    "mainnet": "main",
    "testnet": "test",
    "testnet4": "test",
    "signet": "signet",
    "regtest": "regtest",
}


def check_network(name: str) -> str:
    """Return ``name`` as a known network name, or raise ``BadValue``.

    Surrounding blanks and case are ignored (``" Regtest "`` gives ``"regtest"``).
    """
    if not isinstance(name, str):
        raise BadValue(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
    key = name.strip().lower()
    if key not in NETWORKS:
        raise BadValue(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
    return key


def embit_net(name: str) -> dict[str, Any]:
    """The embit network dict (``embit.networks.NETWORKS[...]``) for a network name."""
    from embit.networks import NETWORKS as EMBIT_NETWORKS

    return EMBIT_NETWORKS[_EMBIT_NAME[check_network(name)]]


def networks_for_hrp(hrp: str) -> list[str]:
    """Networks whose segwit addresses use this bech32 prefix (empty when none)."""
    return [net for net in NETWORKS if BECH32_HRP[net] == hrp.lower()]


def describe(networks: list[str] | tuple[str, ...]) -> str:
    """Human list of network names: ``"mainnet"``, ``"testnet, testnet4 or signet"``."""
    names = list(networks)
    if not names:
        return "no known network"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def mismatch_message(what: str, belongs_to: list[str], network: str) -> str:
    """``"<what> is for <networks>, but this ledger is on <network>"``."""
    return f"{what} is for {describe(belongs_to)}, but this ledger is on {network}"
