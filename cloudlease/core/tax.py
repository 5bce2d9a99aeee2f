"""VAT on invoices (pure): country codes, VAT id shapes, who is charged what, and rounding.

**Treatment.** One per invoice, decided at issue from the operator's country, the
customer's country and VAT id, and ``[tax]`` in config.toml:

1. ``reverse_charge``: the customer gave a VAT id (a business) and is in another country
   than the operator, and ``[tax] reverse_charge`` is on (the default). No VAT is
   charged; the invoice says so and shows both VAT ids (between two EU countries it cites
   Article 196 of the VAT Directive, 2006/112/EC).
2. ``standard``: ``[tax.rates]`` has a rate for the customer's country (a customer who
   gave no country is taxed at the operator's country's rate, where the supply is then
   made). The amounts paid include that VAT.
3. ``none``: no rate applies (no rates configured, or none for that country). There is no
   tax line, and the document says why.

**Prices include VAT.** What the customer paid for a line is its gross amount; the VAT is
the part of it ``rate / (100 + rate)``, and net = gross − VAT.

**Rounding: VAT on the total, once per invoice.** EN 16931, the European standard for
invoices, computes a VAT amount per rate from the invoice's total (not line by line),
which is also what the VAT return adds up. So: VAT total = gross total × rate / (100 +
rate), rounded once, half up (commercial rounding), to the whole sat; separately, the fiat
VAT total is computed the same way from the fiat gross total (the sum of the lines' fiat,
each rounded once as ``invoices`` does) and rounded half up to the currency's minor unit.
Each total is then split over the lines by the largest-remainder method
(``money.split``, in proportion to each line's gross), so for every line net + VAT =
gross, and the lines add up to the totals, in sats and in fiat alike, to the last unit.
A fiat VAT total needs every taxed line to carry fiat; otherwise there is no fiat VAT
(and no fiat total: see ``invoices.totals``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cloudlease.core.errors import BadValue
from cloudlease.core.money import split

# ISO 3166-1 alpha-2: the one list, which config.toml is checked against too
COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
ZW""".split())
EU = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE "
               "SI SK".split())

# VAT id formats after the country prefix (the European Commission's VIES list, plus the
# UK, Switzerland and Norway). Greece writes EL, Northern Ireland XI.
_VAT_FORMATS = {
    "AT": r"U\d{8}", "BE": r"[01]\d{9}", "BG": r"\d{9,10}", "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}", "DE": r"\d{9}", "DK": r"\d{8}", "EE": r"\d{9}", "EL": r"\d{9}",
    "ES": r"[0-9A-Z]\d{7}[0-9A-Z]", "FI": r"\d{8}", "FR": r"[0-9A-HJ-NP-Z]{2}\d{9}",
    "HR": r"\d{11}", "HU": r"\d{8}", "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}", "LT": r"\d{9}|\d{12}", "LU": r"\d{8}", "LV": r"\d{11}", "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}", "PL": r"\d{10}", "PT": r"\d{9}", "RO": r"[1-9]\d{1,9}",
    "SE": r"\d{10}01", "SI": r"\d{8}", "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}", "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "CH": r"E\d{9}(MWST|TVA|IVA)?", "NO": r"\d{9}(MVA)?",
}
_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
_COUNTRY_PREFIXES = {"GR": ("EL",), "GB": ("GB", "XI")}
_GENERIC = re.compile(r"[A-Z0-9]{4,20}")


