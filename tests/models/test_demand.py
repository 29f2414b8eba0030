"""Measured inputs from gpu_hours: u, u_r, unmonitored hours and the demand curve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from models.demand import Window, demand_curve, measured_utilisation, trailing_window
from models.errors import InputError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCHEMA = {
    "hour": pl.Datetime("us", "UTC"),
    "resource_id": pl.String,
    "host": pl.String,
    "gpu_index": pl.Int64,
    "gpu_uuid": pl.String,
    "gpu_model": pl.String,
    "provider": pl.String,
    "source": pl.String,
    "deployment": pl.String,
    "team": pl.String,
    "cost": pl.Decimal(38, 12),
    "currency": pl.String,
    "avg_active": pl.Float64,
    "max_active": pl.Float64,
    "mem_used_mib": pl.Float64,
    "samples": pl.Int64,
    "state": pl.String,
    "idle_cost": pl.Decimal(38, 12),
}


def _rows(
    deployment, resource, states, gpu_model="H100", cost="2.5", start=0, gpu_index=0,
    currency="USD",
):  # fmt: skip
    """One GPU's consecutive hours, one row per state given."""
    out = []
    for i, state in enumerate(states):
        monitored = state != "unmonitored"
        out.append(
            {
                "hour": T0 + timedelta(hours=start + i),
                "resource_id": resource,
                "host": resource,
                "gpu_index": gpu_index,
                "gpu_uuid": None,
                "gpu_model": gpu_model,
                "provider": "AWS" if deployment == "cloud" else "dc-east",
                "source": "aws-cur2" if deployment == "cloud" else "onprem",
                "deployment": deployment,
                "team": "ml",
                "cost": Decimal(cost),
                "currency": currency,
                "avg_active": 0.5 if monitored else None,
                "max_active": 0.9 if monitored else None,
                "mem_used_mib": 1000.0 if monitored else None,
                "samples": 60 if monitored else 0,
                "state": state,
                "idle_cost": Decimal(0),
            }
        )
    return out


def _frame(*groups) -> pl.LazyFrame:
    rows = [r for g in groups for r in g]
    return pl.DataFrame(rows, schema=SCHEMA).lazy()


A, U, AI, HI, N = "active", "underutilised", "allocated_idle", "hard_idle", "unmonitored"

FLEET = _frame(
    # owned: 2 GPUs x 10 hours; 12 useful, 6 idle, 2 unmonitored
    _rows("onprem", "node-1", [A, A, A, U, U, AI, AI, HI, N, N]),
    _rows("onprem", "node-1", [A, A, A, A, A, A, A, HI, HI, HI], gpu_index=1),
    # cloud: 1 GPU x 10 hours; 4 useful, 2 idle, 4 unmonitored (billing only)
    _rows("cloud", "i-1", [A, A, U, U, HI, AI, N, N, N, N], cost="6.88"),
    # another model that must not leak into H100 figures
    _rows("cloud", "i-2", [A] * 10, gpu_model="A100", cost="3.43"),
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
    eur = _rows("cloud", "vm-eu", [A] * 10, cost="5.10", gpu_index=0, currency="EUR")
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
    frame = _frame(_rows("cloud", "i-1", ["active"], gpu_model=name))
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
    only_billing = _frame(_rows("cloud", "i-9", [N, N, N]))
    m = measured_utilisation(only_billing, WINDOW)
    assert m.u is None and m.u_r is None and m.unmonitored_share == 1.0


# ---- the sample enterprise (end to end) ---------------------------------------------------

SAMPLE_FIXTURES = (
    "needs the sample enterprise: pytest fixtures `sample_warehouse` (a warehouse folder "
    "ingested from the sample enterprise, whose connection has the gpu_hours and "
    "classified_costs views) and `sample_truth` (that sample's truth.json as a dict)"
)


def sample_or_skip(request):
    """(warehouse folder, truth dict), or skip when the sample fixtures are not available."""
    try:
        return request.getfixturevalue("sample_warehouse"), request.getfixturevalue("sample_truth")
    except pytest.FixtureLookupError:
        pytest.skip(SAMPLE_FIXTURES)


def sample_app(warehouse):
    """The object the CLI passes to commands, over the sample warehouse."""
    from pathlib import Path

    from dashboard.cli import App
    from models.settings import Settings

    return App(settings=Settings(), warehouse=Path(warehouse))


def read_view(warehouse, sql: str) -> pl.LazyFrame:
    con = sample_app(warehouse).connect()
    frame = con.sql(sql).pl()
    tz = {
        name: pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone
    }
    return frame.lazy().with_columns(*tz.values())


def implied_by_truth(truth: dict, gpu: str) -> tuple[float | None, float | None]:
    """u and u_r implied by truth.json's gpu_demand_hourly rows for one GPU model.

    Useful = active GPU-hours; monitored = paid - unmonitored. Rows name their `deployment`
    (onprem | cloud); without it, a row counts only when all its providers are on one side.
    """
    import re

    rows = truth.get("gpu_demand_hourly") or []
    pattern = re.compile(rf"(^|[^0-9A-Z]){re.escape(gpu.upper())}($|[^0-9A-Z])")
    clouds = {"AWS", "Microsoft", "Google Cloud"}

    def side(row: dict) -> str:
        if "deployment" in row:
            return row["deployment"]
        providers = set(row.get("providers", []))
        if providers <= clouds:
            return "cloud"
        if not providers & clouds:
            return "onprem"
        pytest.skip(
            f"truth.json mixes cloud and on-prem {row['gpu_model']} hours in one row: "
            "gpu_demand_hourly needs a `deployment` field (cloud|onprem)"
        )

    out = []
    for deployment in ("onprem", "cloud"):
        mine = [
            r for r in rows if pattern.search(str(r["gpu_model"]).upper()) and side(r) == deployment
        ]
        monitored = sum(r["paid_gpu_hours"] - r["unmonitored_gpu_hours"] for r in mine)
        useful = sum(r["active_gpu_hours"] for r in mine)
        out.append(useful / monitored if monitored else None)
    return out[0], out[1]
