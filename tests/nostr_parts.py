"""Real Nostr parts for the NWC tests: a relay (PyPI ``nostr-relay``) on a loopback port the
kernel chose, in a child process the fixture reaps, and a wallet service (NIP-47) written
here, which answers ``pay_invoice`` by paying through a function the test gives it (the
simulated node, or the customer's Electrum daemon).

Run as ``python -m tests.nostr_parts CONFIG FD``: the relay itself, serving on the
listening socket ``FD`` it inherited (so the port is the kernel's, and taken before the
child starts); it prints ``ready`` once its database is made."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RELAY_CONFIG = """\
DEBUG: false
relay_name: cloudlease test relay
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_not_too_large
verification:
  nip05_verification: disabled
gunicorn: {{}}
authentication:
  enabled: false
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
hellthread_limit: 100
"""


@contextmanager
def relay(folder: Path, timeout: float = 120) -> Iterator[str]:
    """A relay on ``ws://127.0.0.1:<port>`` until the block ends (its process reaped)."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "relay.yaml"
    conf.write_text(RELAY_CONFIG.format(db=folder / "relay.sqlite3"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    errors = (folder / "relay.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tests.nostr_parts", str(conf),
                             str(sock.fileno())], pass_fds=[sock.fileno()], cwd=root,
                            stdout=subprocess.PIPE, stderr=errors, text=True)
    sock.close()
    try:
        ready = threading.Event()
        threading.Thread(target=_drain, args=(proc, ready), daemon=True).start()
        assert ready.wait(timeout), "the relay did not start: " + \
            (folder / "relay.log").read_text()[-2000:]
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors.close()


def _drain(proc: subprocess.Popen, ready: threading.Event) -> None:
    """Read the relay's stdout to its end (it says ``ready`` once, among other lines)."""
    for line in proc.stdout:
        if line.strip() == "ready":
            ready.set()
    proc.stdout.close()


@dataclass
class Wallet:
    """A NIP-47 wallet service on a relay.

    Attributes:
        pay: pays an invoice, returns its preimage (raises to refuse).
        mode: ``ok``; ``refuse`` (an NIP-47 error); ``wrong_key`` (answers signed by
            another key); ``silent`` (never answers); ``bad_preimage``.
        requests: the requests it received (method, params), in order.
    """

    relay: str
    pay: Callable[[str], str]
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import nostr_sdk as nostr

        self.keys = nostr.Keys.generate()
        self.secret = nostr.Keys.generate()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    @property
    def uri(self) -> str:
        return (f"nostr+walletconnect://{self.keys.public_key().to_hex()}?relay={self.relay}"
                f"&secret={self.secret.secret_key().to_hex()}")

    def __enter__(self) -> Wallet:
        self._thread.start()
        assert self._ready.wait(60), f"the wallet service did not start: {self._error!r}"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # shown by __enter__ when it never got ready
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        import nostr_sdk as nostr

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = nostr.Client()
        await client.add_relay(nostr.RelayUrl.parse(self.relay))
        await client.connect()
        f = nostr.Filter().kind(nostr.Kind(23194)).pubkey(self.keys.public_key())
        await client.subscribe(nostr.ReqTarget.auto([f]))
        stream = client.notifications()
        self._ready.set()
        try:
            while not self._stop.is_set():
                nxt = asyncio.ensure_future(stream.next())
                stop = asyncio.ensure_future(self._stop.wait())
                done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    nxt.cancel()
                    break
                stop.cancel()
                note = nxt.result()
                if note is None:
                    break
                if isinstance(note, nostr.ClientNotification.NEW_EVENT):
                    await self._answer(client, note.event)
        finally:
            await client.shutdown()

    async def _answer(self, client: Any, event: Any) -> None:
        import nostr_sdk as nostr

        sender = event.author()
        try:
            plain, enc = self.keys.nip04_decrypt(sender, event.content()), "nip04"
        except Exception:
            plain, enc = self.keys.nip44_decrypt(sender, event.content()), "nip44"
        req = json.loads(plain)
        self.requests.append(req)
        if self.mode == "silent":
            return
        if self.mode == "refuse":
            body = {"result_type": req["method"],
                    "error": {"code": "QUOTA_EXCEEDED", "message": "no more today"}}
        else:
            loop = asyncio.get_running_loop()
            try:
                preimage = await loop.run_in_executor(None, self.pay,
                                                      req["params"]["invoice"])
                if self.mode == "bad_preimage":
                    preimage = "11" * 32
                body = {"result_type": req["method"], "result": {"preimage": preimage}}
            except Exception as exc:
                body = {"result_type": req["method"],
                        "error": {"code": "PAYMENT_FAILED", "message": str(exc)[:100]}}
        encrypt = self.keys.nip04_encrypt if enc == "nip04" else self.keys.nip44_encrypt
        signer = nostr.Keys.generate() if self.mode == "wrong_key" else self.keys
        ev = nostr.EventBuilder(nostr.Kind(23195), encrypt(sender, json.dumps(body))).tags([
            nostr.Tag.parse(["p", sender.to_hex()]),
            nostr.Tag.parse(["e", event.id().to_hex()])]).finalize(signer)
        await client.send_event(ev)


def _serve_relay(conf: str, fd: int) -> None:
    import logging
    import os

    import nostr_relay
    from alembic import config as alembic
    from nostr_relay.config import Config

    Config.load(conf)
    ini = os.path.join(os.path.dirname(nostr_relay.__file__), "alembic.ini")
    logging.disable(logging.INFO)
    alembic.main([f"-c{ini}", "upgrade", "head"])
    import uvicorn
    from nostr_relay import monkeypatch
    from nostr_relay.web import create_app

    monkeypatch.monkey()
    app = create_app(conf)
    print("ready", flush=True)
    uvicorn.run(app, fd=fd, log_level="warning", ws="websockets")


if __name__ == "__main__":
    _serve_relay(sys.argv[1], int(sys.argv[2]))
