"""``[lightning]`` in config.toml and the ``init --lightning`` options."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.lightning import (
    LightningSettings,
    check_init_args,
    parse_section,
    redact_url,
    template_section,
)
from cloudlease.core.errors import BadValue, LedgerError


def toml(text: str) -> dict:
    return tomllib.loads(text, parse_float=Decimal).get("lightning")


def test_absent_or_empty_means_none() -> None:
    assert parse_section(None) == LightningSettings()
    assert parse_section({}).backend == "none"
    assert not parse_section({}).enabled


def test_full_lnd_table() -> None:
    s = parse_section(toml('[lightning]\nbackend = "lnd"\nurl = "https://10.0.0.2:8080"\n'
                           'macaroon = "invoice.macaroon"\ntls_cert = "/etc/lnd/tls.cert"\n'
                           "timeout_seconds = 2.5\n"))
    assert s == LightningSettings("lnd", "https://10.0.0.2:8080", "invoice.macaroon",
                                  "/etc/lnd/tls.cert", Decimal("2.5"))
    assert isinstance(s.timeout_seconds, Decimal)


def test_electrum_and_devchain() -> None:
    s = parse_section({"backend": "electrum", "url": "http://u:p@127.0.0.1:7777"})
    assert s.url == "http://u:p@127.0.0.1:7777" and s.timeout_seconds == 10
    assert parse_section({"backend": "devchain"}, network="regtest").backend == "devchain"


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"backend": "lnd", "macroon": "x"}, "macroon", "unknown key (did you mean 'macaroon'?"),
    ({"backend": "c-lightning"}, "backend", "none, devchain, electrum, lnd"),
    ({"backend": 1}, "backend", "got 1; expected one of none"),
    ({"backend": True}, "backend", "got true; expected one of"),
    ({"backend": "electrum"}, "url", "is required for electrum"),
    ({"backend": "electrum", "url": "http://127.0.0.1:7777"}, "url", "USER:PASSWORD"),
    ({"backend": "electrum", "url": "ftp://u:p@h:1"}, "url", "http://"),
    ({"backend": "electrum", "url": "http://u:p@h:99999"}, "url", "invalid port"),
    ({"backend": "electrum", "url": "http://u:p@h:1?x=1"}, "url", "query"),
    ({"backend": "lnd", "url": "http://h:8080", "macaroon": "m", "tls_cert": "c"}, "url",
     "https://"),
    ({"backend": "lnd", "url": "https://u:p@h:8080", "macaroon": "m", "tls_cert": "c"}, "url",
     "macaroon"),
    ({"backend": "lnd", "url": "https://h:8080", "tls_cert": "c"}, "macaroon", "required"),
    ({"backend": "lnd", "url": "https://h:8080", "macaroon": "m"}, "tls_cert", "pins"),
    ({"timeout_seconds": 0}, "timeout_seconds", "more than 0"),
    ({"timeout_seconds": Decimal("301")}, "timeout_seconds", "at most 300"),
    ({"timeout_seconds": "10"}, "timeout_seconds", "got '10'; expected seconds"),
    ({"timeout_seconds": Decimal("NaN")}, "timeout_seconds", "more than 0"),
    ({"url": "http://x\n"}, "url", "control characters"),
])
def test_bad_tables_name_the_key(raw: dict, key: str, words: str) -> None:
    with pytest.raises(LedgerError) as info:
        parse_section(raw)
    assert info.value.exit_code == 5 and info.value.code == "config_invalid"
    assert info.value.message.startswith(f"config.toml:lightning.{key}: ")
    assert words in info.value.message
    assert "p@" not in info.value.message  # never a password


def test_devchain_off_regtest_is_refused() -> None:
    with pytest.raises(LedgerError, match=r"lightning\.backend: .*regtest only"):
        parse_section({"backend": "devchain"}, network="mainnet")


def test_where_names_the_file() -> None:
    with pytest.raises(LedgerError, match=r"^/home/op/config.toml:lightning.nope: "):
        parse_section({"nope": 1}, where="/home/op/config.toml")


def test_not_a_table() -> None:
    with pytest.raises(LedgerError, match="expected a table"):
        parse_section("lnd")  # type: ignore[arg-type]


# -- init --lightning -----------------------------------------------------------------------
@pytest.fixture
def lnd_files(tmp_path: Path) -> tuple[Path, Path]:
    mac = tmp_path / "invoice.macaroon"
    mac.write_bytes(b"\x02\x01\x03lnd")
    mac.chmod(0o600)
    cert = tmp_path / "tls.cert"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return mac, cert


def test_init_none_and_devchain() -> None:
    assert check_init_args(None) == LightningSettings()
    assert check_init_args("none").backend == "none"
    assert check_init_args("devchain", network="regtest").backend == "devchain"
    assert check_init_args(" DevChain ").backend == "devchain"


def test_init_lnd(lnd_files: tuple[Path, Path]) -> None:
    mac, cert = lnd_files
    s = check_init_args("lnd", "https://127.0.0.1:8080", str(mac), str(cert), "mainnet")
    assert s == LightningSettings("lnd", "https://127.0.0.1:8080", str(mac), str(cert))


def test_init_electrum() -> None:
    s = check_init_args("electrum", "http://u:p@127.0.0.1:7777", network="signet")
    assert s.url == "http://u:p@127.0.0.1:7777"


@pytest.mark.parametrize(("args", "words"), [
    (("lightning-rs",), "--lightning must be one of"),
    (("devchain", None, None, None, "testnet4"), "regtest only"),
    (("devchain", "http://u:p@h:1"), "--ln-url only apply"),
    (("none", None, "m"), "--ln-macaroon only apply"),
    (("electrum",), "needs --ln-url"),
    (("electrum", "http://h:7777"), "USER:PASSWORD"),
    (("electrum", "http://u:p@h:7777", "m"), "only apply to --lightning lnd"),
    (("lnd",), "needs --ln-url"),
    (("lnd", "https://h:8080"), "needs --ln-macaroon"),
    (("lnd", "https://h:8080", "MAC"), "needs --ln-tls-cert"),
    (("lnd", "https://h:8080", "/nonexistent/mac", "CERT"), "does not exist"),
    (("lnd", "http://h:8080", "MAC", "CERT"), "https://"),
    # what config.toml could not read back is refused here, not written
    (("electrum", 'http://u:p"q@127.0.0.1:7777'), "--ln-url URL has spaces, control"),
])
def test_init_bad_args(args: tuple, words: str, lnd_files: tuple[Path, Path]) -> None:
    mac, cert = lnd_files
    args = tuple(str(mac) if a == "MAC" else str(cert) if a == "CERT" else a for a in args)
    with pytest.raises(BadValue) as info:
        check_init_args(*args)
    assert info.value.exit_code == 2 and words in info.value.message


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_init_refuses_a_readable_macaroon(lnd_files: tuple[Path, Path], mode: int) -> None:
    mac, cert = lnd_files
    mac.chmod(mode)
    with pytest.raises(BadValue, match=f"chmod 600 {mac}"):
        check_init_args("lnd", "https://h:8080", str(mac), str(cert))


def test_init_refuses_a_symlinked_macaroon_and_a_bad_cert(lnd_files: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    mac, cert = lnd_files
    link = tmp_path / "link.macaroon"
    link.symlink_to(mac)
    with pytest.raises(BadValue, match="symlink"):
        check_init_args("lnd", "https://h:8080", str(link), str(cert))
    cert.write_text("not a cert")
    with pytest.raises(BadValue, match="not a PEM certificate"):
        check_init_args("lnd", "https://h:8080", str(mac), str(cert))


def test_template_round_trips(lnd_files: tuple[Path, Path]) -> None:
    mac, cert = lnd_files
    for s in (LightningSettings(), LightningSettings("devchain"),
              check_init_args("electrum", "http://u:p%22q@127.0.0.1:7777"),
              check_init_args("lnd", "https://127.0.0.1:8080", str(mac), str(cert))):
        text = template_section(s)
        assert parse_section(toml(text)) == s


def test_redact_url() -> None:
    assert redact_url("http://user:s3cret@127.0.0.1:7777/") == "http://user:***@127.0.0.1:7777/"
    assert redact_url("http://user@h:1") == "http://user@h:1"
    assert redact_url("https://h:8080/x?macaroon=abc") == "https://h:8080/x"
