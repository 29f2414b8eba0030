"""A run's GPU-hours, cost, activity and idle GPU-hours from its allocations and gpu_hours
(models.training_runs), on a real DuckDB over tables built here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from models.idle import GPU_HOURS
from models.training_runs import TRAINING_RUNS, mig_slices, run_costs_sql

T0 = datetime(2026, 3, 31, 22, tzinfo=UTC)
RATE = Decimal("2.100000000000")


@pytest.mark.parametrize(
    ("profile", "slices"),
    [("1g.10gb", 1), ("1g.20gb", 1), ("2g.20gb", 2), ("3g.40gb", 3), ("4g.40gb", 4),
     ("7g.80gb", 7), ("1g.5gb", 1), ("1g.10gb+me", 1), ("1g.12gb", 1), ("7g.141gb", 7),
     ("5g.40gb", None), ("big", None), ("", None)],
)  # fmt: skip
def test_mig_profiles_are_compute_slices_of_seven(profile: str, slices: int | None) -> None:
    assert mig_slices(profile) == slices


def _hours(host: str, gpus: int, hours: int, active: list[float] | None = None) -> list[dict]:
    rows = []
    for h in range(hours):
        for g in range(gpus):
            a = None if active is None else active[h]
            rows.append({
                "hour": T0 + timedelta(hours=h), "resource_id": f"ASSET-{host}", "host": host,
                "gpu_index": g, "gpu_uuid": None, "gpu_model": "NVIDIA A100-SXM4-80GB",
                "provider": "On-prem", "source": "onprem", "deployment": "onprem",
                "team": "research", "cost": RATE, "currency": "USD", "avg_active": a,
                "max_active": a, "mem_used_mib": None, "samples": 0 if a is None else 1,
                "state": "unmonitored" if a is None else
                ("allocated_idle" if a < 0.05 else "active"),
                "idle_cost": Decimal(0), "month": f"{T0 + timedelta(hours=h):%Y-%m}",
            })  # fmt: skip
    return rows


def _run(job: str, host: str, start: datetime, end: datetime | None, gpus: int, **kw) -> dict:
    row = {c: None for c in TRAINING_RUNS.names}
    row.update(source="slurm", cluster="c1", job_id=job, name=job, team="research")
    row.update(state="COMPLETED", start=start, end=end, host=host, gpus=gpus, x_LoadId="L")
    row.update(kw)
    return row


def costs(runs: list[dict], hours: list[dict]) -> dict[str, dict]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    r = pl.DataFrame(runs, schema={c.name: c.dtype for c in TRAINING_RUNS.columns})
    h = pl.DataFrame(hours, schema={c.name: c.dtype for c in GPU_HOURS.columns})
    con.register("runs", r.to_arrow())
    con.register("hours", h.to_arrow())
    out = con.sql(
        run_costs_sql("SELECT * FROM runs", "SELECT * FROM hours"), params={"idle_below": 0.05}
    ).pl()
    return {row["job_id"]: row for row in out.iter_rows(named=True)}


def test_a_whole_node_job_across_a_month_end_takes_every_gpu_hour() -> None:
    active = [0.9, 0.9, 0.01, 0.8]
    got = costs(
        [_run("1", "gpu-01", T0, T0 + timedelta(hours=4), 8)],
        _hours("gpu-01.site.example", 8, 4, active),
    )["1"]
    assert got["gpu_hours"] == 32 and got["priced_gpu_hours"] == 32
    assert got["cost"] == RATE * 32 and got["currency"] == "USD"
    assert got["idle_gpu_hours"] == 8
    assert got["mean_active"] == pytest.approx(sum(active) / 4)


def test_half_a_node_for_half_an_hour_pays_a_quarter_of_the_node_hour() -> None:
    start = T0 + timedelta(minutes=30)
    got = costs([_run("2", "gpu-01", start, start + timedelta(minutes=30), 4)],
                _hours("gpu-01", 8, 2, [0.5, 0.5]))["2"]  # fmt: skip
    assert got["gpu_hours"] == pytest.approx(2.0) and got["gpus"] == 4
    assert got["cost"] == pytest.approx(RATE * 2, abs=Decimal("1e-9"))


def test_a_mig_slice_is_priced_and_utilised_as_its_fraction() -> None:
    runs = [
        _run("mig3", "gpu-01", T0, T0 + timedelta(hours=1), 1, source="kubernetes",
             gpu_index=0, gpu_instance=2, mig_profile="3g.40gb", mig_slices=3, avg_active=0.6),
        _run("mig3", "gpu-01", T0 + timedelta(hours=1), T0 + timedelta(hours=2), 1,
             source="kubernetes", gpu_index=0, gpu_instance=2, mig_profile="3g.40gb",
             mig_slices=3, avg_active=0.01),
        _run("mig1", "gpu-01", T0, T0 + timedelta(hours=2), 1, source="kubernetes",
             gpu_index=0, gpu_instance=9, mig_profile="1g.10gb", mig_slices=1, avg_active=0.9),
    ]  # fmt: skip
    got = costs(runs, _hours("gpu-01", 8, 2))  # the whole GPU is unmonitored: slices report
    assert got["mig3"]["gpus"] == pytest.approx(3 / 7)
    assert got["mig3"]["gpu_hours"] == pytest.approx(6 / 7)
    assert got["mig3"]["cost"] == pytest.approx(RATE * 6 / 7, abs=Decimal("1e-9"))
    assert got["mig3"]["mean_active"] == pytest.approx((0.6 + 0.01) / 2)
    assert got["mig3"]["idle_gpu_hours"] == pytest.approx(3 / 7)
    assert got["mig1"]["cost"] == pytest.approx(RATE * 2 / 7, abs=Decimal("1e-9"))
    assert got["mig1"]["unmonitored_gpu_hours"] == pytest.approx(0)


def test_a_pod_on_a_gpu_billing_never_saw_has_gpu_hours_but_no_cost() -> None:
    got = costs(
        [_run("p", "node-x", T0, T0 + timedelta(hours=3), 1, source="kubernetes",
              gpu_index=0, avg_active=0.7)],
        _hours("gpu-01", 8, 3),
    )["p"]  # fmt: skip
    assert got["gpu_hours"] == 3 and got["priced_gpu_hours"] == 0
    assert got["cost"] is None and got["currency"] is None
    assert got["mean_active"] == pytest.approx(0.7)


def test_a_running_job_counts_up_to_the_last_gpu_hour_held() -> None:
    got = costs([_run("r", "gpu-01", T0 + timedelta(hours=1), None, 8, state="RUNNING")],
                _hours("gpu-01", 8, 4, [0.9] * 4))["r"]  # fmt: skip
    assert got["end"] is None and got["gpu_hours"] == 24 and got["cost"] == RATE * 24
