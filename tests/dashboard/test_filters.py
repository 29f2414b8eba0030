"""The global filters' URL form: a copied link reproduces the view, a bad value falls back."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlencode

import pytest

from dashboard.queries.filters import Filters, from_query, to_query
from models.cost_basis import CostBasis


def round_trip(f: Filters) -> Filters:
    """Through the text of a link, as a browser hands it back (lists per key)."""
    return from_query(parse_qs(urlencode(to_query(f))))


@pytest.mark.parametrize(
    "f",
    [
        Filters(),
        Filters(basis=CostBasis.BILLED),
        Filters(
            start=date(2026, 10, 1),
            end=date(2026, 10, 31),
            providers=("AWS", "Microsoft"),
            teams=("search",),
            environments=("prod",),
            basis=CostBasis.BILLED,
        ),
    ],
)
def test_filters_survive_a_link(f: Filters) -> None:
    assert round_trip(f) == f


def test_the_default_basis_is_amortised_and_keeps_links_short() -> None:
    assert Filters().basis is CostBasis.AMORTISED
    assert to_query(Filters()) == {}
    assert to_query(Filters(basis=CostBasis.AMORTISED, teams=("search",))) == {"team": "search"}
    assert to_query(Filters(basis=CostBasis.BILLED)) == {"basis": "billed"}


@pytest.mark.parametrize(
    ("query", "basis"),
    [
        ({"basis": "billed"}, CostBasis.BILLED),
        ({"basis": "Billed"}, CostBasis.BILLED),
        ({"basis": ["billed"]}, CostBasis.BILLED),
        ({"basis": "amortised"}, CostBasis.AMORTISED),
        ({"basis": "invoice"}, CostBasis.AMORTISED),  # hand-edited: the default, no error
        ({"basis": ""}, CostBasis.AMORTISED),
        ({"basis": []}, CostBasis.AMORTISED),
        ({}, CostBasis.AMORTISED),
    ],
)
def test_basis_from_a_link(query: dict, basis: CostBasis) -> None:
    assert from_query(query).basis is basis


def test_a_bad_basis_leaves_the_other_filters_alone() -> None:
    f = from_query({"basis": "invoice", "team": "search", "from": "2026-10-01"})
    assert (f.basis, f.teams, f.start) == (CostBasis.AMORTISED, ("search",), date(2026, 10, 1))
