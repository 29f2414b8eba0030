"""Training-run allocations into `training_runs`: a scheduler's cluster replaced by scope.

A Slurm load replaces the rows of the jobs it holds (a later sacct log of the same cluster
restates those jobs and leaves the others); a Kubernetes load, whose runs are seen hour by
hour, replaces the cluster's rows whose hours fall in the load's range.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from ingest.warehouse import delta_commit
from ingest.warehouse.load_contract import LoadResult, RunsLoad, new_load_id
from models.schema import conform
from models.training_runs import SLURM, TRAINING_RUNS

if TYPE_CHECKING:
    from ingest.warehouse.store import Store


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
        staged = store.staging_dir() / f"{load_id}-training_runs.parquet"
        frame.write_parquet(staged)
        months = frame["start"].dt.strftime("%Y-%m")
        result = LoadResult(
            load_id=load_id,
            dataset="training_runs",
            source=load.source,
            billing_account=load.cluster,
            billing_period=f"{months.min()}..{months.max()}",
            currency=None,
            rows=frame.height,
            source_total=None,
            warehouse_total=None,
            status="committed",
            table_version=None,
            files=load.files,
        )
        try:
            delta_commit.replace_rows(
                store, "training_runs", TRAINING_RUNS, staged, scope(load), result
            )
        finally:
            staged.unlink(missing_ok=True)
    return result
