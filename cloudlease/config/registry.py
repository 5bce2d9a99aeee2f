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
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from cloudlease.core.errors import LedgerError


@dataclass(frozen=True)
class Registry:
    """Names → implementations of one kind.

    Attributes:
        kind: what the names are, for messages (``"provisioning driver"``).
        key: the config.toml key that chooses one (``"provision.driver"``).
        entries: name → ``"module:Class"``.
    """

    kind: str
    key: str
    entries: Mapping[str, str]

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
