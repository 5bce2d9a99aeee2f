"""config.toml is checked whole on load: every table and key against one schema."""

from __future__ import annotations

import os
import stat
import tomllib
from decimal import Decimal

import pytest

from cloudlease import config
from cloudlease.config import HOOK_EVENTS
from cloudlease.core.errors import LedgerError


def _edit(home, old: str, new: str) -> None:
    cfg = home / "config.toml"
    text = cfg.read_text()
    assert old in text, old
    cfg.write_text(text.replace(old, new, 1))


def _append(home, text: str) -> None:
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text() + "\n" + text + "\n")


BAD = [
    # (old, new) replacements in the template, or ("", appended text); key named; fragment
    ("confirmations = 1", "confirmationz = 1", "payment.confirmationz", "'confirmations'"),
    ("[payment]", "[paymnet]", "paymnet", "'payment'"),
    ("^", "ledger_url = \"x\"", "ledger_url", "'ledger'"),
    ("expiry_minutes = 15", "expiry_minutes = 1e20", "payment.expiry_minutes", "whole number"),
    ("expiry_minutes = 15", "expiry_minutes = 15.0", "payment.expiry_minutes", "integer"),
    ("expiry_minutes = 15", "expiry_minutes = 0", "payment.expiry_minutes", "from 1 to"),
    ("monitoring_hours = 24", "monitoring_hours = 1e14", "payment.monitoring_hours",
     "whole number"),
    ("monitoring_hours = 24", "monitoring_hours = 100000000000000",
     "payment.monitoring_hours", "from 1 to"),
    ("confirmations = 1", "confirmations = -1", "payment.confirmations", "from 0 to 100"),
    ("confirmations = 1", 'confirmations = "1"', "payment.confirmations", "whole number"),
    ("confirmations = 1", "confirmations = true", "payment.confirmations", "whole number"),
    ("zero_conf_max_sats = 0", "zero_conf_max_sats = -5", "payment.zero_conf_max_sats",
     "from 0"),
    ("gap_limit = 20", "gap_limit = 0", "wallet.gap_limit", "from 1"),
    ("source = \"fixed\"", "source = \"bogus\"", "rates.source", "fixed, live"),
    ("fixed = \"100000\"", "fixed = \"1,5\"", "rates.fixed", "more than 0"),
    ("fixed = \"100000\"", "fixed = -3", "rates.fixed", "more than 0"),
    ("kind = \"devchain\"", "kind = \"bogus\"", "backend.kind", "devchain, esplora"),
    ("network = \"regtest\"", "network = \"moonnet\"", "network", "mainnet"),
    ("network = \"regtest\"", "netwrok = \"regtest\"", "netwrok", "'network'"),
    ("rpc_wallet = \"cloudlease-watch\"\ntimeout_seconds = 10",
     "rpc_wallet = \"cloudlease-watch\"\ntimeout_seconds = nan", "backend.timeout_seconds",
     "seconds"),
    ("timeout_seconds = 5", "timeout_seconds = inf", "rates.timeout_seconds", "seconds"),
    ("timeout_seconds = 5", "timeout_seconds = -1", "rates.timeout_seconds", "seconds"),
    ("timeout_seconds = 5", "timeout_seconds = 0", "rates.timeout_seconds", "seconds"),
    ("[hooks]\n", "[hooks]\nlease_active = \" \"\n", "hooks.lease_active", "blank"),
    ("[hooks]\n", "[hooks]\nlease_active = 5\n", "hooks.lease_active", "command"),
    ("[hooks]\n", "[hooks]\nlease_active = \"x 'y\"\n", "hooks.lease_active", "split"),
    ("[hooks]\n", "[hooks]\nlease_exploded = \"true\"\n", "hooks.lease_exploded",
     "unknown key"),
    ("timezone = \"UTC\"", "timezone = \"Mars/Olympus\"", "operator.timezone", "time zone"),
    ("country = \"\"", "country = \"de\"", "operator.country", "upper case"),
    ("country = \"\"", "country = \"XX\"", "operator.country", "ISO 3166"),
    ("email = \"\"", "email = \"nope\"", "operator.email", "e-mail"),
    ("name = \"\"  ", "name = \"a\\u0007b\"  ", "operator.name", "control"),
    ("", "[tax.rates]\nDE = 101", "tax.rates.DE", "0 to 100"),
    ("", "[tax.rates]\nde = 19", "tax.rates.de", "upper case"),
    ("", "[tax.rates]\nDE = \"19,5\"", "tax.rates.DE", "percentage"),
    ("reverse_charge = true", "reverse_charge = \"yes\"", "tax.reverse_charge", "true or false"),
    ("url = \"\"\nid = ", "url = \"mysql://h/db\"\nid = ", "ledger.url", "postgresql://"),
    ("url = \"\"\nid = ", "url = \"postgresql://u:p@ss@h/db\"\nid = ", "ledger.url",
     "percent-encode"),
    # a regtest home on the devchain starts with the simulated Lightning node
    ("backend = \"devchain\"", "backend = \"eclair\"", "lightning.backend", "electrum, lnd"),
    ("backend = \"devchain\"", "backend = \"lnd\"", "lightning.url", "lnd"),
    ("driver = \"none\"", "driver = \"kubernetes\"", "provision.driver", "ssh-account"),
    ("driver = \"none\"", "driver = \"command\"", "provision.command", "empty"),
    ("driver = \"none\"", "driver = \"podman\"", "provision.image", "empty"),
    ("port_min = 22000", "port_min = 80", "provision.port_min", "from 1024 to 65535"),
    ("port_min = 22000", "port_min = 23000", "provision.port_min", "more than"),
    ("listen_address = \"127.0.0.1\"", "listen_address = \"a b\"", "provision.listen_address",
     "IP address"),
    ("", "[[webhooks]]\nurl = \"http://example.com/x\"\nsecret = \"0123456789abcdef\"",
     "webhooks[1].url", "https"),
    ("", "[[webhooks]]\nurl = \"https://example.com/x\"\nsecret = \"short\"",
     "webhooks[1].secret", "16 characters"),
    ("", "[[webhooks]]\nurl = \"https://example.com/x\"\nsecret = \"0123456789abcdef\"\n"
     "events = [\"lease_exploded\"]", "webhooks[1].events", "unknown event"),
    ("", "[[webhooks]]\nurl = \"https://example.com/x\"\nsecret = \"0123456789abcdef\"\n"
     "evnts = [\"lease_active\"]", "webhooks[1].evnts", "'events'"),
    ("", "[[webhooks]]\nsecret = \"0123456789abcdef\"", "webhooks[1].url", "required"),
    ("", "[webhooks]\nurl = \"https://example.com/x\"", "webhooks", "array of tables"),
    ("rpc_url = \"\"", "rpc_url = \"http://user:p@ss@127.0.0.1:8332\"", "backend.rpc_url",
     "percent-encode"),
    ("rpc_url = \"\"", "rpc_url = \"http://user:pa#ss@127.0.0.1:8332\"", "backend.rpc_url",
     "percent-encode"),
    ("\"http://127.0.0.1:3002\",", "\"ftp://x\",", "backend.esplora_urls", "http://"),
    ("esplora_urls = [\n    \"http://127.0.0.1:3002\",\n]", "esplora_urls = \"http://x\"",
     "backend.esplora_urls", "array"),
]


