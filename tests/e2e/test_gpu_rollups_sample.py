"""On the sample enterprise, the GPU rollups stored at ingest equal a direct query over
gpu_hours (and telemetry_monthly one over gpu_util), per month and currency: GPU-hours,
cost and idle cost to the cent; and the idle truths still hold."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from ingest.derive import lineage
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings

pytestmark = pytest.mark.slow  # builds the whole sample warehouse (minutes)

MONTH = "strftime({}, '%Y-%m')"
IDLE = "state IN ('allocated_idle', 'hard_idle')"


def test_sample_gpu_rollups_equal_gpu_hours_per_month_and_currency(
    sample_warehouse: Path,
) -> None:
    views.register_all(Settings())
    con = connect(sample_warehouse)

    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    direct = rows(
        "SELECT month, currency, count(*), sum(cost), sum(idle_cost), "
        f"count(*) FILTER (WHERE {IDLE}), count(*) FILTER (WHERE state = 'unmonitored') "
        "FROM gpu_hours GROUP BY ALL ORDER BY ALL"
    )
    assert len(direct) == 12 and {r[1] for r in direct} == {"USD"}  # EUR: no GPUs
    assert (
        rows(
            f"SELECT {MONTH.format('day')}, currency, sum(hours), sum(cost), sum(idle_cost), "
            "sum(hours) FILTER (WHERE idle_default), sum(hours) FILTER (WHERE bucket IS NULL) "
            "FROM gpu_buckets GROUP BY ALL ORDER BY ALL"
        )
        == direct
    )
    assert (
        rows(
            f"SELECT {MONTH.format('hour')}, currency, sum(gpus), sum(cost), "
            f"coalesce(sum(cost) FILTER (WHERE {IDLE}), 0), sum(gpus) FILTER (WHERE {IDLE}), "
            "sum(gpus) FILTER (WHERE state = 'unmonitored') "
            "FROM gpu_demand GROUP BY ALL ORDER BY ALL"
        )
        == direct
    )
    owned = (
        "SELECT gpu_model, coalesce(gpu_uuid, concat_ws('#', resource_id, "
        "CAST(gpu_index AS VARCHAR))) AS gpu_id, CAST(hour AS DATE) AS day, min(hour), "
        "max(hour) FROM gpu_hours WHERE deployment = 'onprem' GROUP BY ALL ORDER BY ALL"
    )
    got_owned = rows("SELECT * FROM gpu_owned_days ORDER BY ALL")
    assert len(got_owned) > 0 and got_owned == rows(owned)
    assert rows(
        "SELECT month, source, gpu_hours, gpus, unsampled_hours, data_until "
        "FROM telemetry_monthly ORDER BY ALL"
    ) == rows(
        "SELECT date_trunc('month', hour), source, count(*), "
        "count(DISTINCT coalesce(gpu_uuid, host || '#' || gpu_index)), "
        "count(*) FILTER (WHERE samples = 0), max(hour) + INTERVAL 1 HOUR "
        "FROM gpu_util GROUP BY ALL ORDER BY ALL"
    )
    # the sample's idle truths, from the episodes stored by month
    assert rows(
        "SELECT count(*), round(sum(cost), 2) FROM idle_episodes WHERE currency = 'USD'"
    ) == [(4474, Decimal("432238.86"))]
    assert lineage.stale(sample_warehouse, Settings()) == []


def test_sample_gpu_hours_bytes_per_row(sample_warehouse: Path) -> None:
    """gpu_hours stays small on disk: under 3 bytes a GPU-hour row on the sample (2.26 when
    measured: string columns are written as dictionaries, rows in billed-period order), so
    10,000 GPUs x a year (87.6M rows) is about 200 MB."""
    table = DeltaTable(str(sample_warehouse / "gpu_hours")).get_add_actions(flatten=True)
    size = sum(table.column("size_bytes").to_pylist())
    rows = sum(table.column("num_records").to_pylist())
    assert rows == 880_918 and size / rows < 3
