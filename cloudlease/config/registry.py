"""Which class implements each name config.toml may choose: chain backends, Lightning nodes
and provisioning drivers.

A registry maps a name to ``"module:Class"`` and imports the module only when that name is
used, so reading config.toml never loads a backend, and no interface module (``base.py``)
imports its implementations (which would tie them into one import circle). Each class
builds itself from the settings with a ``from_settings`` class method.

To add a backend or a driver: write the class (see ``docs/architecture.md``), add one line
here, and the config check, ``init`` and the factories know it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from cloudlease.core.errors import LedgerError


class Registry:
    """Names → implementations of one kind (a plain class: config.toml's schema reads
    the names on every command, and a dataclass costs about a millisecond to create).

    Attributes:
        kind: what the names are, for messages (``"provisioning driver"``).
        key: the config.toml key that chooses one (``"provision.driver"``).
        entries: name → ``"module:Class"``.
    """

    __slots__ = ("kind", "key", "entries")

    def __init__(self, kind: str, key: str, entries: Mapping[str, str]) -> None:
        self.kind, self.key, self.entries = kind, key, entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.key!r}, {dict(self.entries)!r})"

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def load(self, name: str) -> Any:
        """The class registered under ``name`` (its module imported now)."""
        spec = self.entries.get(name)
        if spec is None:
            raise LedgerError(f"config.toml:{self.key} {name!r} is not a known {self.kind} "
                              f"(known: {', '.join(self.entries)})", code="config_invalid")
        module, _, attr = spec.partition(":")
        return getattr(import_module(module), attr)


CHAIN_BACKENDS = Registry("chain backend", "backend.kind", {
    "devchain": "cloudlease.bitcoin.backends.devchain:DevchainBackend",
    "esplora": "cloudlease.bitcoin.backends.esplora:EsploraBackend",
    "bitcoind": "cloudlease.bitcoin.backends.bitcoind:BitcoindBackend",
})

LIGHTNING_NODES = Registry("Lightning backend", "lightning.backend", {
    "devchain": "cloudlease.lightning.devnode:DevNode",
    "electrum": "cloudlease.lightning.electrum:ElectrumNode",
    "lnd": "cloudlease.lightning.lnd:LndNode",
})

PROVISION_DRIVERS = Registry("provisioning driver", "provision.driver", {
    "command": "cloudlease.provision.command:CommandDriver",
    "ssh-account": "cloudlease.provision.sshaccount:SshAccountDriver",
    "podman": "cloudlease.provision.podman:PodmanDriver",
    "lxd": "cloudlease.provision.lxd:LxdDriver",
})