@pytest.mark.parametrize("old,new,key,fragment", BAD, ids=[b[2] + ":" + b[1][:20] for b in BAD])
def test_bad_config_is_exit_5_naming_file_and_key(cli, home, old, new, key, fragment):
    if old == "^":
        cfg = home / "config.toml"
        cfg.write_text(new + "\n" + cfg.read_text())
    elif old:
        _edit(home, old, new)
    else:
        _append(home, new)
    (home / "config.toml").chmod(0o600)
    err = cli.json("tenant", "list", code=5)
    assert f"config.toml:{key}:" in err["message"], err
    assert fragment in err["message"], err
    assert "\n" not in err["message"] and err["code"] == "config_invalid"
    human = cli("tick", code=5)
    lines = human.stderr.splitlines()  # one line, or a headline and a line per problem
    assert len(lines) == 1 + len(err.get("problems", ())) and "Traceback" not in human.stderr
    assert any(f"config.toml:{key}:" in line for line in lines)


def test_hooks_as_a_number_is_exit_5(cli, home):
    cfg = home / "config.toml"
    text = cfg.read_text().replace("[hooks]\ntimeout_seconds = 10\n", "")
    cfg.write_text("hooks = 5\n" + text)
    err = cli.json("tick", code=5)
    assert "config.toml:hooks: got 5; expected a table" in err["message"]


