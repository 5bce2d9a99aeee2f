"""The ``[lightning]`` table of config.toml, and the ``init --lightning`` options.

```toml
[lightning]
backend = "lnd"                      # none | devchain (regtest, simulated) | electrum | lnd
url = "https://127.0.0.1:8080"       # electrum: http://user:password@127.0.0.1:7777
macaroon = "invoice.macaroon"        # lnd only; mode 0600; relative to the home
tls_cert = "tls.cert"                # lnd only; the node's certificate, pinned
timeout_seconds = 10
```

:class:`LightningSettings` is the table's schema and its settings (see
``cloudlease.config.schema``): an unknown key, a wrong type or an out-of-range value is a
problem naming ``config.toml:lightning.<key>``, and so is a URL the backend cannot use or a
missing macaroon or certificate for lnd; :func:`parse_section` reads the table alone.
:func:`check_init_args` checks the command-line options (``BadValue``, exit 2);
:func:`template_section` renders the commented table ``init`` writes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cloudlease.config.checks import choice, path, seconds, url
from cloudlease.config.registry import LIGHTNING_NODES
from cloudlease.config.schema import Checking, Section, invalid, read_table, setting
from cloudlease.core.errors import BadValue

BACKENDS = ("none", *LIGHTNING_NODES.names())
KEYS = ("backend", "url", "macaroon", "tls_cert", "timeout_seconds")
DEFAULT_TIMEOUT = Decimal(10)
MAX_TIMEOUT = 300


class LightningSettings(Section):
    """Checked ``[lightning]`` settings.

    Attributes:
        backend: ``none``, ``devchain``, ``electrum`` or ``lnd``.
        url: the node's RPC/REST URL (electrum: with ``user:password@``), else "".
        macaroon: path of LND's macaroon file (relative paths are from the home), else "".
        tls_cert: path of LND's ``tls.cert`` to pin, else "".
        timeout_seconds: per-call timeout (Decimal; a float only at the socket call).
    """

    backend: str = setting(choice(*BACKENDS), "none",
                           "none | devchain (simulated, regtest) | electrum | lnd")
    url: str = setting(url("http", "https"), "", "electrum: http://user:pass@127.0.0.1:7777; "
                       "lnd: https://host:8080", secret=True)
    macaroon: str = setting(path(), "", "lnd: path of the invoice macaroon (mode 0600)")
    tls_cert: str = setting(path(), "", "lnd: path of the node's tls.cert (pinned)")
    timeout_seconds: Decimal = setting(seconds(MAX_TIMEOUT), DEFAULT_TIMEOUT,
                                       "for each call to the node")

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    def problems(self, check: Checking) -> Iterator[tuple[str, str]]:
        if self.backend == "devchain" and check.network not in (None, "regtest"):
            yield "backend", (f"devchain is a simulated node for regtest only (this home is "
                              f"on {check.network}); use electrum or lnd")
        if self.backend in ("electrum", "lnd"):
            problem = _url_problem(self.backend, self.url)
            if problem:
                yield "url", problem
        if self.backend == "lnd" and not self.macaroon:
            yield "macaroon", ("is required for lnd: the path of a macaroon file (an invoice "
                               "macaroon is enough), mode 0600")
        if self.backend == "lnd" and not self.tls_cert:
            yield "tls_cert", ("is required for lnd: the path of the node's tls.cert, which "
                               "cloudlease pins")


def parse_section(raw: dict[str, Any] | None, where: str = "config.toml",
                  network: str | None = None) -> LightningSettings:
    """Check the ``[lightning]`` table alone (``raw`` is the table itself; None or absent
    means ``backend = "none"``), every problem at once (``LedgerError``, exit 5). With
    ``network``, devchain off regtest is refused too."""
    settings, problems = read_table(LightningSettings, "lightning", raw, Checking(network))
    if problems:
        raise invalid(problems, where)
    return settings


_FLAGS = {"backend": "--lightning", "url": "--ln-url", "macaroon": "--ln-macaroon",
          "tls_cert": "--ln-tls-cert", "timeout_seconds": "--lightning"}


def check_init_args(backend: str | None, url: str | None = None, macaroon: str | None = None,
                    tls_cert: str | None = None, network: str = "regtest") -> LightningSettings:
    """Check ``init --lightning BACKEND [--ln-url URL] [--ln-macaroon PATH]
    [--ln-tls-cert PATH]`` (BadValue, exit 2). Returns the settings to write, checked as
    config.toml will be read; the macaroon and certificate paths become absolute."""
    name = (backend or "none").strip().lower()
    if name not in BACKENDS:
        raise BadValue(f"--lightning must be one of {', '.join(BACKENDS)}: {backend!r}")
    url, macaroon, tls_cert = (url or "").strip(), (macaroon or "").strip(), \
        (tls_cert or "").strip()
    if name in ("none", "devchain"):
        extra = [flag for flag, v in (("--ln-url", url), ("--ln-macaroon", macaroon),
                                      ("--ln-tls-cert", tls_cert)) if v]
        if extra:
            raise BadValue(f"{', '.join(extra)} only apply to --lightning electrum or lnd")
    elif not url:
        example = ("http://user:password@127.0.0.1:7777" if name == "electrum"
                   else "https://127.0.0.1:8080")
        raise BadValue(f"--lightning {name} needs --ln-url (e.g. {example})")
    elif name == "electrum" and (macaroon or tls_cert):
        raise BadValue("--ln-macaroon and --ln-tls-cert only apply to --lightning lnd")
    elif problem := _url_problem(name, url):
        raise BadValue(f"--ln-url {problem}")
    if name == "lnd":
        macaroon, tls_cert = _lnd_files(macaroon, tls_cert)
    settings, problems = read_table(LightningSettings, "lightning", {
        "backend": name, "url": url, "macaroon": macaroon, "tls_cert": tls_cert},
        Checking(network))
    if problems:  # what config.toml would refuse, said with the option's name
        key = problems[0].key.partition(".")[2]
        raise BadValue(f"{_FLAGS.get(key, '--lightning')} {problems[0].message}")
    return settings


def _lnd_files(macaroon: str, tls_cert: str) -> tuple[str, str]:
    """The macaroon and certificate of ``init --lightning lnd``, absolute and usable."""
    if not macaroon:
        raise BadValue("--lightning lnd needs --ln-macaroon PATH (an invoice macaroon, "
                       "e.g. ~/.lnd/data/chain/bitcoin/mainnet/invoice.macaroon)")
    if not tls_cert:
        raise BadValue("--lightning lnd needs --ln-tls-cert PATH (the node's tls.cert, "
                       "e.g. ~/.lnd/tls.cert), which cloudlease pins")
    mac = Path(macaroon).expanduser().absolute()
    cert = Path(tls_cert).expanduser().absolute()
    problem = macaroon_problem(mac)
    if problem:
        raise BadValue(f"--ln-macaroon {problem}")
    problem = tls_cert_problem(cert)
    if problem:
        raise BadValue(f"--ln-tls-cert {problem}")
    return str(mac), str(cert)


def macaroon_problem(path: Path) -> str | None:
    """Why the macaroon file cannot be used (None when it can): missing, not a regular
    file, a symlink, readable by group or others, empty or too big."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink; point to the file itself"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_mode & 0o077:
        return (f"{path} can be read by others (mode {stat.S_IMODE(st.st_mode):04o}): a "
                f"macaroon is a password; run `chmod 600 {path}`")
    if not 0 < st.st_size <= 64 * 1024:
        return f"{path} is not a macaroon (size {st.st_size} bytes)"
    return None


