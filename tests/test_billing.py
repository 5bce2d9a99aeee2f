"""Invoices a customer's accountant accepts: billing details, the seller frozen at issue,
VAT (standard, reverse charge, none: and why), customer words only, contribution
statements, honest fiat totals, VAT in the books, and the page in headless Chromium at
A4 and US Letter (PDF and screenshot: one page, nothing cut off)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.test_invoices import (
    CHROMIUM_FLAGS,
    at,
    invoice_commands,
    need_tool,
    one_line_error,
    rent,
    rich_history,
    set_operator,
)

__all__ = ["invoice_commands"]  # the module fixture that registers the commands

RATES = '\n[tax.rates]\nDE = 19\nFR = "20"\n'


def set_rates(home, text: str = RATES) -> None:
    path = home / "config.toml"
    path.write_text(path.read_text().replace("# [tax.rates]", text, 1))


def set_zone(home, name: str) -> None:
    path = home / "config.toml"
    path.write_text(re.sub(r'(?m)^timezone = "[^"]*"', f'timezone = "{name}"',
                           path.read_text(), count=1))


@pytest.fixture
def shop(cli, monkeypatch):
    """A German operator in Berlin time with VAT rates; bob (a German consumer) rents
    8 times in March at 1.25 USD/h; acme (a French business) twice, at night; the month
    is over."""
    at(monkeypatch, "2026-03-01T08:00:00Z")
    cli("init")
    set_operator(cli.home, "Rack & Stack GmbH", "Torstraße 1\n10119 Berlin",
                 vat_id="DE 123 456 789", country="DE")
    set_rates(cli.home)
    set_zone(cli.home, "Europe/Berlin")
    cli("plan", "add", "gpu", "--price-per-hour", "1.25 USD")
    cli("tenant", "add", "bob", "--country", "de")
    cli("tenant", "add", "acme", "--billing-name", "ACME Software SARL", "--address",
        "12 rue de la Paix", "--address", "75002 Paris", "--vat-id", "FR 12 345678901",
        "--email", "billing@acme.example")
    for day in range(2, 10):
        rent(cli, monkeypatch, f"2026-03-{day:02d}T10:00:00Z", "--hours", str(day % 3 + 1),
             "--tenant", "bob", "--plan", "gpu")
    rent(cli, monkeypatch, "2026-03-29T00:30:00Z", "--hours", "3", "--tenant", "acme",
         "--plan", "gpu")  # across the switch to summer time
    rent(cli, monkeypatch, "2026-03-30T21:30:00Z", "--hours", "3", "--tenant", "acme",
         "--plan", "gpu")  # across local midnight
    at(monkeypatch, "2026-04-02T09:00:00Z")
    return cli


def issue(cli, tenant: str, *extra: str) -> dict:
    draft = cli.json("invoice", "create", "--tenant", tenant, "--period", "2026-03", *extra)
    return cli.json("invoice", "issue", draft["id"])


# -- tenants' billing details ------------------------------------------------------------
def test_tenant_billing_details(cli, home):
    t = cli.json("tenant", "add", "acme", "--billing-name", "ACME SARL", "--address",
                 "12 rue de la Paix\n75002 Paris", "--vat-id", "fr12345678901")
    assert (t["billing_name"], t["address"], t["country"], t["vat_id"]) == (
        "ACME SARL", ["12 rue de la Paix", "75002 Paris"], "FR", "FR12345678901")
    edited = cli.json("tenant", "edit", "acme", "--address", "1 quai d'Orsay",
                      "--address", "75007 Paris", "--email", "a@acme.example")
    assert edited["address"] == ["1 quai d'Orsay", "75007 Paris"]
    assert edited["changed"] == ["address", "email"] and edited["vat_id"] == "FR12345678901"
    cleared = cli.json("tenant", "edit", "acme", "--vat-id", "", "--billing-name", "")
    assert cleared["vat_id"] is None and cleared["billing_name"] is None
    assert cleared["country"] == "FR"
    res = cli("tenant", "edit", "acme", "--country", "FR")
    assert "nothing changed" in res.stderr
    shown = cli.json("tenant", "show", "acme")["tenant"]
    assert shown["address"] == ["1 quai d'Orsay", "75007 Paris"]
    assert "bills to: 1 quai d'Orsay, 75007 Paris, FR" in cli("tenant", "show", "acme").stdout


@pytest.mark.parametrize(("args", "code", "words"), [
    (("tenant", "add", "x", "--country", "XX"), 2, "ISO 3166"),
    (("tenant", "add", "x", "--country", "Germany"), 2, "ISO 3166"),
    (("tenant", "add", "x", "--vat-id", "DE12345"), 2, "shape of a DE VAT id"),
    (("tenant", "add", "x", "--vat-id", "DE123456789", "--country", "FR"), 2,
     "belongs to DE, not FR"),
    (("tenant", "add", "x", "--vat-id", "12-3456789"), 2, "give --country"),
    (("tenant", "add", "x", "--address", "a\x07b"), 2, "control characters"),
    (("tenant", "edit", "nobody", "--country", "DE"), 3, "no tenant named"),
    (("tenant", "edit", "acme", "--country", "DE"), 2, "VAT id FR12345678901 is for FR"),
    (("tenant", "edit", "acme", "--country", ""), 2, "VAT id FR12345678901 is for FR"),
    (("tenant", "edit", "acme", "--vat-id", "DE123456789"), 2, "belongs to DE, not FR"),
])
def test_bad_billing_details(cli, home, args, code, words):
    cli("tenant", "add", "acme", "--vat-id", "FR12345678901")
    before = cli.ledger_snapshot()
    assert words in one_line_error(cli(*args, code=code))
    assert words in cli.json(*args, code=code)["message"]
    assert cli.ledger_snapshot() == before


# -- issue: the seller's details, frozen ---------------------------------------------------
def test_issue_refuses_without_the_sellers_details(cli, home, monkeypatch):
    cli("tenant", "add", "bob")
    rent(cli, monkeypatch, "2026-03-02T10:00:00Z", "--hours", "1", "--tenant", "bob")
    at(monkeypatch, "2026-04-02T09:00:00Z")
    draft = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "issue", draft["id"], code=4)
    assert "[operator] name, [operator] address" in err["message"]
    assert str(home / "config.toml") in err["message"]
    assert "operator name not set" not in cli("invoice", "show", draft["id"], "--format",
                                             "html").stdout
    set_operator(home, "Rack & Stack", "")
    assert "needs [operator] address;" in cli.json("invoice", "issue", draft["id"],
                                                   code=4)["message"]
    set_rates(home)  # VAT rates: the document now needs the seller's country and VAT id
    set_operator(home, "Rack & Stack", "1 Main St")
    err = cli.json("invoice", "issue", draft["id"], code=4)
    assert "[operator] country, [operator] vat_id" in err["message"]
    assert cli.ledger_snapshot() == before
    set_operator(home, "Rack & Stack", "1 Main St", country="DE", vat_id="DE123456789")
    assert cli.json("invoice", "issue", draft["id"])["number"] == "INV-2026-0001"


def test_a_month_not_over_needs_force(cli, home, monkeypatch):
    set_operator(home, "Rack & Stack", "1 Main St")
    cli("tenant", "add", "bob")
    rent(cli, monkeypatch, "2026-03-02T10:00:00Z", "--hours", "1", "--tenant", "bob")
    at(monkeypatch, "2026-03-31T21:00:00Z")
    draft = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "issue", draft["id"], code=4)
    assert "not over until 1 Apr 2026, 00:00 UTC" in err["message"]
    assert "--force" in err["message"] and cli.ledger_snapshot() == before
    assert cli.json("invoice", "issue", draft["id"], "--force")["status"] == "issued"


def test_issued_documents_keep_what_was_frozen(shop):
    cli = shop
    inv = issue(cli, "acme")
    assert inv["seller"] == {
        "name": "Rack & Stack GmbH", "address_lines": ["Torstraße 1", "10119 Berlin"],
        "vat_id": "DE123456789", "country": "DE", "payment_terms": "Due on receipt.",
        "timezone": "Europe/Berlin"}
    assert inv["buyer"] == {"name": "ACME Software SARL", "address_lines": [
        "12 rue de la Paix", "75002 Paris"], "country": "FR", "vat_id": "FR12345678901",
        "email": "billing@acme.example"}
    html = cli("invoice", "show", inv["number"], "--format", "html").stdout
    set_operator(cli.home, "Someone Else Ltd", "Elsewhere 9", vat_id="DE999999999")
    set_zone(cli.home, "America/New_York")
    cli("tenant", "edit", "acme", "--billing-name", "ACME Renamed", "--vat-id", "")
    again = cli("invoice", "show", inv["number"], "--format", "html").stdout
    assert again == html  # seller, buyer, VAT and time zone as issued
    assert "Someone Else" not in again and "ACME Renamed" not in again
    assert cli.json("invoice", "show", inv["number"])["seller"] == inv["seller"]
    cli("verify")
    # a draft shows what issuing it now would freeze
    draft = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")
    md = cli("invoice", "show", draft["id"], "--format", "md").stdout
    assert "Someone Else Ltd" in md and "times in America/New_York" in md
    assert " EST" in md or " EDT" in md


# -- VAT on documents ---------------------------------------------------------------------
def test_standard_vat_lines_and_totals(shop):
    cli = shop
    inv = issue(cli, "bob")
    lines = inv["lines"]
    assert len(lines) == 8 and inv["tax"]["kind"] == "standard" and inv["tax"]["rate"] == "19"
    gross = sum(x["sats"] for x in lines)
    t = inv["totals"]["tax"]
    assert t["gross_sats"] == gross == inv["total_sats"]
    assert t["tax_sats"] == round(gross * 19 / 119) and t["net_sats"] == gross - t["tax_sats"]
    assert sum(x["tax_sats"] for x in lines) == t["tax_sats"]
    for x in lines:
        assert x["net_sats"] + x["tax_sats"] == x["sats"]
        assert f'{float(x["net_fiat"]) + float(x["tax_fiat"]):.2f}' == x["fiat"]
    assert t["currency"] == "USD" and inv["totals"]["fiat"] == {"USD": t["gross_fiat"]}
    md = cli("invoice", "show", inv["number"], "--format", "md").stdout
    assert f"**VAT 19 %:** {t['tax_sats']:,} sat ({t['tax_fiat']} USD)" in md
    assert "Prices include VAT at 19 % (DE)." in md
    assert "VAT is computed once on the total" in md
    assert "**Bill to:** bob" in md and "VAT id DE123456789" in md


def test_reverse_charge_for_a_business_abroad(shop):
    cli = shop
    inv = issue(cli, "acme")
    assert inv["tax"]["kind"] == "reverse_charge" and "tax_sats" not in inv["lines"][0]
    md = cli("invoice", "show", inv["number"], "--format", "md").stdout
    assert "Reverse charge: VAT to be accounted for by the recipient (Article 196" in md
    assert "**VAT:** 0 sat (reverse charge)" in md
    assert "VAT id FR12345678901" in md and "VAT id DE123456789" in md
    # times in Berlin, as a person writes them, the zone named at both ends when it changes
    # (the day is in the date column; it is repeated only for the day after)
    assert "| 29 Mar 2026 | Rental: 3 hours of gpu<br>01:35 CET – 05:35 CEST" in md
    assert "| 30 Mar 2026 | Rental: 3 hours of gpu<br>23:35 – 31 Mar 2026, 02:35 CEST" in md


def test_no_rate_no_tax_line_and_why(shop, monkeypatch):
    cli = shop
    cli("tenant", "add", "sam", "--country", "US")
    rent(cli, monkeypatch, "2026-03-12T10:00:00Z", "--hours", "1", "--tenant", "sam",
         "--plan", "gpu")
    at(monkeypatch, "2026-04-02T09:00:00Z")
    inv = issue(cli, "sam")
    assert inv["tax"] == {"kind": "none", "country": "US",
                          "note": "No VAT charged: no VAT rate applies to customers in US."}
    assert inv["totals"]["tax"] is None
    md = cli("invoice", "show", inv["number"], "--format", "md").stdout
    assert "No VAT charged: no VAT rate applies to customers in US." in md
    assert "| net | VAT |" not in md
    path = cli.home / "config.toml"
    path.write_text(path.read_text().replace(RATES, "\n"))
    bob = issue(cli, "bob")
    assert bob["tax"]["note"] == "No VAT charged: the seller charges no VAT."
    assert "tax_sats" not in bob["lines"][0]


# -- customer words, payments named, honest fiat ------------------------------------------
INTERNAL = re.compile(r"\b(reorged|late|accepted|overpaid|partial|record|lease|D-\d+|P-\d+|"
                      r"L-\d+|C-\d+|T-\d+)\b|not set|\(operator", re.IGNORECASE)


def test_documents_carry_no_internal_words(cli, monkeypatch):
    history = rich_history(cli, monkeypatch)
    cli("devchain", "reorg")  # nothing settled recently is affected; flags stay internal
    bob = issue(cli, "bob")   # bob's rental was paid late and accepted
    assert {"late", "accepted"} <= set(bob["lines"][0]["flags"])  # the operator's JSON
    alice = issue(cli, "alice")
    stm = issue(cli, "alice", "--contributions")
    for number in (bob["number"], alice["number"], stm["number"]):
        for fmt in ("md", "html"):
            text = cli("invoice", "show", number, "--format", fmt).stdout
            visible = re.sub(r"<[^>]+>", " ", text) if fmt == "html" else text
            visible = re.sub(r"(?s)<style>.*?</style>", " ", visible)
            found = INTERNAL.search(visible.replace("Rack & Stack", ""))
            assert found is None, (number, fmt, found and found.group(0))
        doc = cli.json("invoice", "show", number)
        for line in doc["lines"]:
            for ref in line.get("paid_by", []):
                assert ref["ref"] in cli("invoice", "show", number, "--format", "md").stdout
    assert history["bob_late"] not in cli("invoice", "show", bob["number"], "--format",
                                          "md").stdout


def test_contribution_statement_is_its_own_series_and_never_in_an_invoice(cli, monkeypatch):
    rich_history(cli, monkeypatch)
    stm = issue(cli, "alice", "--contributions")
    inv = issue(cli, "alice")
    assert stm["number"] == "CST-2026-0001" and inv["number"] == "INV-2026-0001"
    assert {x["kind"] for x in stm["lines"]} == {"investment", "payout"}
    assert {x["kind"] for x in inv["lines"]} == {"lease", "extension"}
    assert stm["tax"] == {} and not stm["totals"]["fiat_complete"]
    md = cli("invoice", "show", stm["number"], "--format", "md").stdout
    assert "# Contribution statement CST-2026-0001" in md
    assert "No total in fiat: 1 line had a price in bitcoin" in md
    assert "**Total:** " in md and " USD)  \n" not in md.split("**Total:**")[1].split("\n")[0]
    assert "Contributions to a pool are not sales and carry no VAT." in md
    void = cli.json("invoice", "void", stm["number"], "--reason", "typo", "--yes")
    assert void["credit_note"]["number"] == "CST-2026-0001-CN"
    assert cli.json("invoice", "create", "--anonymous", "--period", "2026-03",
                    "--contributions", code=2)


def test_a_fiat_total_never_leaves_lines_out(shop, monkeypatch):
    cli = shop
    rent(cli, monkeypatch, "2026-03-20T10:00:00Z", "--hours", "1", "--tenant", "bob",
         "--plan", "standard")  # priced in sats: no rate locked
    at(monkeypatch, "2026-04-02T09:00:00Z")
    inv = issue(cli, "bob")
    t = inv["totals"]
    assert t["lines_without_fiat"] == 1 and not t["fiat_complete"]
    assert "tax_fiat" not in t["tax"]  # no fiat VAT either: it would leave a line out
    md = cli("invoice", "show", inv["number"], "--format", "md").stdout
    total = md.split("**Total:**")[1].split("\n")[0]
    assert "USD" not in total
    assert "No total in fiat: 1 line had a price in bitcoin with no exchange rate locked" in md
    table = " ".join(cli("invoice", "show", inv["number"]).stdout.split())
    assert "(no fiat total: 1 line(s) without a locked rate)" in table


# -- VAT in the books ----------------------------------------------------------------------
def test_vat_moves_to_a_liability_and_credit_notes_reverse_it(shop, tmp_path):
    cli = shop
    inv = issue(cli, "bob")
    vat = inv["totals"]["tax"]["tax_sats"]
    doc = json.loads(cli("export", "--format", "json").stdout)
    (entry,) = [e for e in doc["entries"] if e["kind"] == "vat"]
    assert entry["date"] == "2026-03-31" and entry["id"] == inv["number"]
    assert {p["account"]: p["sats"] for p in entry["postings"]} == {
        "income:leases": vat, "liabilities:vat": -vat}
    assert entry["meta"]["vat_fiat"] == f"{inv['totals']['tax']['tax_fiat']} USD"
    march = json.loads(cli("export", "--format", "json", "--period", "2026-03").stdout)
    assert inv["number"] in [e["id"] for e in march["entries"]]
    cli("invoice", "void", inv["number"], "--reason", "wrong address", "--yes")
    doc = json.loads(cli("export", "--format", "json").stdout)
    vats = [e for e in doc["entries"] if e["kind"] == "vat"]
    assert [e["id"] for e in vats] == [inv["number"], f"{inv['number']}-CN"]
    assert vats[1]["date"] == "2026-04-02"
    assert sum(p["sats"] for e in vats for p in e["postings"]
               if p["account"] == "liabilities:vat") == 0
    april = json.loads(cli("export", "--format", "json", "--period", "2026-04").stdout)
    assert [e["id"] for e in april["entries"] if e["kind"] == "vat"] == [
        f"{inv['number']}-CN"]
    hledger = need_tool("hledger", "hledger")
    path = tmp_path / "books.journal"
    cli("export", "--format", "hledger", "-o", str(path))
    subprocess.run([hledger, "-f", str(path), "check", "--strict", "ordereddates"],
                   check=True, timeout=120)


# -- the page: headless Chromium at A4 and US Letter ---------------------------------------
PROBE = """<script>
addEventListener("load", () => {
  const width = document.documentElement.clientWidth, bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 0.5) bad.push(el.tagName + "." + el.className);
  }
  if (document.documentElement.scrollWidth > width) bad.push("page:" +
    document.documentElement.scrollWidth);
  document.body.setAttribute("data-overflow", bad.join(" ") || "none");
});
</script>"""
# printable width at 14 mm/15 mm margins, in CSS px (96 per inch)
PAPER = {"A4": (180 / 25.4 * 96, (595, 842)), "letter": ((215.9 - 30) / 25.4 * 96, (612, 792))}


def chromium_check(chromium: str, html: str, name: str, tmp_path) -> None:
    """Print ``html`` to PDF on each paper size (one page, that paper), screenshot it, and
    lay it out at the printable width: no element may stick out (nothing cut off)."""
    for size, (width, mediabox) in PAPER.items():
        page = tmp_path / f"{name}-{size}.html"
        page.write_text(html.replace("</style>", f"@page {{ size: {size}; }}</style>", 1))
        pdf, png = tmp_path / f"{name}-{size}.pdf", tmp_path / f"{name}-{size}.png"
        for i, flag in enumerate((f"--print-to-pdf={pdf}", f"--screenshot={png}")):
            profile = tmp_path / f"profile-{name}-{size}-{i}"
            profile.mkdir()
            proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                   "--no-pdf-header-footer", flag,
                                   f"--window-size={int(width)},1200", page.as_uri()],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF-") and png.read_bytes().startswith(b"\x89PNG")
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
        assert pages == 1, f"{name} on {size}: {pages} pages"
        box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        assert box and (round(float(box[1])), round(float(box[2]))) == mediabox
        probe = tmp_path / f"{name}-{size}-probe.html"
        probe.write_text(html.replace("</body>", PROBE + "</body>", 1))
        profile = tmp_path / f"profile-{name}-{size}-probe"
        profile.mkdir()
        proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--dump-dom", f"--window-size={int(width)},1200",
                               "--virtual-time-budget=2000", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert 'data-overflow="none"' in proc.stdout, \
            re.search(r'data-overflow="[^"]*"', proc.stdout)


def test_invoice_pages_in_headless_chromium(shop, tmp_path):
    chromium = need_tool("chromium", "chromium")
    cli = shop
    bob = issue(cli, "bob")       # eight lines with VAT: a normal month
    acme = issue(cli, "acme")     # reverse charge, a long billing name and address
    void = cli.json("invoice", "void", acme["number"], "--reason", "wrong VAT id", "--yes")
    for number in (bob["number"], acme["number"], void["credit_note"]["number"]):
        html = cli("invoice", "show", number, "--format", "html").stdout
        chromium_check(chromium, html, number, tmp_path)


@pytest.mark.parametrize(("edit", "words"), [
    (('country = ""', 'country = "Germany"'),
     "operator.country: got 'Germany'; expected an ISO 3166"),
    (("# [tax.rates]", '[tax.rates]\nDE = 119'), "tax.rates.DE: got 119; expected a percent"),
    (("# [tax.rates]", '[tax.rates]\nXX = 19'), "tax.rates.XX: got 'XX'; expected an ISO"),
    (("reverse_charge = true", 'reverse_charge = "yes"'), "tax.reverse_charge: got 'yes'"),
])
def test_bad_invoicing_config_is_refused(cli, home, edit, words):
    path = home / "config.toml"
    path.write_text(path.read_text().replace(*edit, 1))
    err = cli.json("invoice", "list", code=5)
    assert words in err["message"] and err["code"] == "config_invalid"


def test_an_implausible_seller_vat_id_is_not_issued(cli, home, monkeypatch):
    set_operator(home, "Rack & Stack", "1 Main St", vat_id="DE12", country="DE")
    cli("tenant", "add", "bob")
    rent(cli, monkeypatch, "2026-03-02T10:00:00Z", "--hours", "1", "--tenant", "bob")
    at(monkeypatch, "2026-04-02T09:00:00Z")
    draft = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "issue", draft["id"], code=4)
    assert "[operator] vat_id" in err["message"] and "shape of a DE VAT id" in err["message"]
    assert cli.ledger_snapshot() == before