def test_a_typo_is_never_ignored_anywhere(cli, home):
    """Every table refuses a key it does not know (none is silently dropped)."""
    from cloudlease.config.schema import sections

    for table, _section in sections(config.Settings):
        text = (home / "config.toml").read_text()
        if f"[{table}]\n" not in text:
            continue
        _edit(home, f"[{table}]\n", f"[{table}]\nbogus_key = 1\n")
        err = cli.json("tenant", "list", code=5)
        assert f"config.toml:{table}.bogus_key:" in err["message"]
        (home / "config.toml").write_text(text)


def test_config_that_is_a_directory_or_a_link_is_refused(cli, home, tmp_path):
    cfg = home / "config.toml"
    real = tmp_path / "elsewhere.toml"
    real.write_text(cfg.read_text())
    cfg.unlink()
    cfg.symlink_to(real)
    err = cli.json("tenant", "list", code=5)
    assert "symbolic link" in err["message"]
    cfg.unlink()
    cfg.mkdir()
    err = cli.json("tenant", "list", code=5)
    assert "directory" in err["message"]
    cfg.rmdir()
    os.mkfifo(cfg)
    err = cli.json("tenant", "list", code=5)
    assert "regular file" in err["message"]


def test_not_toml_or_not_utf8_or_huge(cli, home):
    cfg = home / "config.toml"
    cfg.write_bytes(b"network = \xff\n")
    assert "UTF-8" in cli.json("tenant", "list", code=5)["message"]
    cfg.write_text("[payment\n")
    assert "not valid TOML" in cli.json("tenant", "list", code=5)["message"]
    cfg.write_text("# x\n" * 300_000)
    assert "larger than" in cli.json("tenant", "list", code=5)["message"]


CREDENTIALS = [
    ("rpc_url = \"\"", "rpc_url = \"http://user:s3cret@127.0.0.1:8332\"", "backend.rpc_url"),
    ("url = \"\"\nid = ", "url = \"postgresql://cl:s3cret@db.example/cl\"\nid = ",
     "ledger.url"),
    ("url = \"\"                    # electrum",
     "url = \"http://user:s3cret@127.0.0.1:7777\" # electrum", "lightning.url"),
    ("# [[webhooks]]", "[[webhooks]]\nurl = \"https://example.com/h\"\n"
     "secret = \"0123456789abcdef0123\"\n# ", "webhooks[1].secret"),
]


@pytest.mark.parametrize("old,new,key", CREDENTIALS, ids=[c[2] for c in CREDENTIALS])
def test_a_config_with_a_credential_must_be_private(cli, home, old, new, key):
    _edit(home, old, new)
    cfg = home / "config.toml"
    cfg.chmod(0o644)
    err = cli.json("tenant", "list", code=5)
    assert key in err["message"] and "chmod 600" in err["message"]
    assert "s3cret" not in err["message"] and "0123456789abcdef" not in err["message"]
    cfg.chmod(0o640)
    cli.json("tenant", "list", code=5)
    cfg.chmod(0o600)
    if key == "ledger.url":  # now the ledger is looked for there: unreachable, redacted
        err = cli.json("tenant", "list", code=5)
        assert "cannot reach the ledger" in err["message"] and "s3cret" not in err["message"]
    else:
        cli.json("tenant", "list")