def country(code: str, what: str = "country") -> str:
    """An ISO 3166 alpha-2 code (``de`` is taken as ``DE``)."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if text not in COUNTRIES:
        raise BadValue(f"{what} must be an ISO 3166 alpha-2 country code such as DE or US, "
                       f"got {code!r}")
    return text


def normalize_vat_id(text: str, country_code: str | None = None) -> str:
    """A VAT id of plausible shape, upper case without spaces, dots or dashes.

    An id starting with a known country prefix (every EU country, EL for Greece, XI for
    Northern Ireland, GB, CH, NO) must match that country's format and, when
    ``country_code`` is given, belong to it. Other countries' tax ids (no common format)
    need 4-20 letters and digits, at least four of them digits."""
    raw = text if isinstance(text, str) else ""
    vat = re.sub(r"[\s.\-/]", "", raw).upper()
    if not vat:
        raise BadValue("a VAT id must not be empty")
    prefix = vat[:2]
    if prefix in _VAT_FORMATS:
        if not re.fullmatch(_VAT_FORMATS[prefix], vat[2:]):
            raise BadValue(f"{raw.strip()!r} does not have the shape of a "
                           f"{prefix} VAT id")
        owner = _PREFIX_COUNTRY.get(prefix, prefix)
        if country_code and owner != country_code:
            raise BadValue(f"VAT id {vat} belongs to {owner}, not {country_code}")
        return vat
    if country_code in _COUNTRY_PREFIXES or country_code in _VAT_FORMATS:
        want = _COUNTRY_PREFIXES.get(country_code, (country_code,))
        raise BadValue(f"a {country_code} VAT id starts with {' or '.join(want)}, got "
                       f"{raw.strip()!r}")
    if not _GENERIC.fullmatch(vat) or sum(ch.isdigit() for ch in vat) < 4:
        raise BadValue(f"{raw.strip()!r} does not look like a VAT or tax id (4-20 letters "
                       "and digits)")
    return vat


def vat_country(vat: str) -> str | None:
    """The country a VAT id's prefix names, when it has a known one."""
    prefix = vat[:2]
    return _PREFIX_COUNTRY.get(prefix, prefix) if prefix in _VAT_FORMATS else None


# -- treatment ------------------------------------------------------------------------
STANDARD, REVERSE_CHARGE, NONE = "standard", "reverse_charge", "none"
TAXED_KINDS = frozenset({"lease", "extension", "sales"})


@dataclass(frozen=True)
class Treatment:
    """How VAT applies to one invoice.

    Attributes:
        kind: ``standard``, ``reverse_charge`` or ``none``.
        rate: percent, for ``standard``.
        country: whose rate (or the customer's country for reverse charge).
        note: the sentence the customer reads on the document.
    """

    kind: str
    note: str
    rate: Decimal | None = None
    country: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "note": self.note}
        if self.rate is not None:
            out["rate"] = format(self.rate.normalize(), "f")
        if self.country:
            out["country"] = self.country
        return out


