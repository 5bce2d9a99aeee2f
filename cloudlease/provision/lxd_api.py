"""LXD's REST API for the ``lxd`` driver, through ``pylxd``'s transport (its unix-socket and
pinned-TLS sessions) and LXD's raw endpoints, so that every call has a deadline and every
failure becomes one clear line (:class:`LxdFailed`).

``pylxd`` (and requests under it) is imported when a connection is first made, never at
start-up and never while the ledger lock is held. Over HTTPS the server's certificate is
pinned: pylxd's adapter compares the SHA-256 of the certificate the server shows with the
one in ``server_cert`` before a byte of the request is sent; the client authenticates
with ``client_cert``/``client_key``.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from cloudlease.config.provision import LxdSettings
from cloudlease.provision.runner import StepFailed

WAIT_SLICE = 10.0  # seconds one /wait call may block (a deadline is checked between them)


class LxdFailed(StepFailed):
    """A call to LXD that gave no usable answer, said in one line (never a secret)."""


class Gone(LxdFailed):
    """The thing asked for does not exist (HTTP 404)."""


class Lxd:
    """One connection to an LXD server or cluster member (the cluster answers for all)."""

    def __init__(self, settings: LxdSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.where = settings.url
        self._client: Any = None

    # --- connecting ------------------------------------------------------------------------
    @property
    def api(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client.api

    def _connect(self) -> Any:
        s = self.settings
        if not s.https:
            try:
                mode = os.stat(s.url).st_mode
            except FileNotFoundError:
                raise LxdFailed(f"LXD's socket {s.url} does not exist (is LXD running? "
                                "see [provision.lxd] url)") from None
            except OSError as exc:
                raise LxdFailed(f"LXD's socket {s.url}: {exc.strerror}") from None
            if not stat.S_ISSOCK(mode):
                raise LxdFailed(f"{s.url} is not a unix socket (see [provision.lxd] url)")
            _probe(s.url, self.timeout)
        import pylxd
        from pylxd import exceptions
        from pylxd.client import get_session_for_url

        if s.https:
            session = get_session_for_url(s.url, verify=s.server_cert,
                                          cert=(s.client_cert, s.client_key))
        else:
            from urllib.parse import quote

            session = get_session_for_url(f"http+unix://{quote(s.url, safe='')}")
        # the environment stays out: REQUESTS_CA_BUNDLE would replace the pinned
        # certificate (pylxd pins whatever file requests hands it) and a proxy would see
        # the traffic
        session.trust_env = False
        try:
            client = pylxd.Client(endpoint=s.url, timeout=self.timeout, project=s.project,
                                  session=session)
        except exceptions.ClientConnectionFailed as exc:
            raise LxdFailed(f"cannot reach LXD at {self.where}: {_why(exc)}") from None
        except (OSError, exceptions.LXDAPIException) as exc:
            raise LxdFailed(f"cannot reach LXD at {self.where}: {_why(exc)}") from None
        if client.host_info.get("auth") != "trusted":
            raise LxdFailed(f"LXD at {self.where} does not trust this client's certificate "
                            "(add it on the cluster: lxc config trust add CERT)")
        return client

    # --- calls -----------------------------------------------------------------------------
    def call(self, method: str, node: Any, what: str, **kwargs: Any) -> Any:
        """One request; the JSON answer's ``metadata``. 404 raises :class:`Gone`."""
        from pylxd import exceptions

        try:
            reply = getattr(node, method)(**kwargs)
        except exceptions.NotFound as exc:
            raise Gone(f"{what}: {_why(exc)}") from None
        except (exceptions.LXDAPIException, exceptions.ClientConnectionFailed) as exc:
            raise LxdFailed(f"{what}: LXD said: {_why(exc)}") from None
        except OSError as exc:  # requests' connection errors and timeouts are OSErrors
            raise LxdFailed(f"{what}: no answer from LXD at {self.where} ({_why(exc)})") \
                from None
        try:
            body = reply.json()
        except ValueError:
            return None
        if body.get("type") == "async":
            return self.wait(body.get("metadata") or {}, what)
        return body.get("metadata")

    def wait(self, operation: dict[str, Any], what: str) -> Any:
        """Wait for an operation until it ends or ``timeout`` passes; its metadata."""
        op_id = operation.get("id")
        if not op_id:
            raise LxdFailed(f"{what}: LXD started no operation")
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LxdFailed(f"{what}: LXD did not finish within {self.timeout:g} s "
                                "(it may still be working; the next tick looks again)")
            asked = time.monotonic()
            slice_ = max(1, int(min(left, WAIT_SLICE)))
            meta = self.call("get", self.api.operations[op_id].wait, what,
                             params={"timeout": slice_}, timeout=slice_ + self.timeout)
            status = (meta or {}).get("status")
            if status == "Success":
                return meta
            if status in ("Failure", "Cancelled"):
                raise LxdFailed(f"{what}: {meta.get('err') or status}")
            if time.monotonic() - asked < 0.5:
                time.sleep(0.2)  # a member that answers at once without waiting

    # --- what the driver asks --------------------------------------------------------------
    def instance(self, name: str) -> dict[str, Any] | None:
        """The instance with its state (``status``, ``location``, ``config``, ``devices``),
        or None when there is none."""
        try:
            return self.call("get", self.api.instances[name], f"looking up {name}",
                             params={"recursion": 1})
        except Gone:
            return None

    def names(self) -> set[str]:
        """Every instance's name in the project."""
        urls = self.call("get", self.api.instances, "listing instances") or []
        return {u.rsplit("/", 1)[-1].split("?")[0] for u in urls}

    def instances(self) -> list[dict[str, Any]]:
        """Every instance in the project, with config, devices and location."""
        return self.call("get", self.api.instances, "listing instances",
                         params={"recursion": 1}) or []

    def create(self, body: dict[str, Any], target: str) -> None:
        kwargs: dict[str, Any] = {"json": body}
        if target:
            kwargs["target"] = target
        self.call("post", self.api.instances, f"creating {body['name']}", **kwargs)

    def state(self, name: str, action: str, *, force: bool = False,
              timeout: int | None = None) -> None:
        body: dict[str, Any] = {"action": action, "force": force}
        if timeout is not None:
            body["timeout"] = timeout
        self.call("put", self.api.instances[name].state, f"{action} {name}", json=body)

    def patch(self, name: str, body: dict[str, Any]) -> None:
        self.call("patch", self.api.instances[name], f"updating {name}", json=body)

    def delete(self, name: str) -> None:
        self.call("delete", self.api.instances[name], f"deleting {name}")

    def push(self, name: str, path: str, data: bytes, mode: int, *,
             directory: bool = False) -> None:
        """Write a file (or make a directory) in the instance, owned by root."""
        headers = {"X-LXD-uid": "0", "X-LXD-gid": "0", "X-LXD-mode": f"{mode:04o}",
                   "X-LXD-type": "directory" if directory else "file",
                   "X-LXD-write": "overwrite"}
        self.call("post", self.api.instances[name].files, f"writing {path} in {name}",
                  params={"path": path}, headers=headers, data=data)

    def remove_file(self, name: str, path: str) -> None:
        try:
            self.call("delete", self.api.instances[name].files, f"removing {path} in {name}",
                      params={"path": path})
        except Gone:
            pass

    def image(self, ref: str) -> str | None:
        """The fingerprint of an image given by alias or fingerprint, or None."""
        try:
            found = self.call("get", self.api.images.aliases[ref], f"image {ref}")
            return (found or {}).get("target")
        except Gone:
            pass
        try:
            found = self.call("get", self.api.images[ref], f"image {ref}")
            return (found or {}).get("fingerprint")
        except Gone:
            return None

    def members(self) -> list[dict[str, Any]]:
        """The cluster's members (``server_name``, ``status``, ``groups``, ``url``); one
        pseudo-member for a server that is not clustered."""
        if not self._client_clustered():
            return [{"server_name": "", "status": "Online", "groups": [], "url": ""}]
        return self.call("get", self.api.cluster.members, "listing cluster members",
                         params={"recursion": 1}) or []

    def resources(self, member: str) -> dict[str, Any]:
        params = {"target": member} if member else {}
        return self.call("get", self.api.resources, f"resources of {member or 'the server'}",
                         params=params) or {}

    def _client_clustered(self) -> bool:
        self.api  # noqa: B018 - connects
        return bool(self._client.host_info.get("environment", {}).get("server_clustered"))

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.api.session.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
            self._client = None


def _probe(path: str, timeout: float) -> None:
    """Connect once before pylxd does: a refused socket is said plainly (and pylxd, whose
    unix connection leaks its socket when connect fails, never meets one)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            raise LxdFailed(f"cannot reach LXD at {path}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    """One line from a pylxd or requests exception, without a URL's query or a secret."""
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE" in text.upper() or "Fingerprints did not match" in text:
        return ("the server's TLS certificate is not the one pinned in [provision.lxd] "
                "server_cert")
    for marker in ("Connection refused", "No such file or directory", "timed out",
                   "Read timed out", "Permission denied"):
        if marker in text:
            return marker.lower()
    from cloudlease.provision.base import one_line

    return one_line(text, 200)
