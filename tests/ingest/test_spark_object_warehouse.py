"""`finops --engine spark` on a warehouse in object storage (moto's S3 server): Spark's tasks
read the Delta snapshot's files from the bucket, the store commits to it, and every command
that reads it (`finops query`, `finops report`, the dashboard) answers as on the same input
built by the default engine in a folder. A local Spark session starts a JVM per command:
`heavy`. Each command runs as `finops` does, in a child process with a planted secret."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from models.rollups import ROLLUPS
from tests.fixtures.object_warehouse import (
    TOTALS,
    bucket,
    no_secret_stored,
    ok,
    overviews_agree,
    rows,
)
from tests.fixtures.paths import SAMPLE_DATA

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.heavy, pytest.mark.timeout(2400)]

PERIOD = "2026-03"  # one month of the sample's CUR 2.0 export: GPU, egress, tools lines
# derived tables compared whole, row for row (they hold no load id or build time)
WHOLE = [r.name for r in ROLLUPS] + ["gpu_hours", "idle_episodes", "class_keys"]
CLASSES = (
    "select x_AiClass, BillingCurrency, count(*) as n, sum(BilledCost) as billed, "
    "sum(EffectiveCost) as effective from classified_costs group by all order by all"
)


def _export(tmp_path: Path) -> Path:
    """The sample's AWS Data Exports folder with one period's delivery."""
    source = SAMPLE_DATA / "aws" / "acme-cur2"
    export = tmp_path / "export" / source.name
    for kind in ("data", "metadata"):
        shutil.copytree(source / kind / f"BILLING_PERIOD={PERIOD}",
                        export / kind / f"BILLING_PERIOD={PERIOD}")  # fmt: skip
    return export


def _source_totals(export: Path) -> tuple[int, Decimal]:
    """Lines and unblended cost read straight from the delivered Parquet, not through finops,
    so the expectation follows the sample when it is regenerated."""
    files = str(export / "data" / f"BILLING_PERIOD={PERIOD}" / "*" / "*.parquet")
    with duckdb.connect() as con:
        lines, billed = con.execute(
            "select count(*), sum(line_item_unblended_cost::decimal(38, 10)) from read_parquet(?)",
            [files],
        ).fetchone()
    return lines, round(billed, 2)


def test_spark_on_s3_answers_as_the_default_engine_in_a_folder(
    s3: str, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = _export(tmp_path)
    warehouse = bucket(s3, "finops-spark")
    local = str(tmp_path / "local")
    said = ok(env, "--warehouse", warehouse, "--engine", "spark", "ingest", "aws", str(export))
    assert "status committed" in said and "difference 0.00" in said, said
    ok(env, "--warehouse", local, "ingest", "aws", str(export))

    totals = rows(env, warehouse, TOTALS)
    assert totals == rows(env, local, TOTALS)
    lines, billed = _source_totals(export)
    assert [(t["BillingCurrency"], t["period"], t["lines"]) for t in totals] == [
        ("USD", PERIOD, lines)
    ]
    assert round(Decimal(str(totals[0]["billed"])), 2) == billed, totals
    classes = rows(env, warehouse, CLASSES)
    assert classes == rows(env, local, CLASSES)
    assert {c["x_AiClass"] for c in classes} >= {"gpu_compute"}, classes
    for table in WHOLE:
        sql = f"select * from {table} order by all"
        assert rows(env, warehouse, sql) == rows(env, local, sql), table
    (hours,) = rows(env, warehouse, "select count(*) as n, sum(cost) as cost from gpu_hours")
    assert hours["n"] > 0, hours

    packs = []
    for where, name in ((warehouse, "s3"), (local, "local")):
        said = ok(env, "--warehouse", where, "report", "--month", PERIOD, "--format", "csv",
                  "--out", str(tmp_path / name))  # fmt: skip
        packs.append([line for line in said.splitlines() if "total billed" in line])
    assert packs[0] == packs[1] and packs[0], packs
    no_secret_stored(env, warehouse)

    overviews_agree(monkeypatch, env, warehouse, local)
