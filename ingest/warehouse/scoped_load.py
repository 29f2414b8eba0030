"""Loads that replace rows by scope rather than by partition: a telemetry ingest's GPU-hours
(its source, hosts and hour range), a serving-metrics ingest's usage (the same scope), an
inventory's assets (its sites), and a scheduler's training runs (a Slurm cluster's jobs: a later
sacct log restates those jobs and leaves the others; a Kubernetes cluster's hours, since its
runs are seen hour by hour).

The reader says what the rows are and which hosts, hours or sites they cover (load_contract);
this module turns that scope into the Delta predicate and builds the LoadResults.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from ingest.warehouse import delta_commit
from ingest.warehouse.load_contract import (
    AssetsLoad,
    HourlyLoad,
    LoadResult,
    RunsLoad,
    ServingLoad,
    SourceFile,
    new_load_id,
)
from models.schema import ASSETS, GPU_UTIL, Table, conform
from models.serving import SERVING_USAGE
from models.training_runs import SLURM, TRAINING_RUNS

if TYPE_CHECKING:
    from ingest.warehouse.store import Store


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# rows in a stable order, so the same samples write the same files
_ORDER = {
    GPU_UTIL.name: ["host", "gpu_index", "gpu_uuid", "hour"],
    SERVING_USAGE.name: ["host", "model", "namespace", "pod", "hour"],
}


def to_gpu_util(
    rows: pl.DataFrame | pl.LazyFrame, source: str, load_id: str, table: Table = GPU_UTIL
) -> pl.DataFrame:
    frame = rows.lazy().with_columns(
        pl.lit(source).alias("source"), pl.lit(load_id).alias("x_LoadId")
    )
    return conform(frame, table).sort(_ORDER[table.name]).collect()


def hours_predicate(
    month: str, source: str, hosts: list[str], first: datetime, last: datetime
) -> str:
    """The rows of one month a telemetry load replaces: its source, hosts and hour range."""
    return (
        f"x_PartMonth = {_quote(month)} AND source = {_quote(source)} "
        f"AND host IN ({', '.join(_quote(h) for h in hosts)}) "
        f"AND hour >= '{first:%Y-%m-%dT%H:%M:%SZ}' "
        f"AND hour < '{last + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}'"
    )


def _in_namespace(load: HourlyLoad | ServingLoad) -> str:
    """The load's namespace, when it replaces only that one's rows."""
    namespace = load.namespace if isinstance(load, ServingLoad) else None
    return f" AND namespace = {_quote(namespace)}" if namespace is not None else ""


def _commit(
    store: Store,
    table: Table,
    frame: pl.DataFrame,
    load_id: str,
    source: str,
    account: str,
    period: str,
    files: list[SourceFile],
    predicate: str,
    partition_by: list[str] | None = None,
    constants: dict[str, str] | None = None,
) -> LoadResult:
    """Stage `frame` and commit it into `table` in place of the rows `predicate` matches,
    with its loads record; the staged file is removed whatever happens."""
    staged = store.staging_dir() / f"{load_id}-{table.name}.parquet"
    frame.write_parquet(staged)
    result = LoadResult(
        load_id=load_id, dataset=table.name, source=source, billing_account=account,
        billing_period=period, currency=None, rows=frame.height, source_total=None,
        warehouse_total=None, status="committed", table_version=None, files=files,
    )  # fmt: skip
    try:
        delta_commit.replace_rows(
            store, table.name, table, staged, predicate, result, partition_by, constants
        )
    finally:
        staged.unlink(missing_ok=True)
    return result


def load_gpu_util(store: Store, load: HourlyLoad) -> list[LoadResult]:
    """Replace this source's rows for exactly these hosts and hour range, one commit a month.

    Re-ingesting the same samples gives the same rows; other hosts, other sources and hours
    outside the range are untouched.
    """
    return load_hourly(store, load, GPU_UTIL)


def load_serving_usage(store: Store, load: ServingLoad) -> list[LoadResult]:
    """Serving usage, replaced like GPU-hours: by source, hosts and hour range, by month (and
    namespace, when the load names one: a SageMaker region)."""
    return load_hourly(store, load, SERVING_USAGE)


def load_hourly(store: Store, load: HourlyLoad | ServingLoad, table: Table) -> list[LoadResult]:
    if load.rows.height == 0:
        return []
    results = []
    months = load.rows.with_columns(pl.col("hour").dt.strftime("%Y-%m").alias("_m"))
    with store.writer():
        for month in sorted(set(months["_m"])):
            part = months.filter(pl.col("_m") == month)
            load_id = new_load_id()
            frame = to_gpu_util(part.drop("_m"), load.source, load_id, table)
            hosts = sorted(set(frame["host"]))
            first: datetime = frame["hour"].min()  # type: ignore[assignment]
            last: datetime = frame["hour"].max()  # type: ignore[assignment]
            result = _commit(
                store, table, frame, load_id, load.source, f"{len(hosts)} host(s)",
                str(month), load.files,
                hours_predicate(str(month), load.source, hosts, first, last)
                + _in_namespace(load),
                partition_by=["x_PartMonth"], constants={"x_PartMonth": str(month)},
            )  # fmt: skip
            results.append(result)
    return sorted(results, key=lambda r: r.billing_period)


def load_assets(store: Store, load: AssetsLoad) -> LoadResult:
    """Replace the assets of the load's sites with its rows (one commit)."""
    with store.writer():
        load_id = new_load_id()
        frame = load.rows.with_columns(pl.lit(load_id).alias("x_LoadId")).select(ASSETS.names)
        sites = ", ".join(_quote(s) for s in load.sites)
        result = _commit(
            store, ASSETS, frame, load_id, load.source, ",".join(load.sites), "-", load.files,
            f"site IN ({sites})",
        )  # fmt: skip
    return result


def _stamp(t: datetime) -> str:
    return f"'{t:%Y-%m-%dT%H:%M:%S.%fZ}'"


def scope(load: RunsLoad) -> str:
    """The rows the load replaces, as a Delta predicate of quoted values."""
    where = f"source = {_quote(load.source)} AND cluster = {_quote(load.cluster)}"
    if load.source == SLURM:
        jobs = sorted(set(load.rows["job_id"]))
        return f"{where} AND job_id IN ({', '.join(_quote(j) for j in jobs)})"
    first: datetime = load.rows["start"].min()  # type: ignore[assignment]
    last: datetime = load.rows["start"].max()  # type: ignore[assignment]
    return f"{where} AND start >= {_stamp(first)} AND start <= {_stamp(last)}"


def load_training_runs(store: Store, load: RunsLoad) -> LoadResult | None:
    """Replace the load's scope with its rows (one commit); None when it has no rows."""
    if load.rows.height == 0:
        return None
    with store.writer():
        load_id = new_load_id()
        frame = (
            conform(load.rows.lazy().with_columns(pl.lit(load_id).alias("x_LoadId")), TRAINING_RUNS)
            .sort("job_id", "host", "gpu_index", "gpu_instance", "start")
            .collect()
        )
        months = frame["start"].dt.strftime("%Y-%m")
        return _commit(
            store, TRAINING_RUNS, frame, load_id, load.source, load.cluster,
            f"{months.min()}..{months.max()}", load.files, scope(load),
        )  # fmt: skip
