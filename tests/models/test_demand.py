"""Measured inputs from gpu_hours: u, u_r, unmonitored hours and the demand curve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from models.demand import Window, demand_curve, measured_utilisation, trailing_window
from models.errors import InputError
from tests.fixtures.demand import SCHEMA, T0, demand_rows


def _frame(*groups) -> pl.LazyFrame:
    rows = [r for g in groups for r in g]
    return pl.DataFrame(rows, schema=SCHEMA).lazy()


A, U, AI, HI, N = "active", "underutilised", "allocated_idle", "hard_idle", "unmonitored"

FLEET = _frame(
    # owned: 2 GPUs x 10 hours; 12 useful, 6 idle, 2 unmonitored
    demand_rows("onprem", "node-1", [A, A, A, U, U, AI, AI, HI, N, N]),
    demand_rows("onprem", "node-1", [A, A, A, A, A, A, A, HI, HI, HI], gpu_index=1),
    # cloud: 1 GPU x 10 hours; 4 useful, 2 idle, 4 unmonitored (billing only)
    demand_rows("cloud", "i-1", [A, A, U, U, HI, AI, N, N, N, N], cost="6.88"),
    # another model that must not leak into H100 figures
    demand_rows("cloud", "i-2", [A] * 10, gpu_model="A100", cost="3.43"),
)
WINDOW = Window(T0, T0 + timedelta(hours=10))


def test_measured_u_and_u_r_exclude_unmonitored_hours():
    m = measured_utilisation(FLEET, WINDOW, "h100")
    assert (m.owned_monitored_hours, m.owned_useful_hours, m.owned_unmonitored_hours) == (18, 12, 2)
    assert m.u == pytest.approx(12 / 18)
    assert (m.cloud_monitored_hours, m.cloud_useful_hours, m.cloud_unmonitored_hours) == (6, 4, 4)
    assert m.u_r == pytest.approx(4 / 6)
    assert m.unmonitored_hours == 6
    assert m.unmonitored_share == pytest.approx(6 / 30)
    assert m.owned_gpus == 2
    assert m.cloud_cost == Decimal("68.80")
    assert m.cloud_cost_per_gpu_hour == Decimal("6.88")


def test_the_measured_cloud_price_counts_only_hours_billed_in_the_price_books_currency():
    eur = demand_rows("cloud", "vm-eu", [A] * 10, cost="5.10", gpu_index=0, currency="EUR")
    m = measured_utilisation(pl.concat([FLEET, _frame(eur)]), WINDOW, "h100")
    assert (m.cloud_monitored_hours, m.cloud_useful_hours) == (16, 14)  # every GPU's hours
    assert (m.cloud_priced_hours, m.cloud_cost) == (10, Decimal("68.80"))  # USD only
    assert m.cloud_cost_per_gpu_hour == Decimal("6.88")  # not (68.80 + 51.00) / 20


def test_all_models_when_no_gpu_is_named():
    m = measured_utilisation(FLEET, WINDOW)
    assert m.cloud_monitored_hours == 16 and m.cloud_useful_hours == 14


def test_demand_curve_counts_useful_gpus_and_billing_only_cloud_hours():
    d = demand_curve(FLEET, WINDOW, "H100")
    assert d.hourly.height == 10
    # hour 0: 2 owned active + 1 cloud active
    assert d.hourly.row(0, named=True)["demand_gpus"] == 3
    # hour 8: owned unmonitored (not demand) + owned hard idle + cloud unmonitored (estimated)
    h8 = d.hourly.row(8, named=True)
    assert (h8["measured_gpus"], h8["estimated_gpus"], h8["demand_gpus"]) == (0, 1, 1)
    assert d.measured_gpu_hours == 12 + 4
    assert d.estimated_gpu_hours == 4
    assert d.estimated_share == pytest.approx(4 / 20)
    assert d.values.sum() == 20


@pytest.mark.parametrize(
    ("name", "a100", "a10"),
    [
        ("A100", True, False),
        ("a100-80", True, False),
        ("NVIDIA A100-SXM4-40GB", True, False),
        ("A1000", False, False),
        ("A10G", False, False),
        ("NVIDIA A10", False, True),
    ],
)
def test_a_gpu_model_matches_as_a_whole_word(name, a100, a10):
    frame = _frame(demand_rows("cloud", "i-1", ["active"], gpu_model=name))
    assert measured_utilisation(frame, WINDOW, "A100").cloud_useful_hours == int(a100)
    assert measured_utilisation(frame, WINDOW, "A10").cloud_useful_hours == int(a10)


def test_hours_without_rows_are_zero_demand():
    wide = Window(T0 - timedelta(hours=5), T0 + timedelta(hours=10))
    d = demand_curve(FLEET, wide, "H100")
    assert d.hourly.height == 15
    assert d.values[:5].tolist() == [0, 0, 0, 0, 0]


def test_trailing_window_ends_after_the_last_hour():
    w = trailing_window(FLEET, 12)
    assert w.end == T0 + timedelta(hours=10)
    assert w.start == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert w.hours == 8760
    w3 = trailing_window(FLEET, 3, end=datetime(2026, 4, 1, tzinfo=UTC))
    assert w3.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_empty_demand_is_a_clear_error():
    with pytest.raises(InputError, match=r"demand curve is empty.*'L4'"):
        demand_curve(FLEET, WINDOW, "L4")
    with pytest.raises(InputError, match="gpu_hours has no rows"):
        trailing_window(_frame([]), 12)
    with pytest.raises(InputError, match="months"):
        trailing_window(FLEET, 0)


def test_no_monitored_hours_gives_no_measured_u():
    only_billing = _frame(demand_rows("cloud", "i-9", [N, N, N]))
    m = measured_utilisation(only_billing, WINDOW)
    assert m.u is None and m.u_r is None and m.unmonitored_share == 1.0