def percent_text(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def decide(*, seller_country: str, buyer_country: str | None, buyer_vat_id: str | None,
           rates: Mapping[str, Decimal], reverse_charge: bool = True) -> Treatment:
    """The treatment of an invoice to this buyer (``None`` country: unknown or anonymous)."""
    if reverse_charge and buyer_vat_id and buyer_country and seller_country and \
            buyer_country != seller_country:
        if buyer_country in EU and seller_country in EU:
            note = ("Reverse charge: VAT to be accounted for by the recipient (Article 196, "
                    "Council Directive 2006/112/EC).")
        else:
            note = ("Reverse charge: no VAT charged; the customer accounts for any VAT due "
                    f"in {buyer_country}.")
        return Treatment(REVERSE_CHARGE, note, country=buyer_country)
    where = buyer_country or seller_country or None
    if not rates:
        return Treatment(NONE, "No VAT charged: the seller charges no VAT.")
    if where is None:
        return Treatment(NONE, "No VAT charged: the place of supply is not known.")
    if where not in rates:
        return Treatment(NONE, f"No VAT charged: no VAT rate applies to customers in {where}.",
                         country=where)
    rate = rates[where]
    return Treatment(STANDARD, f"Prices include VAT at {percent_text(rate)} % ({where}).",
                     rate=rate, country=where)


def from_dict(data: Mapping[str, Any]) -> Treatment | None:
    if not data:
        return None
    rate = data.get("rate")
    return Treatment(str(data["kind"]), str(data.get("note", "")),
                     Decimal(rate) if rate is not None else None, data.get("country"))


# -- amounts --------------------------------------------------------------------------
def vat_part(gross: Decimal, rate: Decimal, places: int) -> Decimal:
    """The VAT contained in a gross amount, rounded half up to ``places`` decimals."""
    return (gross * rate / (100 + rate)).quantize(Decimal(1).scaleb(-places),
                                                  rounding=ROUND_HALF_UP)


def apply(lines: Iterable[Mapping[str, Any]], treatment: Treatment | None,
          minor_units: int = 2) -> list[dict[str, Any]]:
    """The lines with ``net_sats``/``tax_sats`` (and ``net_fiat``/``tax_fiat`` when every
    taxed line has fiat in one currency) for a ``standard`` treatment; other treatments
    return the lines without tax fields. Any tax fields already there are recomputed."""
    out = [{k: v for k, v in line.items() if k not in _TAX_FIELDS} for line in lines]
    if treatment is None or treatment.kind != STANDARD or treatment.rate is None:
        return out
    # the lines taxed, by their index: the index names each line's share in ``split``
    # (ties in the remainders go by that name)
    taxed = {str(i): line for i, line in enumerate(out) if line["kind"] in TAXED_KINDS}
    _split_sats(taxed, treatment.rate)
    if taxed and all("fiat" in line for line in taxed.values()) and \
            len({line.get("currency") for line in taxed.values()}) == 1:
        _split_fiat(taxed, treatment.rate, minor_units)
    return out


def _split_sats(taxed: dict[str, dict[str, Any]], rate: Decimal) -> None:
    """VAT on the sats total, split over the taxed lines (largest remainder)."""
    gross = {i: int(line["sats"]) for i, line in taxed.items()}
    if any(g < 0 for g in gross.values()):
        raise ValueError("tax is computed on an invoice's own lines, never on negated ones")
    total_tax = int(vat_part(Decimal(sum(gross.values())), rate, 0))
    shares = split(total_tax, gross) if gross else {}
    for i, line in taxed.items():
        line["tax_sats"] = shares[i]
        line["net_sats"] = gross[i] - shares[i]


def _split_fiat(taxed: dict[str, dict[str, Any]], rate: Decimal, minor_units: int) -> None:
    """VAT on the fiat total, in the currency's minor units, split over the taxed lines."""
    unit = Decimal(1).scaleb(-minor_units)
    cents = {i: int(Decimal(line["fiat"]) / unit) for i, line in taxed.items()}
    total = sum(cents.values())
    tax_cents = int(vat_part(Decimal(total), rate, 0)) if total >= 0 else 0
    shares = split(tax_cents, cents)
    for i, line in taxed.items():
        t = Decimal(shares[i]) * unit
        line["tax_fiat"] = format(t, "f")
        line["net_fiat"] = format(Decimal(line["fiat"]) - t, "f")


_TAX_FIELDS = ("net_sats", "tax_sats", "net_fiat", "tax_fiat")


def negate(line: Mapping[str, Any]) -> dict[str, Any]:
    """A line's tax fields negated (for a credit note)."""
    new = dict(line)
    for key in ("net_sats", "tax_sats"):
        if key in line:
            new[key] = -int(line[key])
    for key in ("net_fiat", "tax_fiat"):
        if key in line:
            new[key] = format(-Decimal(line[key]), "f")
    return new


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Net, VAT and gross of the taxed lines, in sats and (when every taxed line has it)
    fiat; None when no line carries tax."""
    taxed = [line for line in lines if "tax_sats" in line]
    if not taxed:
        return None
    out: dict[str, Any] = {
        "net_sats": sum(int(x["net_sats"]) for x in taxed),
        "tax_sats": sum(int(x["tax_sats"]) for x in taxed),
        "gross_sats": sum(int(x["sats"]) for x in taxed)}
    if all("tax_fiat" in x for x in taxed):
        out["currency"] = taxed[0].get("currency")
        out["net_fiat"] = format(sum((Decimal(x["net_fiat"]) for x in taxed), Decimal(0)), "f")
        out["tax_fiat"] = format(sum((Decimal(x["tax_fiat"]) for x in taxed), Decimal(0)), "f")
        out["gross_fiat"] = format(sum((Decimal(x["fiat"]) for x in taxed), Decimal(0)), "f")
    return out
