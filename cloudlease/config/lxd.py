"""``[provision.lxd]`` in config.toml: the LXD cluster the ``lxd`` driver makes a
container per lease on (``cloudlease/config/provision.py`` shows the table with its
defaults; ``examples/provision/README.md`` says what each key does).

The ports default to ``[provision]``'s (``ProvisionSettings`` fills them in); relative
paths of the certificates and the key are from the home (:meth:`LxdSettings.placed`), and
those files are checked on this machine when config.toml is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloudlease.config.checks import Bad, ip_address, path, pattern, shown, text, whole
from cloudlease.config.schema import Checking, Section, setting

LXD_SOCKET = "/var/lib/lxd/unix.socket"  # Debian's lxd (LXD_DIR /var/lib/lxd)
LXD_FILES = ("client_cert", "client_key", "server_cert")
_LXD_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"  # project, profile, member
_LXD_IMAGE = r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}"  # alias or fingerprint


def check_target(text: str) -> str | None:
    """Why ``text`` is not a placement (a cluster member's name or ``@group``), or None."""
    import re

    name = text[1:] if text.startswith("@") else text
    if re.fullmatch(_LXD_NAME, name):
        return None
    return "must be a cluster member's name or @group (letters, digits, _ . -)"


def _lxd_url(value: Any) -> str:
    value = text(1024)(value)
    if value.startswith("https://"):
        from cloudlease.net import parse_url

        try:
            url = parse_url(value, schemes=("https",))
        except ValueError as exc:
            raise Bad(str(exc)) from None
        if url.username is not None or url.password is not None or url.query \
                or url.path not in ("", "/"):
            raise Bad(f"got {shown(value)}; expected https://host:port with nothing after it")
        return value
    if not value.startswith("/") or " " in value or not value.isprintable() or len(value) > 107:
        raise Bad(f"got {shown(value)}; expected the path of LXD's unix socket or "
                  "https://host:port")
    return value


def _profiles(value: Any) -> tuple[str, ...]:
    import re

    if not isinstance(value, list) or not all(isinstance(v, str) and re.fullmatch(_LXD_NAME, v)
                                              for v in value):
        raise Bad(f"got {shown(value)}; expected an array of profile names (letters, digits, "
                  "_ . -)")
    return tuple(value)


def _target(value: Any) -> str:
    value = text(64)(value)
    if value and check_target(value):
        raise Bad(f"got {shown(value)}; expected \"\" (the cluster places), a member's name "
                  "or @group")
    return value


class LxdSettings(Section):
    """Checked ``[provision.lxd]`` settings (see the module docstring for each key). The
    ports default to ``[provision]``'s; relative paths are from the home (:meth:`placed`)."""

    url: str = setting(_lxd_url, LXD_SOCKET, "LXD's unix socket, or https://host:8443")
    client_cert: str = setting(path(), "", "https: this client's certificate (PEM, 0600)")
    client_key: str = setting(path(), "", "https: its private key (PEM, mode 0600)")
    server_cert: str = setting(path(), "", "https: the server's certificate, pinned")
    project: str = setting(pattern(_LXD_NAME, "an LXD project name", empty=False), "default")
    image: str = setting(pattern(_LXD_IMAGE, "an image alias or fingerprint"), "",
                         "an image alias or fingerprint on the cluster")
    profiles: tuple[str, ...] = setting(_profiles, ("default",))
    target: str = setting(_target, "", '"" (the cluster places), a member, or @group')
    ssh_listen: str = setting(ip_address(), "127.0.0.1",
                              "where each lease's proxy device listens (on its member)")
    port_min: int | None = setting(whole(1024, 65535), None, "default: provision.port_min")
    port_max: int | None = setting(whole(1024, 65535), None, "default: provision.port_max")

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")

    def placed(self, home: str | Path) -> LxdSettings:
        """The same settings with the certificate and key paths taken from ``home``."""
        return self.replace(**{k: str(Path(home) / v) for k in LXD_FILES
                               if (v := self.__dict__[k])})

    def problems(self, check: Checking) -> Iterator[tuple[str, str]]:
        for key in LXD_FILES:
            value = self.__dict__[key]
            if value and not self.https:
                yield key, "only applies to an https:// url"
            elif self.https and not value:
                yield key, ("is required with an https:// url (the client certificate, its "
                            "key, and the server's certificate to pin)")
            elif value and check.home is not None:
                problem = pem_problem(Path(check.home) / value, secret=key != "server_cert")
                if problem:
                    yield key, problem


def pem_problem(path: Path, *, secret: bool) -> str | None:
    """Why a certificate or key file cannot be used (None when it can): there, a regular
    file (a symlink is refused), PEM, and when ``secret`` readable by its owner only."""
    try:
        st = os.lstat(path)
        head = path.read_bytes()[:64 * 1024] if stat.S_ISREG(st.st_mode) else b""
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file (a symlink is refused)"
    if secret and st.st_mode & 0o077:
        return (f"{path} can be read by others (mode {stat.S_IMODE(st.st_mode):04o}); run "
                f"`chmod 600 {path}`")
    if b"-----BEGIN " not in head:
        return f"{path} is not a PEM file"
    return None
