"""Own vs rent: the worked example of gpu_economics.md §A5, properties and bad inputs."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InputError
from models.own_vs_rent import (
    HOURS_PER_YEAR,
    OwnedNode,
    annual_cost_committed,
    annual_cost_owned,
    annualised_capex,
    break_even_price,
    break_even_sensitivity,
    break_even_utilisation,
    compare_options,
    cost_per_useful_gpu_hour,
    fixed_cost,
    hybrid_sizing,
    marginal_energy,
    owned_node,
)
from models.price_book import default_price_book

# §A5 base case, written out: one 8-GPU H100 node.
BASE = OwnedNode(
    gpus=8,
    capex=310_000 + 34_000,
    life_years=5,
    residual_frac=0.10,
    wacc=0.0,  # straight line
    colo_usd_per_kw_month=184.06,
    provisioned_kw=10.2,
    idle_kw=2.5,
    load_kw=7.5,
    pue=1.4,
    usd_per_kwh=0.09,
    ops_usd_per_year=15_000,
)


def test_worked_example_fixed_and_marginal_cost():
    # A = 344k·0.9/5 = 61,920; colo 12·184.06·10.2 = 22,528.94; idle 2.5·1.4·8760·0.09 = 2,759.40
    assert annualised_capex(BASE) == pytest.approx(61_920)
    assert fixed_cost(BASE) == pytest.approx(102_208.34, abs=0.01)
    assert round(fixed_cost(BASE) / 1000, 1) == 102.2
    assert marginal_energy(BASE) == pytest.approx(0.07875)


@pytest.mark.parametrize(("u", "expected"), [(1.0, 1.54), (0.7, 2.16), (0.4, 3.72), (0.2, 7.37)])
def test_worked_example_cost_per_useful_gpu_hour(u, expected):
    assert cost_per_useful_gpu_hour(BASE, u) == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize(
    ("price", "u_r", "expected"),
    [
        (12.29, 1.0, 0.12),
        (10.98, 1.0, 0.13),
        (6.88, 1.0, 0.21),
        (3.99, 1.0, 0.37),
        (2.95, 1.0, 0.51),
        (2.00, 1.0, 0.76),
        (6.88, 0.7, 0.15),
        (6.88, 0.5, 0.11),
    ],
)
def test_worked_example_break_even(price, u_r, expected):
    assert break_even_utilisation(BASE, price, u_r) == pytest.approx(expected, abs=0.01)


def test_spot_never_pays_back():
    assert break_even_utilisation(BASE, 1.25) > 1  # needs more than every hour of the year
    assert break_even_utilisation(BASE, 0.05) == math.inf  # below the marginal energy


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"life_years": 3}, 0.30),
        ({"life_years": 6}, 0.19),
        ({"wacc": 0.10}, 0.26),
        ({"ops_usd_per_year": 40_000}, 0.27),
        ({"capex": 250_000 + 34_000}, 0.19),
    ],
)
def test_worked_example_sensitivity_columns(change, expected):
    assert break_even_utilisation(replace(BASE, **change), 6.88) == pytest.approx(
        expected, abs=0.01
    )


def test_rent_price_breaking_even_at_40_percent():
    assert break_even_price(BASE, 0.4) == pytest.approx(3.72, abs=0.02)
    assert break_even_price(replace(BASE, life_years=3), 0.4) == pytest.approx(5.20, abs=0.02)


def test_committed_alternatives_by_annual_cost():
    assert annual_cost_owned(BASE, 1.0) == Decimal("107727.14")  # "$108k"
    assert annual_cost_committed(5.40, 8) == Decimal("378432.00")  # p5 3y RI before the cut
    assert annual_cost_committed(2.35, 8) == Decimal("164688.00")  # "$165k"
    assert annual_cost_committed(1.70, 8) == Decimal("119136.00")  # "$119k"


def test_default_price_book_reproduces_the_base_case():
    assert owned_node(default_price_book(), "h100") == BASE


def test_compare_options_prices_committed_by_year_and_on_demand_by_break_even():
    book = default_price_book()
    rows = {r.option.name: r for r in compare_options(BASE, book.rent_options("H100"), 0.5, 0.8)}
    od = rows["aws_p5_on_demand"]
    assert od.cost_per_useful_gpu_hour == pytest.approx(6.88 / 0.8)
    assert od.break_even_utilisation == pytest.approx(break_even_utilisation(BASE, 6.88, 0.8))
    assert od.annual_cost == Decimal(repr(6.88 / 0.8 * 8 * HOURS_PER_YEAR * 0.5)).quantize(
        Decimal("0.01")
    )
    commit = rows["market_contract_1y"]
    assert commit.break_even_utilisation is None
    assert commit.annual_cost == Decimal("164688.00")
    assert commit.cost_per_useful_gpu_hour == pytest.approx(2.35 / 0.5)


def test_hybrid_sizing_owns_the_baseline_and_rents_the_peak():
    # 16 GPUs busy all year, a peak of 40 for 200 hours: own 2 nodes, rent the peak.
    demand = np.full(HOURS_PER_YEAR, 16.0)
    demand[:200] = 40
    plan = hybrid_sizing(BASE, demand, 6.88)
    assert plan.baseline_nodes == 2
    assert plan.all_own_nodes == 5
    burst = 24 * 200
    assert plan.burst_useful_gpu_hours == burst
    owned = 16 * HOURS_PER_YEAR
    expected = 2 * fixed_cost(BASE) + marginal_energy(BASE) * owned + 6.88 * burst
    assert float(plan.annual_cost) == pytest.approx(expected, abs=0.01)
    assert plan.all_rent_annual_cost == Decimal(repr(6.88)) * Decimal(int(demand.sum()))
    assert plan.annual_saving == plan.all_rent_annual_cost - plan.annual_cost
    assert plan.owned_utilisation == pytest.approx(1.0)


def test_hybrid_sizing_annualises_a_short_curve():
    # Half a year of 8 busy GPUs costs, per year, as a full year of them.
    half = hybrid_sizing(BASE, np.full(HOURS_PER_YEAR // 2, 8.0), 6.88)
    full = hybrid_sizing(BASE, np.full(HOURS_PER_YEAR, 8.0), 6.88)
    assert half.baseline_nodes == full.baseline_nodes == 1
    assert half.annual_cost == full.annual_cost


def test_sensitivity_bars_cover_every_input_and_rank_by_swing():
    bars = break_even_sensitivity(BASE, 6.88)
    names = {b.parameter for b in bars}
    assert {"capex", "life_years", "pue", "usd_per_kwh", "rent_price", "rent_useful_fraction"} <= (
        names
    )
    swings = [b.swing for b in bars]
    assert swings == sorted(swings, reverse=True)
    life = next(b for b in bars if b.parameter == "life_years")
    assert (life.low, life.high) == (3, 6)
    assert life.u_star_low == pytest.approx(0.30, abs=0.01)
    assert life.u_star_high == pytest.approx(0.19, abs=0.01)


# ---- properties --------------------------------------------------------------------------

prices = st.floats(min_value=0.5, max_value=40, allow_nan=False)
capexes = st.floats(min_value=10_000, max_value=2_000_000, allow_nan=False)
fractions = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)


@given(capex=capexes, extra=st.floats(min_value=1, max_value=500_000), price=prices)
def test_break_even_rises_with_capex(capex, extra, price):
    lo = break_even_utilisation(replace(BASE, capex=capex), price)
    hi = break_even_utilisation(replace(BASE, capex=capex + extra), price)
    assert hi >= lo


@given(price=prices, extra=st.floats(min_value=0.01, max_value=20), u_r=fractions)
def test_break_even_falls_with_rent_price(price, extra, u_r):
    assert break_even_utilisation(BASE, price + extra, u_r) <= break_even_utilisation(
        BASE, price, u_r
    )


@given(u=fractions, more=st.floats(min_value=0.001, max_value=0.99))
def test_cost_per_useful_hour_falls_with_utilisation(u, more):
    u2 = min(1.0, u + more)
    assert cost_per_useful_gpu_hour(BASE, u2) <= cost_per_useful_gpu_hour(BASE, u)


@settings(max_examples=60, deadline=None)
@given(
    demand=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=300),
    price=prices,
    u_r=st.floats(min_value=0.2, max_value=1.0),
    capex=capexes,
)
def test_hybrid_never_costs_more_than_all_rent_or_all_own(demand, price, u_r, capex):
    node = replace(BASE, capex=capex)
    plan = hybrid_sizing(node, demand, price, u_r)
    assert plan.annual_cost <= plan.all_rent_annual_cost
    assert plan.annual_cost <= plan.all_own_annual_cost
    assert plan.annual_cost == min(plan.annual_cost_by_nodes)
    assert plan.annual_saving >= 0


# ---- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"life_years": 0}, "life_years"),
        ({"pue": 0.9}, "pue"),
        ({"capex": -1.0}, "capex"),
        ({"usd_per_kwh": -0.09}, "usd_per_kwh"),
        ({"residual_frac": 1.0}, "residual_frac"),
        ({"load_kw": 1.0}, "load_kw"),
        ({"gpus": 0}, "gpus"),
        ({"capex": math.nan}, "capex"),
    ],
)
def test_bad_node_inputs_are_clear_errors(change, message):
    with pytest.raises(InputError, match=message):
        replace(BASE, **change)


def test_negative_rent_price_is_an_error():
    with pytest.raises(InputError, match="must not be negative"):
        break_even_utilisation(BASE, -1.0)
    with pytest.raises(InputError, match="must not be negative"):
        hybrid_sizing(BASE, [8, 8], -6.88)


@pytest.mark.parametrize("u", [0, -0.1, 1.5])
def test_utilisation_outside_zero_one_is_an_error(u):
    with pytest.raises(InputError, match="fraction of hours"):
        cost_per_useful_gpu_hour(BASE, u)


@pytest.mark.parametrize("demand", [[], np.array([]), [3, -1], [1, float("nan")]])
def test_empty_or_negative_demand_curve_is_an_error(demand):
    with pytest.raises(InputError, match="demand curve"):
        hybrid_sizing(BASE, demand, 6.88)


# ---- the command line, over a real DuckDB holding a gpu_hours view -------------------------


def test_own_vs_rent_settings_are_strict():
    from models.errors import ConfigError
    from models.recommendation import OwnVsRentSettings

    s = OwnVsRentSettings.from_dict(
        {
            "gpu": "A100",
            "months": 6,
            "prices": {
                "facility": {
                    "pue": {"value": 1.2, "source": "our colo contract", "as_of": date(2026, 1, 1)}
                }
            },
        }
    )
    assert (s.gpu, s.months, s.price_book().value("facility.pue")) == ("A100", 6, 1.2)
    bad = [
        ({"monts": 6}, 'did you mean "months"'),
        ({"months": "6"}, "wrong type"),
        ({"months": 0}, "months must be >= 1"),
        ({"gpu": "H10"}, "no owned-node prices"),
        ({"prices": {"facility.pue": {"value": 0.9, "source": "x", "as_of": "2026-01-01"}}}, "PUE"),
        ({"prices": {"facility.pue": {"value": 1.2}}}, "has no source"),
    ]
    for raw, message in bad:
        with pytest.raises(ConfigError, match=message):
            OwnVsRentSettings.from_dict(raw)
