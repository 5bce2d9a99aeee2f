"""Hypothesis throws hostile text at every option that takes a typed value: other scripts'
digits, separators, exponents, NaN and infinity, huge numbers, control characters, dates
far out. Whatever comes in: no exit 1, no traceback, an exit code of docs/design.md, and when
the command refuses, not one byte of the home changes (every file compared)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import home_files, run_cli

ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
POOL = ["--cost-per-hour", "100 sat", "--consideration", "fixed_return",
        "--investor-pct", "10", "--return-multiple", "1.5"]

# option → the command line with the fuzzed value in place of {}
TARGETS: dict[str, list[str]] = {
    "rent --hours": ["rent", "--hours", "{}"],
    "rent --rate": ["rent", "--hours", "2", "--plan", "gpu", "--rate", "{}"],
    "rent --invest": ["rent", "--hours", "1", "--plan", "standard", "--tenant", "alice",
                      "--invest", "{}"],
    "lease extend --hours": ["lease", "extend", "L-1", "--hours", "{}"],
    "plan add --price-per-hour": ["plan", "add", "fz", "--price-per-hour", "{}"],
    "pool add --slots": ["pool", "add", "fz", "--slots", "{}", *POOL],
    "pool add --investor-pct": ["pool", "add", "fz", "--slots", "2", "--cost-per-hour",
                                "100 sat", "--consideration", "ownership",
                                "--investor-pct", "{}"],
    "pool add --cost-per-hour": ["pool", "add", "fz", "--slots", "2", "--cost-per-hour", "{}",
                                 "--consideration", "ownership", "--investor-pct", "5"],
    "pool add --return-multiple": ["pool", "add", "fz", "--slots", "2", "--cost-per-hour",
                                   "100 sat", "--consideration", "fixed_return",
                                   "--investor-pct", "10", "--return-multiple", "{}"],
    "pool add --startup-weight": ["pool", "add", "fz", "--slots", "2", *POOL,
                                  "--startup-weight", "{}"],
    "pool add --period-months": ["pool", "add", "fz", "--slots", "2", "--cost-per-hour",
                                 "100 sat", "--consideration", "revenue_share",
                                 "--investor-pct", "10", "--period-months", "{}"],
    "pool add --min-runway-hours": ["pool", "add", "fz", "--slots", "2", *POOL,
                                    "--min-runway-hours", "{}"],
    "pool add --target-runway-hours": ["pool", "add", "fz", "--slots", "2", *POOL,
                                       "--target-runway-hours", "{}"],
    "pool fund --amount": ["pool", "fund", "p", "--tenant", "alice", "--amount", "{}"],
    "watch --interval": ["watch", "--count", "1", "--interval", "{}"],
    "--lock-timeout": ["--lock-timeout", "{}", "tenant", "list"],
    "tick --lock-timeout": ["tick", "--lock-timeout", "{}"],
    "invoice create --period": ["invoice", "create", "--anonymous", "--period", "{}"],
    "payout --period": ["payout", "--pool", "p", "--period", "{}"],
    "risk --as-of": ["risk", "--as-of", "{}"],
    "devchain pay --sats": ["devchain", "pay", ADDR, "--sats", "{}"],
    "devchain mine": ["devchain", "mine", "{}"],
    "wallet sweep --fee-rate": ["wallet", "sweep", "--to", ADDR, "--fee-rate", "{}",
                                "--dry-run"],
}

DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩۰۱۲０１２३४५๑๒၁၂²³¹½⅕"
SEPARATORS = ",._' \u00a0\u202f\u2009\u066b\u066c"
CONTROL = "\x00\x07\x08\t\n\r\x1b\x7f\u200b\u200e\u2028\ufeff"
TOKENS = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e3", "1E-3", "1e400",
          "-1", "+1", "0", "00", "0.", ".0", "-0", "0x10", "1_000", "1,5", "1.5.5", "٣",
          "9" * 30, "9" * 400, "1" + "0" * 20, "0.000000001", "99999999999999999999 BTC",
          "0,5 BTC", "1,5 USD", "1_000 sat", "5 sat", "0.001 BTC", "1 usd", "2 EUR",
          "9999-12", "0000-01", "2026-13", "2026-02", "2009-01", "9999-12-31T23:59:59Z",
          "2026-01-01", "--json", "-h", "", " ", "\x00", "１２", "१२", "1\u00a0000"]


def values() -> st.SearchStrategy[str]:
    number = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 10**30), st.integers(0, 10**9))
    mixed = st.text(alphabet=DIGITS + SEPARATORS + CONTROL + "eE+-xnaifUSDBTCsat ",
                    max_size=16)
    joined = st.lists(st.sampled_from(TOKENS + list(DIGITS + SEPARATORS + CONTROL)),
                      min_size=1, max_size=4).map("".join)
    return st.one_of(st.sampled_from(TOKENS), number, st.integers(-10**40, 10**40).map(str),
                     mixed, joined, st.text(max_size=12))


@pytest.fixture
def fuzz_home(cli, home):
    cli("tenant", "add", "alice")
    cli("plan", "add", "gpu", "--price-per-hour", "0.40 USD")
    cli("pool", "add", "p", "--slots", "2", *POOL)
    cli("rent", "--hours", "1", "--plan", "standard")
    return home


@pytest.mark.parametrize("target", list(TARGETS))
def test_typed_options_never_crash(cli, fuzz_home, target):
    template = TARGETS[target]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(value=values(), as_json=st.booleans())
    def check(value: str, as_json: bool) -> None:
        args = [value if part == "{}" else part for part in template]
        if as_json:
            args.append("--json")
        before = home_files(fuzz_home)
        result = cli(*args, code=None)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, (args, output)
        assert result.exit_code in (0, 2, 3, 4, 5, 6), (args, result.exit_code, output)
        if result.exit_code != 0:
            assert home_files(fuzz_home) == before, (args, output)
            if as_json and value != "--json":
                error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
                assert error["exit_code"] == result.exit_code
            elif not as_json:
                assert result.stderr.startswith("error: ") or result.exit_code == 2, output
                assert "╭" not in result.stderr, output

    check()


@pytest.mark.parametrize("value", ["nan", "١٢", "1_0", "9" * 400])
def test_hostile_values_in_a_real_process(fuzz_home, value):
    for template in (TARGETS["rent --hours"], TARGETS["watch --interval"],
                     TARGETS["pool add --slots"], TARGETS["--lock-timeout"]):
        args = [value if part == "{}" else part for part in template]
        before = home_files(fuzz_home)
        proc = run_cli(*args, "--json")
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert json.loads(proc.stderr)["error"]["exit_code"] == 2
        assert home_files(fuzz_home) == before
