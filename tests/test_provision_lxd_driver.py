"""The lxd driver called directly on the real cluster: idempotent at every step (called
twice, a crash between create and start, an instance already there or already gone, a
name held by an instance that is not ours), and over HTTPS with a client certificate and
the server's certificate pinned (run inside the cluster's network namespace, where the
members listen), a wrong pin and an untrusted client refused with one clear line."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import parse_section
from cloudlease.provision.base import Limits, MachineSpec, State
from cloudlease.provision.lxd import LABEL, LxdDriver
from cloudlease.provision.lxd_api import Lxd
from tests.lxd_parts import client, delete_behind_our_back, instance, login, need_lxd, sweep
from tests.provision_parts import keypair

pytestmark = [pytest.mark.lxd]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    found = need_lxd()
    base = tmp_path_factory.mktemp("lxd-driver")
    found["base"] = base
    found["key"], found["pub"] = keypair(base / "keys", "alice")
    try:
        yield found
    finally:
        sweep(found)


def raw(cluster: dict, **lxd) -> dict:
    return {"driver": "lxd", "timeout_seconds": 60, "state_dir": str(cluster["base"] / "state"),
            "lxd": {"url": cluster["url"], "image": cluster["image"], "port_min": 25000,
                    "port_max": 25999, **lxd}}


def spec(cluster: dict, **kw) -> MachineSpec:
    return MachineSpec(kw.pop("lease", "T" + uuid.uuid4().hex[:10]), "alice",
                       (cluster["pub"],), kw.pop("limits", Limits(memory_bytes=64 * 2**20)),
                       datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1), "p",
                       **kw)


def test_every_step_is_idempotent(cluster):
    driver = LxdDriver(parse_section(raw(cluster)), cluster["base"])
    s = spec(cluster, target=cluster["members"][1])
    name = f"cl-{s.lease_id.lower()}"
    first = driver.provision(s, None)
    assert first.state is State.READY, first.error
    assert first.details["member"] == cluster["members"][1]
    again = driver.provision(s, None)  # a lost answer: called again without the record
    assert again.state is State.READY and again.details["port"] == first.details["port"]
    assert again.details["host_key_fingerprint"] == first.details["host_key_fingerprint"]
    assert "note" not in again.details
    assert driver.extend(s, again).state is State.READY
    suspended = driver.suspend(s, again)
    assert suspended.state is State.SUSPENDED and instance(cluster, name)["status"] == "Frozen"
    assert driver.suspend(s, suspended).state is State.SUSPENDED
    resumed = driver.resume(s, suspended)
    assert resumed.state is State.READY and instance(cluster, name)["status"] == "Running"
    # a new limit reaches the running instance (a plan edited, or a repair)
    bigger = MachineSpec(s.lease_id, s.tenant, s.ssh_keys,
                         Limits(cpus=Decimal("0.5"), memory_bytes=96 * 2**20, pids=50),
                         s.ends_at, s.plan, s.target)
    assert driver.provision(bigger, resumed).state is State.READY
    config = instance(cluster, name)["config"]
    assert (config["limits.memory"], config["limits.processes"],
            config["limits.cpu.allowance"]) == (str(96 * 2**20), "50", "50ms/100ms")
    released = driver.release(s, resumed)
    assert released.state is State.RELEASED and instance(cluster, name) is None
    assert driver.release(s, released).state is State.RELEASED  # already gone
    assert driver.release(s, None).state is State.RELEASED
    gone = driver.suspend(s, None)  # nothing to freeze: suspended all the same
    assert gone.state is State.SUSPENDED


def test_a_crash_between_create_and_start_is_finished(cluster):
    driver = LxdDriver(parse_section(raw(cluster)), cluster["base"])
    s = spec(cluster)
    name = f"cl-{s.lease_id.lower()}"
    api = Lxd(driver.lxd, 60)
    try:  # what a run that died after LXD created the instance left behind
        driver._create(api, s, name, None)
    finally:
        api.close()
    assert instance(cluster, name)["status"] == "Stopped"
    made = driver.provision(s, None)
    assert made.state is State.READY, made.error
    out = login(cluster, cluster["key"], {"ssh": made.ssh}, "hostname")
    assert out.stdout.strip() == name
    assert driver.release(s, made).state is State.RELEASED


def test_an_instance_that_is_not_ours_is_left_alone(cluster):
    driver = LxdDriver(parse_section(raw(cluster)), cluster["base"])
    s = spec(cluster)
    name = f"cl-{s.lease_id.lower()}"
    api = client(cluster).api
    reply = api.instances.post(json={"name": name, "type": "container", "source": {
        "type": "image", "alias": cluster["image"]}, "config": {}})
    api.operations[reply.json()["metadata"]["id"]].wait.get(params={"timeout": 60},
                                                             timeout=90)
    try:
        for call in (driver.provision, driver.suspend, driver.release):
            m = call(s, None)
            assert m.state is State.FAILED
            assert m.error == (f"instance {name} exists and is not this lease's (no {LABEL}="
                               f"{s.lease_id}); cloudlease leaves it alone")
        assert instance(cluster, name) is not None
    finally:
        delete_behind_our_back(cluster, name)


# --- HTTPS ------------------------------------------------------------------------------
def _client_cert(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA384()))
    crt, pem_key = folder / f"{name}.crt", folder / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    for p in (crt, pem_key):
        p.chmod(0o600)
    return crt, pem_key


IN_NETNS = """
import json, sys
from datetime import datetime, timedelta, UTC
from pathlib import Path
from cloudlease.provision.base import Limits, MachineSpec
from cloudlease.config.provision import parse_section
from cloudlease.provision.lxd import LxdDriver
raw, lease, pub, base = json.loads(sys.argv[1])
driver = LxdDriver(parse_section(raw, str(Path(base) / "config.toml")), Path(base))
spec = MachineSpec(lease, "alice", (pub,), Limits(memory_bytes=64 << 20),
                   datetime.now(UTC) + timedelta(hours=1), "p")