def test_a_config_without_credentials_may_be_readable_but_never_writable(cli, home):
    cfg = home / "config.toml"
    cfg.chmod(0o644)
    cli.json("tenant", "list")
    cfg.chmod(0o664)
    err = cli.json("tenant", "list", code=5)
    assert "writable by others" in err["message"]


def test_write_new_is_private_and_refuses_a_link(tmp_path):
    path = tmp_path / "config.toml"
    config.write_new(path, "network = \"regtest\"\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    path.symlink_to(tmp_path / "x")
    with pytest.raises(LedgerError):
        config.write_new(path, "x")


def test_init_writes_the_config_private(cli):
    cli("init")
    assert stat.S_IMODE((cli.home / "config.toml").stat().st_mode) == 0o600


ZPUB = ("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868R"
        "vUUkgDKf31mGDtKsAYz2oz2AGutZYs")  # BIP84 account 0 of the "abandon ... about" seed
FULL = f"""
network = "mainnet"
currency = "eur"

[operator]
name = "Example Compute GmbH"
address = \"\"\"Beispielstr. 1
10115 Berlin\"\"\"
vat_id = "DE123456789"
country = "DE"
email = "billing@example.com"
payment_terms = "Due within 14 days."
timezone = "Europe/Berlin"

[payment]
expiry_minutes = 30
monitoring_hours = 48
confirmations = 2
zero_conf_max_sats = 5000

[rates]
source = "live"
fixed = ""
timeout_seconds = 2.5

[wallet]
kind = "descriptor"
descriptor = "{ZPUB}"
gap_limit = 50

[backend]
kind = "esplora"
esplora_urls = ["https://blockstream.info/api", "http://127.0.0.1:3002"]
rpc_url = ""
rpc_cookie_file = ""
rpc_wallet = "cloudlease-watch"
timeout_seconds = 10

[hooks]
timeout_seconds = 30
lease_active = "/usr/local/bin/up --fast"
provision_failed = "/usr/local/bin/page-me"
payment_refund_due = "/usr/local/bin/refund"

[tax]
reverse_charge = false

[tax.rates]
DE = 19
FR = "20"
CH = 8.1

[ledger]
url = "postgresql://cl:p%40ss@db.example:5432/cloudlease"

[lightning]
backend = "lnd"
url = "https://127.0.0.1:8080"
macaroon = "/etc/lnd/invoice.macaroon"
tls_cert = "/etc/lnd/tls.cert"
timeout_seconds = 5

[provision]
driver = "podman"
command = ""
listen_address = "::"
ssh_host = "vm.example.com"
port_min = 2200
port_max = 2299
image = "docker.io/library/debian:stable"
network = "tenants"
timeout_seconds = 300

[[webhooks]]
url = "https://hooks.example.com/cl"
secret = "0123456789abcdef0123456789abcdef"
events = ["lease_active", "lease_ended"]
timeout_seconds = 3

[[webhooks]]
url = "http://127.0.0.1:9000/local"
secret = "fedcba9876543210"
"""


def test_every_section_parses_into_settings():
    s = config.parse(tomllib.loads(FULL, parse_float=Decimal))
    assert s.currency == "EUR" and s.operator_address == "Beispielstr. 1\n10115 Berlin"
    assert (s.operator_vat_id, s.operator_country, s.operator_email) == \
        ("DE123456789", "DE", "billing@example.com")
    assert s.payment_terms == "Due within 14 days." and s.operator_timezone == "Europe/Berlin"
    assert (s.expiry_minutes, s.monitoring_hours, s.confirmations, s.zero_conf_max_sats) == \
        (30, 48, 2, 5000)
    assert s.rate_timeout == 2.5 and s.hook_timeout == 30.0 and s.backend_timeout == 10.0
    assert dict(s.hooks) == {"lease_active": "/usr/local/bin/up --fast",
                       "provision_failed": "/usr/local/bin/page-me",
                       "payment_refund_due": "/usr/local/bin/refund"}
    assert s.tax_rates == {"DE": Decimal(19), "FR": Decimal(20), "CH": Decimal("8.1")}
    assert all(type(v) is Decimal for v in s.tax_rates.values())
    assert s.tax_reverse_charge is False
    assert s.ledger_url.startswith("postgresql://") and s.lightning_backend == "lnd"
    assert s.lightning_timeout == Decimal(5) and s.lightning_macaroon.endswith(".macaroon")
    p = s.provision
    assert (p.driver, p.port_min, p.port_max, p.listen_address) == ("podman", 2200, 2299, "::")
    assert p.timeout_seconds == 300 and p.network == "tenants" and p.public_host == \
        "vm.example.com"
    assert len(s.webhooks) == 2 and s.webhooks[0].events == ("lease_active", "lease_ended")
    assert s.webhooks[1].events == HOOK_EVENTS and s.webhooks[1].timeout == Decimal(10)
    assert "0123456789abcdef" not in repr(s) and "p%40ss" not in repr(s)


def test_defaults_of_the_new_sections():
    s = config.parse({"network": "regtest"})
    assert (s.operator_vat_id, s.operator_country, s.payment_terms) == \
        ("", "", "Due on receipt.")
    assert s.tax_rates == {} and s.tax_reverse_charge is True
    assert s.ledger_url == "" and s.lightning_backend == "none"
    assert s.provision.driver == "none" and s.webhooks == ()


def test_ledger_url_from_the_environment(monkeypatch):
    s = config.parse({"network": "regtest"})
    assert s.effective_ledger_url == ""
    monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", "postgresql://u:p@db/x")
    assert s.effective_ledger_url == "postgresql://u:p@db/x"
    monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", "postgresql://u:p@s@db/x")
    with pytest.raises(LedgerError, match="CLOUDLEASE_LEDGER_URL"):
        s.effective_ledger_url  # noqa: B018


def test_the_template_names_every_hook_event_and_parses():
    text = config.render_template(network="regtest")
    for event in HOOK_EVENTS:
        assert event in text
    settings = config.parse(tomllib.loads(text, parse_float=Decimal))
    assert settings.network == "regtest"


# -- every problem at once (errors as values) ------------------------------------------------
SEVERAL = [
    ("confirmations = 1", "confirmations = 500", "payment.confirmations"),
    ("gap_limit = 20", "gap_limit = 0", "wallet.gap_limit"),
    ("timezone = \"UTC\"", "timezone = \"Mars/Olympus\"", "operator.timezone"),
    ("port_min = 22000", "port_mni = 22000", "provision.port_mni"),
    ("# [[webhooks]]", "[[webhooks]]\nurl = \"http://example.com/x\"\n# ", "webhooks[1].url"),
]


def test_every_problem_is_reported_at_once(cli, home):
    for old, new, _key in SEVERAL:
        _edit(home, old, new)
    keys = [key for _old, _new, key in SEVERAL] + ["webhooks[1].secret"]
    for argv in (("tenant", "list"), ("tick",), ("verify",), ("lease", "list")):
        err = cli.json(*argv, code=5)
        assert err["code"] == "config_invalid" and len(err["problems"]) == len(keys)
        assert err["message"].startswith(f"{home}/config.toml has {len(keys)} problems: ")
        for key, line in zip(sorted(keys), sorted(err["problems"]), strict=True):
            assert line.startswith(f"{home}/config.toml:{key}: "), line
        assert "\n" not in err["message"]
    human = cli("tick", code=5).stderr.splitlines()
    assert human[0] == f"error: {home}/config.toml has {len(keys)} problems"
    assert sorted(line.strip() for line in human[1:]) == sorted(err["problems"])


def test_validate_returns_the_settings_and_every_problem():
    raw = tomllib.loads(FULL, parse_float=Decimal)
    raw["payment"]["confirmations"] = 500
    raw["provision"]["port_min"] = 99999
    raw["lightning"]["backend"] = "eclair"
    raw["nope"] = 1
    settings, problems = config.validate(raw)
    assert sorted(p.key for p in problems) == ["lightning.backend", "nope",
                                               "payment.confirmations", "provision.port_min"]
    # each bad value is its default, each good one kept: a report can go on
    assert settings.payment.confirmations == 1 and settings.payment.expiry_minutes == 30
    assert settings.lightning.backend == "none" and settings.provision.driver == "podman"
    assert problems[0].line("/h/config.toml").startswith("/h/config.toml:")
    with pytest.raises(LedgerError) as info:
        config.parse(raw)
    assert len(info.value.problems) == 4 and info.value.exit_code == 5


def test_a_tables_rules_wait_for_its_keys():
    """A rule judging a default in place of a bad value would report a problem that is
    not there: a table's rules run only once its keys are sound."""
    _settings, problems = config.validate({"provision": {"port_min": "x", "port_max": 22000}})
    assert [p.key for p in problems] == ["provision.port_min"]
    _settings, problems = config.validate({"network": "moon", "wallet": {"descriptor": "x"},
                                           "lightning": {"backend": "devchain"}})
    assert [p.key for p in problems] == ["network"]  # the descriptor waits for the network


def test_nested_settings_and_the_flat_names_agree():
    s = config.parse(tomllib.loads(FULL, parse_float=Decimal))
    assert s.payment.confirmations == s.confirmations == 2
    assert s.backend.kind == "esplora" and s.backend.esplora_urls == s.esplora_urls
    assert s.lightning.url == s.lightning_url and s.ledger.url == s.ledger_url
    assert s.rates.timeout_seconds == Decimal("2.5") and s.rate_timeout == 2.5
    assert "lease_active" in s.hooks and s.hooks.timeout_seconds == 30
    with pytest.raises(AttributeError):
        s.payment.confirmations = 3  # type: ignore[misc]
    assert s.replace(currency="USD").currency == "USD" and s.currency == "EUR"


def test_every_key_is_in_the_template_or_documented():
    """init's config.toml shows every table and every key (those it leaves out are named
    in the comment that points at config/provision.py), with the schema's defaults."""
    from cloudlease.config.schema import keys

    text = config.render_template(network="regtest")
    raw = tomllib.loads(text, parse_float=Decimal)
    shown = set()
    for table, values in raw.items():
        if isinstance(values, dict):
            shown |= {f"{table}.{k}" for k in values}
        else:
            shown.add(table)
    hidden = {"provision." + k for k in ("uid_min", "uid_max", "shell", "tenant_group",
                                         "cgroup", "cgroup_parent", "private_tmp",
                                         "hide_processes", "runtime",
                                         "container_ssh_port", "container_user",
                                         "authorized_keys_path", "ulimit_nofile",
                                         "ulimit_nproc", "check_capacity")}
    commented = {"hooks.commands", "tax.rates", "webhooks.url", "webhooks.secret",
                 "webhooks.events", "webhooks.timeout_seconds"}
    for key, _spec in keys(config.Settings):
        if key.startswith("provision.lxd."):
            assert "[provision.lxd]" in text  # named, with where its keys are described
            continue
        assert key in shown | hidden | commented, key
        if key in hidden:
            assert f" {key.split('.')[1]}" in text  # named in the comment
    defaults = config.parse({})
    template = config.parse(raw)
    assert template.provision == defaults.provision and template.payment == defaults.payment
