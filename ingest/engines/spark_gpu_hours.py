"""GPU-hours and idle episodes on Spark: the same rows as ingest.derive.gpu_hours, by resource.

A resource's hours, their telemetry and its idle runs depend on its own lines and telemetry
only, so Spark hands each resource (its lower-cased ResourceId, the key the DuckDB pass joins
by) to one Python task, with the telemetry that pass would match to it, and the task runs the
one implementation (`gpu_hours.write_gpu_hours`, DuckDB over the group's Arrow) on them.

Telemetry names a resource by id, or by host when its id is not a billed one; a host is the
resource's with the least key among those billed under that host name. That takes every
resource's billed periods: a first pass of tasks (`billed_hours.stage_inputs` per resource)
returns each resource's hosts, the driver picks each telemetry (id, host) pair's resource from
them, and Spark routes the telemetry rows by it. Spark writes the hours as
`x_PartMonth=YYYY-MM/` folders, and the episodes as one file, that the store commits as today.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ingest.derive import gpu_hours as db
from ingest.derive import scratch
from ingest.derive.billed_hours import stage_inputs
from ingest.engines.spark_classify import plain
from ingest.engines.spark_session import session
from models.idle import GPU_HOURS, IDLE_EPISODES, OWNED_RATES_SCHEMA
from models.settings import EngineSettings, IdleSettings

KEY = "_key"  # the resource a line or a telemetry row belongs to
TAG = "_part"  # hours or episodes, in the combined frame
HOURS, EPISODES = "h", "e"
MONTH = "x_PartMonth"


def _arrow(columns: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([plain(pa.field(c, t)) for c, t in columns.items()])


def _contract(table, extra: dict[str, pa.DataType] | None = None) -> pa.Schema:
    schema = pl.DataFrame(schema=table.polars_schema).to_arrow().schema
    return _arrow({**{f.name: f.type for f in schema}, **(extra or {})})


def _combined() -> tuple[pa.Schema, pa.Schema, pa.Schema]:
    """(hours, episodes, the frame holding both: each column prefixed by h__ or e__)."""
    hours = _contract(GPU_HOURS, {MONTH: pa.string()})
    episodes = _contract(IDLE_EPISODES)
    both = [pa.field(TAG, pa.string())]
    both += [f.with_name(f"{HOURS}__{f.name}") for f in hours]
    both += [f.with_name(f"{EPISODES}__{f.name}") for f in episodes]
    return hours, episodes, pa.schema(both)


def _connect():
    return scratch.connect(Path(tempfile.gettempdir()))


def resource_hosts(lines: pa.Table, util: pa.Table, owned: pl.DataFrame | None) -> pa.Table:
    """One resource's billed key and the (lower-cased) hosts of its billed periods, as the
    DuckDB pass stages them: (_key, host), host null when the periods name none."""
    with _connect() as con:
        con.register("_l", lines.drop_columns([KEY]))
        con.register("_u", util.drop_columns([KEY]) if KEY in util.column_names else util)
        if owned is not None:
            con.register("owned_rates", owned.cast(OWNED_RATES_SCHEMA).to_arrow())
        stage_inputs(con, "SELECT * FROM _l", "SELECT * FROM _u WHERE false", owned is not None)
        return con.sql(
            f"SELECT DISTINCT k._key AS {KEY}, lower(b.host::VARCHAR) AS host "
            "FROM _keys k LEFT JOIN _billed b USING (_kid)"
        ).to_arrow_table()


def resource_rows(
    lines: pa.Table,
    util: pa.Table,
    owned: pl.DataFrame | None,
    settings: IdleSettings,
    months: list[str] | None,
    episodes: bool,
) -> pa.Table:
    """One resource's gpu_hours rows (and with `episodes` its idle episodes), by
    `gpu_hours.write_gpu_hours`, as one frame of the `_combined` schema."""
    hours_schema, episodes_schema, combined = _combined()
    if not lines.num_rows:
        return combined.empty_table()
    folder = Path(tempfile.mkdtemp(prefix="finops-gpu-"))
    try:
        with _connect() as con:
            con.register("_l", lines.drop_columns([KEY]))
            con.register("_u", util.drop_columns([KEY]))
            hours_dir, runs = folder / "hours", folder / "episodes.parquet"
            done = db.write_gpu_hours(
                con, "SELECT * FROM _l", "SELECT * FROM _u", owned, settings, hours_dir,
                months, runs if episodes else None,
            )  # fmt: skip
            hours = _read_hours(hours_dir, hours_schema)
            if episodes and done.episodes is None:  # this resource took the general join
                con.register("_h", hours)
                db.write_idle_episodes(con, "SELECT * FROM _h", settings, runs)
        parts = [_tagged(hours, HOURS, combined)]
        if episodes:
            found = pq.read_table(runs) if runs.exists() else episodes_schema.empty_table()
            parts.append(_tagged(found.select(episodes_schema.names), EPISODES, combined))
        return pa.concat_tables(parts)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_hours(folder: Path, schema: pa.Schema) -> pa.Table:
    files = sorted(folder.rglob("*.parquet")) if folder.exists() else []
    if not files:
        return schema.empty_table()
    part = ds.partitioning(pa.schema([(MONTH, pa.string())]), flavor="hive")
    table = ds.dataset([str(f) for f in files], partitioning=part, partition_base_dir=str(folder))
    return _cast(table.to_table(), schema)


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table`'s `schema` columns as `schema` types them (DuckDB's ENUMs are dictionaries)."""
    cols = []
    for field in schema:
        col = table[field.name]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col.cast(field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _tagged(table: pa.Table, tag: str, combined: pa.Schema) -> pa.Table:
    out = {f.name: pa.nulls(table.num_rows, f.type) for f in combined}
    out[TAG] = pa.array([tag] * table.num_rows, pa.string())
    for name in table.column_names:
        field = combined.field(f"{tag}__{name}")
        col = table[name]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        out[field.name] = col.cast(field.type)
    return pa.Table.from_pydict(out, schema=combined)


def _routes(hosts: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Each telemetry (resource_id, host) pair's resource key, as `stage_inputs` matches them:
    by id when the id is a billed resource's, else by host (the least key billed under it);
    pairs neither matches are dropped, as the DuckDB pass drops them."""
    keys = hosts.select(KEY).unique()
    by_host = hosts.drop_nulls("host").group_by("host").agg(pl.col(KEY).min().alias("_hkey"))
    return (
        pairs.with_columns(
            pl.col("resource_id").str.to_lowercase().alias("_id"),
            pl.col("host").str.to_lowercase().alias("_host"),
        )
        .join(keys.rename({KEY: "_id"}).with_columns(pl.col("_id").alias("_idkey")), "_id", "left")
        .join(by_host.rename({"host": "_host"}), "_host", "left")
        .with_columns(pl.coalesce("_idkey", "_hkey").alias(KEY))
        .drop_nulls(KEY)
        .select("resource_id", "host", KEY)
    )


def write_gpu_hours(
    engine: EngineSettings,
    con: duckdb.DuckDBPyConnection,
    lines: str,
    util: str,
    owned: pl.DataFrame | None,
    settings: IdleSettings,
    path: Path,
    months: list[str] | None = None,
    episodes: Path | None = None,
    rollups: db.WeightedRollups | None = None,
    grouped: str | None = None,
) -> db.Staged:
    """`gpu_hours.write_gpu_hours` on Spark: `lines` and `util` (SQL on the driver's `con`)
    are written once to the staging folder for the session to read, then every resource's
    rows are made by one task. No rollup is staged here (`rollups` is unused): they are
    built from the staged hours. The `grouped` lines join the others: a task has one
    resource's lines, few."""
    if grouped is not None:
        lines = f"{lines} UNION ALL {grouped}"
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    staging = path.parent
    tag = uuid.uuid4().hex
    files = {name: staging / f"spark-{name}-{tag}.parquet" for name in ("lines", "util")}
    try:
        for name, select in (("lines", lines), ("util", util)):  # one file, even of no rows
            con.execute(f"COPY ({select}) TO $out (FORMAT parquet)", {"out": str(files[name])})
        spark = session(engine)
        gpu = spark.read.parquet(str(files["lines"])).withColumn(KEY, F.lower("ResourceId"))
        gpu = gpu.where(F.col(KEY).isNotNull())  # the DuckDB pass joins no line without one
        telemetry = spark.read.parquet(str(files["util"]))
        empty_util = pq.read_schema(files["util"]).empty_table()

        def hosts_of(batch: pa.Table) -> pa.Table:
            found = resource_hosts(batch, empty_util, owned)
            key = pa.array([batch[KEY][0].as_py()] * found.num_rows, pa.string())
            return pa.table({KEY: key, "host": found["host"].cast(pa.string())})

        with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow skips
            warnings.simplefilter("ignore", FutureWarning)
            hosts = pl.from_arrow(
                gpu.groupBy(KEY).applyInArrow(hosts_of, f"{KEY} string, host string").toArrow()
            )
            pairs = pl.from_arrow(telemetry.select("resource_id", "host").distinct().toArrow())
            assert isinstance(hosts, pl.DataFrame) and isinstance(pairs, pl.DataFrame)
            routes = _routes(hosts, pairs)
            routed = telemetry.join(
                F.broadcast(spark.createDataFrame(routes.to_arrow())).withColumnsRenamed(
                    {"resource_id": "_r", "host": "_ho"}
                ),
                telemetry["resource_id"].eqNullSafe(F.col("_r"))
                & telemetry["host"].eqNullSafe(F.col("_ho")),
            ).drop("_r", "_ho")
            billed = spark.createDataFrame(hosts.select(KEY).unique().to_arrow())
            gpu = gpu.join(F.broadcast(billed), KEY, "left_semi")
            hours_schema, episodes_schema, combined = _combined()
            wanted = episodes is not None and months is None

            def rows_of(left: pa.Table, right: pa.Table) -> pa.Table:
                return resource_rows(left, right, owned, settings, months, wanted)

            out = (
                gpu.groupBy(KEY)
                .cogroup(routed.groupBy(KEY))
                .applyInArrow(rows_of, from_arrow_schema(combined))
                .persist()
            )
            try:
                hours = out.where(F.col(TAG) == HOURS).select(
                    *(F.col(f"`{HOURS}__{c}`").alias(c) for c in hours_schema.names)
                )
                hours.write.mode("overwrite").partitionBy(MONTH).parquet(str(path))
                rows = hours.count()
                staged = None
                if wanted:
                    found = out.where(F.col(TAG) == EPISODES).select(
                        *(F.col(f"`{EPISODES}__{c}`").alias(c) for c in episodes_schema.names)
                    )
                    table = found.toArrow().cast(episodes_schema)
                    assert episodes is not None
                    pq.write_table(table, episodes)
                    staged = table.num_rows
            finally:
                out.unpersist()
        return db.Staged(int(rows), staged)
    finally:
        for file in files.values():
            file.unlink(missing_ok=True)
