"""ISO 4217 currency codes: money is never summed across currencies, and an unknown code is an
input error rather than a new currency."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

# Active ISO 4217 alphabetic codes (list one, 2024), fund and precious-metal codes left out.
_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(re.findall(r"[A-Z]{3}", _CODES))


def is_currency(code: str | None) -> bool:
    return code is not None and code in ISO_4217


# ISO 4217 minor units (list one): the digits after the decimal point a currency is shown with.
# Every active code not listed here has 2.
_NO_MINOR = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THOUSANDTHS = "BHD IQD JOD KWD LYD OMR TND"
_MINOR_UNITS = {
    **dict.fromkeys(re.findall(r"[A-Z]{3}", _NO_MINOR), 0),
    **dict.fromkeys(re.findall(r"[A-Z]{3}", _THOUSANDTHS), 3),
}


def minor_units(code: str | None) -> int | None:
    """Digits after the decimal point for `code` (JPY 0, USD 2, KWD 3); None if not ISO 4217."""
    if not is_currency(code):
        return None
    return _MINOR_UNITS.get(str(code), 2)


def to_minor_units(value: Decimal, code: str | None) -> Decimal:
    """`value` rounded half-even to the minor unit of `code` (never -0); as it is when `code`
    is not an ISO 4217 currency: there is no unit to round to."""
    digits = minor_units(code)
    if digits is None:
        return value
    rounded = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded == 0 else rounded
