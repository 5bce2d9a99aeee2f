"""Two cloudlease homes ("hosts") on one PostgreSQL ledger drive one LXD cluster: each
rents and makes machines, the ledger says which leases have one, LXD says where; a
machine made from one home is released by the other's tick, and ticks running at once
drive each machine once."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VPUB
from tests.lxd_parts import configure, instance, login, need_lxd, sweep
from tests.machine_helpers import release_all
from tests.provision_parts import keypair

pytestmark = [pytest.mark.lxd]


@pytest.fixture
def hosts(cli, pg_database: str, tmp_path: Path) -> Iterator[dict]:
    cluster = need_lxd()
    cluster["key"], cluster["pub"] = keypair(tmp_path / "keys", "alice")
    homes = [tmp_path / "host-a", tmp_path / "host-b"]
    for h in homes:
        cli("init", "--home", str(h), "--xpub", VPUB, "--ledger-url", pg_database)
        configure(h, cluster, port_min=26000, port_max=26999)
    from tests.machine_helpers import start_lease_ids_at

    start_lease_ids_at(homes[0], random.randrange(100_000, 999_999))
    # one chain for both hosts: host a's simulated chain, served to both as Esplora
    import threading

    from cloudlease.bitcoin.devserver import serve

    server = serve(homes[0] / "devchain.json", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for h in homes:
        cfg = h / "config.toml"
        text = cfg.read_text().replace('kind = "devchain"', 'kind = "esplora"')
        cfg.write_text(text.replace('"http://127.0.0.1:3002"', f'"{server.url}"'))
    try:
        yield {"cluster": cluster, "homes": homes}
    finally:
        server.shutdown()
        server.server_close()
        release_all(homes[0])
        sweep(cluster)


def on(cli, home: Path, *args: str, code: int = 0) -> dict:
    return cli.json(*args, "--home", str(home), code=code)


def pay(cli, hosts: dict, request_id: str) -> None:
    """Pay on the one chain both hosts watch (host a's)."""
    a = hosts["homes"][0]
    cli("devchain", "pay", request_id, "--home", str(a))
    cli("devchain", "mine", "--home", str(a))


def test_two_hosts_on_postgresql_drive_one_cluster(cli, hosts, monkeypatch):
    a, b = hosts["homes"]
    cluster = hosts["cluster"]
    m1, m2 = cluster["members"]
    on(cli, a, "plan", "add", "one", "--price-per-hour", "1000 sat", "--memory", "64M",
       "--target", m1)
    on(cli, b, "plan", "add", "two", "--price-per-hour", "1000 sat", "--memory", "64M",
       "--target", m2)
    on(cli, a, "tenant", "add", "alice", "--ssh-key", cluster["pub"])
    # on-chain: the simulated Lightning node is each home's own
    first = on(cli, a, "rent", "--hours", "1", "--plan", "one", "--tenant", "alice",
               "--method", "onchain")
    second = on(cli, b, "rent", "--hours", "1", "--plan", "two", "--tenant", "alice",
                "--method", "onchain")
    pay(cli, hosts, first["payment"]["id"])
    pay(cli, hosts, second["payment"]["id"])
    # both hosts tick at once: each machine is made once, by one of them
    procs = [subprocess.Popen([sys.executable, "-m", "cloudlease", "tick", "--json", "--home",
                               str(h)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for h in (a, b)]
    made = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            made += [(m["lease"], m["action"], m["state"]) for m in json.loads(out)["machines"]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert sorted(made) == sorted([(first["id"], "provision", "ready"),
                                   (second["id"], "provision", "ready")])
    ma = on(cli, b, "lease", "show", first["id"])["machine"]  # one ledger: b sees a's lease
    mb = on(cli, a, "lease", "show", second["id"])["machine"]
    assert (ma["details"]["member"], mb["details"]["member"]) == (m1, m2)
    for m, lid in ((ma, first["id"]), (mb, second["id"])):
        assert login(cluster, cluster["key"], m, "hostname").stdout.strip() == \
            f"cl-{lid.lower()}"
    # the machines' recorded host is this machine's name for both homes; a machine made by
    # another host is still this lxd host's to release (LXD says where it is)
    from tests.test_machines import _write_machine

    _write_machine(a, first["id"], host="some-other-host")
    monkeypatch.setenv("CLOUDLEASE_NOW", on(cli, a, "lease", "show", second["id"])["ends_at"])
    tick = on(cli, b, "tick")
    assert sorted((m["lease"], m["state"]) for m in tick["machines"]) == sorted(
        [(first["id"], "released"), (second["id"], "released")])
    assert instance(cluster, f"cl-{first['id'].lower()}") is None
    assert instance(cluster, f"cl-{second['id'].lower()}") is None