def tls_cert_problem(path: Path) -> str | None:
    """Why the certificate file cannot be pinned (None when it can)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if b"-----BEGIN CERTIFICATE-----" not in data[:64 * 1024]:
        return f"{path} is not a PEM certificate (LND's tls.cert)"
    return None


def template_section(settings: LightningSettings) -> str:
    """The commented ``[lightning]`` table for config.toml (``init`` writes it)."""
    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def line(key: str, value: str, comment: str) -> str:
        return f"{f'{key} = {value}':<27} # {comment}"

    return "\n".join([
        "[lightning]",
        line("backend", q(settings.backend), "none | devchain (simulated, regtest) | "
                                             "electrum | lnd"),
        line("url", q(settings.url), "electrum: http://user:pass@127.0.0.1:7777; lnd: "
                                     "https://host:8080"),
        line("macaroon", q(settings.macaroon), "lnd: path of the invoice macaroon (mode 0600)"),
        line("tls_cert", q(settings.tls_cert), "lnd: path of the node's tls.cert (pinned)"),
        f"timeout_seconds = {settings.timeout_seconds}",
    ]) + "\n"


def _url_problem(backend: str, url: str) -> str | None:
    if not url:
        example = ("http://user:password@127.0.0.1:7777" if backend == "electrum"
                   else "https://127.0.0.1:8080")
        return f"is required for {backend} (e.g. {example})"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    shown = redact_url(url)
    if backend == "lnd" and parts.scheme != "https":
        return f"must be https:// for lnd (its REST API is TLS only): {shown}"
    if backend == "electrum" and parts.scheme not in ("http", "https"):
        return f"must be http:// or https://: {shown}"
    if not parts.hostname:
        return f"has no host: {shown}"
    if parts.query or parts.fragment:
        return f"must not have a query or fragment: {shown}"
    if backend == "electrum" and not (parts.username and parts.password):
        return (f"needs the daemon's RPC user and password: http://USER:PASSWORD@host:port "
                f"(`electrum getconfig rpcuser` / `rpcpassword`): {shown}")
    if backend == "lnd" and (parts.username or parts.password):
        return "must not hold a user or password (lnd authenticates with the macaroon)"
    return None


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (user names stay: they help)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    return parts._replace(netloc=netloc, query="", fragment="").geturl()

