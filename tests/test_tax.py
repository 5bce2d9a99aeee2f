"""VAT (pure): country codes, VAT id shapes, the treatment per invoice, and the rounding
(VAT once on the total, split over the lines so every split adds up, in sats and fiat)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import invoices, tax
from cloudlease.core.errors import BadValue


@pytest.mark.parametrize(("text", "country", "expected"), [
    ("DE 123 456 789", None, "DE123456789"),
    ("de123456789", "DE", "DE123456789"),
    ("ATU12345678", "AT", "ATU12345678"),
    ("FR 12 345678901", "FR", "FR12345678901"),
    ("NL123456789B01", None, "NL123456789B01"),
    ("EL123456789", "GR", "EL123456789"),
    ("XI123456789", "GB", "XI123456789"),
    ("CHE-123.456.789 MWST", "CH", "CHE123456789MWST"),
    ("12-3456789", "US", "123456789"),
    ("51 824 753 556", "AU", "51824753556"),
])
def test_vat_ids_of_plausible_shape(text, country, expected):
    assert tax.normalize_vat_id(text, country) == expected


@pytest.mark.parametrize(("text", "country", "words"), [
    ("DE12345678", None, "shape of a DE VAT id"),        # one digit short
    ("ATX12345678", None, "shape of a AT VAT id"),
    ("DE123456789", "FR", "belongs to DE, not FR"),
    ("123456789", "DE", "a DE VAT id starts with DE"),
    ("123456789", "GR", "starts with EL"),
    ("ABC", "US", "does not look like"),
    ("ABCDEFGH1", "US", "does not look like"),            # too few digits
    ("", None, "must not be empty"),
    ("   ", None, "must not be empty"),
])
def test_implausible_vat_ids_are_refused(text, country, words):
    with pytest.raises(BadValue, match=words):
        tax.normalize_vat_id(text, country)


def test_country_codes():
    assert tax.country("de") == "DE" and tax.country(" FR ") == "FR"
    assert len(tax.COUNTRIES) == 249 and tax.EU < tax.COUNTRIES
    for bad in ("XX", "DEU", "", "D"):
        with pytest.raises(BadValue, match="ISO 3166"):
            tax.country(bad)
    assert tax.vat_country("EL123456789") == "GR" and tax.vat_country("123") is None


RATES = {"DE": Decimal(19), "FR": Decimal(20), "AT": Decimal("20")}


@pytest.mark.parametrize(("buyer", "vat_id", "kind", "rate", "words"), [
    ("DE", None, "standard", "19", "include VAT at 19 % (DE)"),
    ("FR", None, "standard", "20", "(FR)"),           # a consumer: their country's rate
    (None, None, "standard", "19", "(DE)"),           # unknown: the operator's country
    ("FR", "FR12345678901", "reverse_charge", None, "Article 196"),
    ("US", "123456789", "reverse_charge", None, "accounts for any VAT due in US"),
    ("DE", "DE123456789", "standard", "19", "(DE)"),  # a business at home pays VAT
    ("US", None, "none", None, "no VAT rate applies to customers in US"),
])
def test_treatment(buyer, vat_id, kind, rate, words):
    t = tax.decide(seller_country="DE", buyer_country=buyer, buyer_vat_id=vat_id,
                   rates=RATES)
    assert t.kind == kind and words in t.note
    assert t.to_dict().get("rate") == rate


def test_treatment_without_rates_or_reverse_charge():
    none = tax.decide(seller_country="DE", buyer_country="DE", buyer_vat_id=None, rates={})
    assert none.kind == "none" and none.note == "No VAT charged: the seller charges no VAT."
    off = tax.decide(seller_country="DE", buyer_country="FR", buyer_vat_id="FR12345678901",
                     rates=RATES, reverse_charge=False)
    assert off.kind == "standard" and off.rate == 20
    assert tax.from_dict(off.to_dict()) == off and tax.from_dict({}) is None


def _lines(amounts, fiat=True, kind="lease"):
    out = []
    for i, sats in enumerate(amounts):
        line = {"kind": kind, "ref": f"P-{i}", "sats": sats}
        if fiat:
            line.update(fiat=format((Decimal(sats) / 1000).quantize(Decimal("0.01")), "f"),
                        currency="USD")  # fiat on lines is rounded to the cent
        out.append(line)
    return out


def test_vat_is_computed_on_the_total_and_split_over_the_lines():
    # 3 × 1,001 sat at 19 %: per line 159.82 → 160 each (480 in all), but on the total,
    # 3,003 × 19/119 = 479.47 → 479; the split gives 160, 160, 159.
    lines = tax.apply(_lines([1001, 1001, 1001]), tax.Treatment("standard", "", Decimal(19)))
    assert [x["tax_sats"] for x in lines] == [160, 160, 159]
    assert all(x["net_sats"] + x["tax_sats"] == x["sats"] for x in lines)
    t = tax.totals(lines)
    assert (t["net_sats"], t["tax_sats"], t["gross_sats"]) == (2524, 479, 3003)
    # fiat the same way: 3 × 1.00 USD; 3.00 × 19/119 = 0.479 → 0.48 on the total (per line
    # 0.16 each would also make 0.48 here), split 0.16 each
    assert t["gross_fiat"] == "3.00" and t["tax_fiat"] == "0.48" and t["net_fiat"] == "2.52"
    assert [x["tax_fiat"] for x in lines] == ["0.16", "0.16", "0.16"]


def test_no_tax_fields_without_a_standard_rate_and_other_kinds_untaxed():
    lines = _lines([1000, 2000])
    assert tax.apply(lines, None) == lines
    assert tax.apply(lines, tax.Treatment("reverse_charge", "x")) == lines
    mixed = _lines([1000]) + _lines([500], kind="payout")
    out = tax.apply(mixed, tax.Treatment("standard", "", Decimal(19)))
    assert "tax_sats" in out[0] and "tax_sats" not in out[1]


def test_fiat_vat_only_when_every_taxed_line_has_fiat():
    lines = _lines([1000]) + _lines([2000], fiat=False)
    out = tax.apply(lines, tax.Treatment("standard", "", Decimal(19)))
    assert all("tax_sats" in x and "tax_fiat" not in x for x in out)
    assert "tax_fiat" not in tax.totals(out)


def test_credit_note_negates_vat():
    lines = tax.apply(_lines([1000, 2000]), tax.Treatment("standard", "", Decimal(19)))
    credit = invoices.credit_lines(lines)
    for a, b in zip(lines, credit, strict=True):
        assert b["tax_sats"] == -a["tax_sats"] and b["net_sats"] == -a["net_sats"]
        assert Decimal(b["tax_fiat"]) == -Decimal(a["tax_fiat"])
    with pytest.raises(ValueError):
        tax.apply(credit, tax.Treatment("standard", "", Decimal(19)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**7)), min_size=1,
                max_size=15),
       st.decimals("0", "30", places=1))
def test_vat_splits_add_up_in_sats_and_fiat(items, rate):
    lines = [{"kind": "lease", "ref": str(i), "sats": sats,
              "fiat": format(Decimal(cents) / 100, "f"), "currency": "EUR"}
             for i, (sats, cents) in enumerate(items)]
    out = tax.apply(lines, tax.Treatment("standard", "", rate))
    t = tax.totals(out)
    gross = sum(s for s, _ in items)
    expect = (Decimal(gross) * rate / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP)
    assert t["tax_sats"] == expect and t["gross_sats"] == gross
    assert t["net_sats"] + t["tax_sats"] == gross
    cents = Decimal(sum(c for _, c in items))
    expect_f = (cents * rate / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP) / 100
    assert Decimal(t["tax_fiat"]) == expect_f
    assert Decimal(t["net_fiat"]) + Decimal(t["tax_fiat"]) == Decimal(t["gross_fiat"])
    for line in out:
        assert line["net_sats"] + line["tax_sats"] == line["sats"]
        assert 0 <= line["tax_sats"] <= line["sats"]
        assert Decimal(line["net_fiat"]) + Decimal(line["tax_fiat"]) == Decimal(line["fiat"])
