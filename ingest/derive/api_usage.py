"""The `api_usage_parts` table (models.unit_costs.API_USAGE_PARTS): the cost lines the model
catalogue's meters can name, summed per meter text, unit, billing period, currency and source
file, and the SageMaker endpoints' hosting lines summed per endpoint ARN, one partition per
cost_lines partition. unit_costs is computed from it (a few rows a
partition), so a refresh reads the cost lines of the partitions that changed, not the history.

`refresh` rebuilds the partitions whose record differs from their sources now and drops those
whose cost lines are gone. Each commit records under `finops.built_from`, for every partition it
holds, {"cost_lines": the partition's fingerprint, "meters": the fingerprint of the catalogue's
meter patterns}: a load changes its partitions' fingerprints; a changed meter pattern changes
every partition's record, so every partition is summed again. A meter's model or what it counts,
and the API prices, do not change what is summed here (unit_costs applies them to the sums).
`finops classify` rebuilds it whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from ingest.derive import lineage, rollups, scratch
from ingest.warehouse.connection import files_select
from ingest.warehouse.load_contract import new_load_id
from ingest.warehouse.store import Store
from models.model_catalogue import Catalogue
from models.sagemaker import ENDPOINT_ARN
from models.schema import COST_LINES
from models.unit_costs import API_LINE_COLUMNS, API_USAGE_PARTS, meters_sql_filter

PART = lineage.PART
_SUMMED = ("PricingQuantity", "ConsumedQuantity", "EffectiveCost")


def inputs(store: Store, catalogue: Catalogue) -> dict[str, dict[str, str]]:
    """What each partition is built from now: its cost lines and the meter patterns."""
    meters = lineage.fingerprint([meters_sql_filter(catalogue), ENDPOINT_ARN])
    return {
        part: {"cost_lines": fp, "meters": meters}
        for part, fp in lineage.line_inputs(store.table).items()
    }


def refresh(store: Store, catalogue: Catalogue, whole: bool = False) -> int:
    """Sum again the partitions whose sources moved (`whole`: every one), one commit; returns
    the partitions rewritten. The caller holds `store.writer()`."""
    now = inputs(store, catalogue)
    table = store.table(API_USAGE_PARTS.name)
    old = lineage.recorded(table)
    parts: set[str] | None = None
    if not whole and old is not None:
        parts = {p for p in set(now) | set(old) if old.get(p) != now.get(p)}
        if not parts:
            return 0
    elif table is None and not now:
        return 0  # no cost lines: nothing to sum
    wanted = None if parts is None else [lineage.part_values(p) for p in sorted(parts)]
    staging = store.staging_dir() / f"{API_USAGE_PARTS.name}-{new_load_id()}"
    staging.mkdir()
    try:
        _stage(store, catalogue, wanted, staging)
        store.replace_derived(
            API_USAGE_PARTS.name, API_USAGE_PARTS, staging, wanted, list(PART),
            metadata=lineage.metadata(lineage.carried(old, now, parts)),
        )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(now) if parts is None else len(parts)


def _stage(
    store: Store, catalogue: Catalogue, wanted: list[dict[str, str]] | None, staging: Path
) -> None:
    """Write the sums of the wanted partitions' lines under `staging` (hive folders)."""
    snap = store.table("cost_lines")
    groups = ", ".join(f'"{c}"' for c in API_LINE_COLUMNS if c not in _SUMMED)
    sums = ", ".join(f'sum("{c}") AS "{c}"' for c in _SUMMED)
    frames = []
    with scratch.connect(store.staging_dir()) as con:
        for n, (paths, values) in enumerate(rollups.files_of(store, "cost_lines", wanted)):
            lines = files_select(con, f"_cost_{n}", paths, COST_LINES, snap)  # type: ignore[arg-type]
            # the patterns run over each distinct meter text, not over every line: a bill
            # has a few thousand texts in millions of lines
            frame = con.sql(
                f"""WITH texts AS (
                    SELECT DISTINCT x_UsageType, ServiceName, ChargeDescription FROM ({lines})
                ), meters AS (
                    SELECT * FROM texts
                    WHERE regexp_matches(concat_ws(' | ', coalesce(x_UsageType, ''),
                        coalesce(ServiceName, ''), coalesce(ChargeDescription, '')), $pattern)
                )
                SELECT {groups}, {sums}, count(*) AS lines
                FROM ({lines}) AS line SEMI JOIN meters
                ON line.x_UsageType IS NOT DISTINCT FROM meters.x_UsageType
                AND line.ServiceName IS NOT DISTINCT FROM meters.ServiceName
                AND line.ChargeDescription IS NOT DISTINCT FROM meters.ChargeDescription
                GROUP BY ALL""",
                params={"pattern": meters_sql_filter(catalogue)},
            ).pl()
            # a SageMaker endpoint's hosting lines, per ARN: its cost beside its invocations
            endpoints = con.sql(
                f"""SELECT {groups}, ResourceId, {sums}, count(*) AS lines
                FROM ({lines})  -- LIKE first: cheap, and false for nearly every line
                WHERE ResourceId LIKE 'arn:aws%:sagemaker:%:endpoint/%'
                  AND regexp_matches(ResourceId, $arn)
                GROUP BY ALL""",
                params={"arn": ENDPOINT_ARN},
            ).pl()
            frame = pl.concat([frame, endpoints], how="diagonal_relaxed")
            frames.append(frame.with_columns(pl.lit(v).alias(k) for k, v in values.items()))
        if not frames or not sum(f.height for f in frames):
            return  # no token lines: the partitions are emptied
        con.register("_sums", pl.concat(frames, how="vertical_relaxed"))
        cols = ", ".join(
            f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in API_USAGE_PARTS.columns
        )
        parts = ", ".join(PART)
        con.execute(
            f"COPY (SELECT {cols}, {parts} FROM _sums) TO $out "
            f"(FORMAT parquet, PARTITION_BY ({parts}), OVERWRITE_OR_IGNORE true)",
            {"out": str(staging)},
        )
