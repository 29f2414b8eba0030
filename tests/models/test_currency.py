"""ISO 4217 minor units: what a currency's amounts are rounded to for display."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.currency import ISO_4217, minor_units, to_minor_units


@pytest.mark.parametrize(
    ("code", "digits"),
    [("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0), ("USD", 2), ("EUR", 2), ("GBP", 2),
     ("INR", 2), ("KWD", 3), ("BHD", 3), ("OMR", 3), ("TND", 3), ("XYZ", None), (None, None)],
)  # fmt: skip
def test_minor_units(code: str | None, digits: int | None) -> None:
    assert minor_units(code) == digits


def test_every_listed_code_is_an_active_currency() -> None:
    assert all(minor_units(code) in (0, 2, 3) for code in ISO_4217)


@pytest.mark.parametrize(
    ("value", "code", "shown"),
    [("2.5", "JPY", "2"), ("3.5", "JPY", "4"), ("1234.125", "USD", "1234.12"),
     ("1234.135", "USD", "1234.14"), ("1.0005", "KWD", "1.000"), ("1.0015", "KWD", "1.002"),
     ("-0.001", "USD", "0.00"), ("1.234567", "XYZ", "1.234567")],
)  # fmt: skip
def test_rounding_is_half_even_at_the_minor_unit(value: str, code: str, shown: str) -> None:
    assert str(to_minor_units(Decimal(value), code)) == shown