made = driver.provision(spec, None)
out = {"state": str(made.state), "error": made.error, "member": made.details.get("member")}
if made.state == "ready":
    out["released"] = str(driver.release(spec, made).state)
print(json.dumps(out))
"""


def _in_netns(cluster: dict, lxd: dict) -> dict:
    args = json.dumps([raw(cluster, **lxd), "T" + uuid.uuid4().hex[:10], cluster["pub"],
                       str(cluster["base"])])
    out = subprocess.run(["nsenter", f"--net={cluster['netns']}", sys.executable, "-c",
                          IN_NETNS, args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_https_with_a_client_certificate_and_the_server_pinned(cluster):
    folder = cluster["base"]
    crt, key = _client_cert(folder, "cl-test-client")
    stranger_crt, stranger_key = _client_cert(folder, "cl-test-stranger")
    other_server, _ = _client_cert(folder, "cl-test-not-the-server")
    c = client(cluster)
    server = folder / "server.crt"
    server.write_text(c.host_info["environment"]["certificate"])
    body = base64.b64encode(x509_der(crt)).decode()
    reply = c.api.certificates.post(json={"type": "client", "name": "cl-test-client",
                                          "certificate": body})
    assert reply.status_code in (200, 201, 202)
    try:
        https = {"url": "https://127.0.0.1:8443", "client_cert": str(crt),
                 "client_key": str(key), "server_cert": str(server)}
        made = _in_netns(cluster, https)
        assert made.pop("member") in cluster["members"]
        assert made == {"state": "ready", "error": None, "released": "released"}
        wrong = _in_netns(cluster, {**https, "server_cert": str(other_server)})
        assert wrong["state"] == "failed"
        assert wrong["error"] == ("cannot reach LXD at https://127.0.0.1:8443: the server's TLS "
                                  "certificate is not the one pinned in [provision.lxd] "
                                  "server_cert")
        stranger = _in_netns(cluster, {**https, "client_cert": str(stranger_crt),
                                       "client_key": str(stranger_key)})
        assert stranger["state"] == "failed"
        assert stranger["error"] == ("LXD at https://127.0.0.1:8443 does not trust this "
                                     "client's certificate (add it on the cluster: lxc config "
                                     "trust add CERT)")
    finally:
        for entry in c.api.certificates.get(params={"recursion": 1}).json()["metadata"]:
            if entry.get("name") == "cl-test-client":
                c.api.certificates[entry["fingerprint"]].delete()


def x509_der(path: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER)
