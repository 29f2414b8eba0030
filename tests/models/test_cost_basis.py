"""The cost basis: which column it reads, how it is labelled, and one message for a bad name."""

from __future__ import annotations

import pytest

from models.cost_basis import DEFAULT, CostBasis, lenient_basis, parse_basis
from models.errors import InputError


@pytest.mark.parametrize(
    ("text", "column", "label"),
    [
        ("amortised", "EffectiveCost", "Amortised cost (USD)"),
        ("Billed", "BilledCost", "Billed cost (USD)"),
        (" BILLED ", "BilledCost", "Billed cost (USD)"),
        ("Amortized", "EffectiveCost", "Amortised cost (USD)"),  # as Azure and AWS spell it
        (None, "EffectiveCost", "Amortised cost (USD)"),  # the default is amortised (showback)
    ],
)
def test_a_basis_reads_one_column_and_says_so(text, column, label) -> None:
    basis = parse_basis(text)
    assert (basis.column, basis.label("USD")) == (column, label)


def test_an_unknown_basis_is_one_input_error_naming_the_choices() -> None:
    with pytest.raises(InputError) as err:
        parse_basis("invoice")
    assert err.value.render().startswith(
        "--basis: unknown cost basis — expected amortised or billed, found invoice"
    )


@pytest.mark.parametrize("text", ["invoice", "", "amortized'; DROP", None])
def test_a_link_never_raises_it_falls_back_to_the_default(text) -> None:
    assert lenient_basis(text) is DEFAULT is CostBasis.AMORTISED
