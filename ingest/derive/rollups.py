"""The rollups the dashboard reads (models/rollups.py), built at ingest from the classified lines.

Each rollup is a derived Delta table partitioned like cost_lines; `refresh` rebuilds the
partitions a load committed (or that were re-classified, or found stale) from those cost_lines
partitions joined to their line_classes, and replaces exactly them, one commit per rollup.
Each commit records under `finops.built_from` the cost_lines and line_classes fingerprints of
every partition it holds (ingest.derive.lineage), so `lineage.stale()` finds a partition
rebuilt from other data since. One definition of each rollup's SQL lives here; the dashboard
imports `UNSET`, `PROVIDER`, `GB` and `sums` from here when its line-level reads need them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from ingest.derive import lineage, scratch
from ingest.derive.line_classes import files_source
from ingest.warehouse.connection import files_view, table_select
from ingest.warehouse.load_contract import new_load_id
from ingest.warehouse.store import Store
from models import rollups as contract
from models.classify import CLASS_KEYS
from models.cost_basis import CostBasis
from models.rules import EGRESS, SAAS_TOOL
from models.schema import Table

PART = lineage.PART
UNSET = "(not set)"
# The provider a page shows: on-prem sites apart, clouds by name.
PROVIDER = (
    "CASE WHEN x_Source = 'onprem' THEN ProviderName || coalesce(' · ' || RegionName, '') "
    "ELSE ProviderName END"
)
# Gigabytes moved, from the units the exports use: GB (AWS, FOCUS), "1 GB" or "10 GB" blocks
# (Azure), gibibyte (GCP); NULL for other units, such as a NAT gateway's hours.
_BLOCK = r"coalesce(TRY_CAST(regexp_extract(ConsumedUnit, '^\s*(\d+)\s', 1) AS DOUBLE), 1)"
GB = rf"""(CAST(ConsumedQuantity AS DOUBLE) * {_BLOCK} * CASE
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(GB|gigabytes?)\s*$', 'i') THEN 1
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(GiB|gibibytes?)\s*$', 'i') THEN 1.073741824
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(TB|terabytes?)\s*$', 'i') THEN 1000
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(TiB|tebibytes?)\s*$', 'i')
      THEN 1099.511627776
    END)"""

# cost_lines columns the rollups read, and the class columns joined to them
_LINE_COLUMNS = (
    "x_LineId", "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "ProviderName",
    "RegionName", "RegionId", "x_Source", "ServiceName", "SubAccountName", "SubAccountId",
    "BillingAccountId", "BillingCurrency", "Tags", "EffectiveCost", "BilledCost",
    "ConsumedQuantity", "ConsumedUnit", "x_UsageType", "ResourceId", "ChargeDescription",
    "x_Seats", "x_ActiveSeats",
)  # fmt: skip
_CLASS_COLUMNS = (
    "x_Team", "x_Project", "x_Environment", "x_AiClass", "x_Workload", "x_EgressKind",
    "x_ToolFamily",
)  # fmt: skip
_P = ", ".join(PART)
Parts = list[dict[str, str]]  # partitions by their stored values
_TAGGED = {"x_Team": "team", "x_Project": "project", "x_Environment": "env"}


def _tag(key: str) -> str:
    return f"nullif(json_extract_string(Tags, '$.{key}'), '')"


# The one rule of "untagged spend": a line is tagged when its tags give `team` a value (an
# empty one is none). Untagged spend is the cost of the other lines, credits included.
TAGGED = f"({_tag('team')} IS NOT NULL)"


def sums(gb: str | None = None) -> str:
    """One money column per cost basis, named by it (`amortised`, `billed`); with `gb`, also
    each basis' cost of the lines billed by volume (`gb_amortised`, `gb_billed`)."""
    out = [f"sum({b.column}) AS {b.value}" for b in CostBasis]
    if gb:
        out += [
            f"sum({b.column}) FILTER (WHERE {gb} IS NOT NULL) AS gb_{b.value}" for b in CostBasis
        ]
    return ", ".join(out)


def _spend_daily(lines: str, parts: Parts) -> str:
    return f"""
        SELECT {_P}, CAST(ChargePeriodStart AS DATE) AS day, provider,
               ProviderName AS provider_name, ServiceName AS service,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Project, '{UNSET}') AS project,
               coalesce(x_Environment, '{UNSET}') AS env, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(x_AiClass, '{UNSET}') AS ai_class,
               coalesce(x_Workload, '{UNSET}') AS workload,
               coalesce(SubAccountName, SubAccountId, BillingAccountId) AS account,
               BillingCurrency AS currency,
               {TAGGED} AS tagged,
               -- days the charge covers: a monthly fee is spread over them by the anomaly
               -- detector, not read as a spike on the 1st
               greatest(date_diff('day', CAST(ChargePeriodStart AS DATE),
                                  CAST(ChargePeriodEnd - INTERVAL 1 MICROSECOND AS DATE)) + 1, 1)
                   AS days,
               {sums()}, count(*) AS lines, max(EffectiveCost) AS max_cost
        FROM {lines} GROUP BY ALL"""


def _egress_daily(lines: str, parts: Parts) -> str:
    pair = r"regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS', ['a', 'b'])"
    return f"""
        SELECT {_P}, CAST(ChargePeriodStart AS DATE) AS day, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_EgressKind, '{UNSET}') AS kind, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(nullif({pair}.a, '') || ' → ' || {pair}.b,
                        coalesce(RegionId, '?') || ' → ' || coalesce(x_EgressKind, '?'))
                   AS region_pair,
               coalesce(ResourceId, '{UNSET}') AS resource, BillingCurrency AS currency,
               {sums("_gb")}, sum(_gb) AS gb
        FROM (SELECT *, {GB} AS _gb FROM {lines} WHERE x_AiClass = '{EGRESS}')
        GROUP BY ALL"""


def _tools_monthly(lines: str, parts: Parts) -> str:
    return f"""
        SELECT {_P}, CAST(date_trunc('month', ChargePeriodStart) AS DATE) AS month, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_ToolFamily, '{UNSET}') AS family,
               coalesce(ServiceName, ProviderName) AS tool, BillingCurrency AS currency,
               {sums()}, sum(x_Seats) AS seats, sum(x_ActiveSeats) AS active_seats
        FROM {lines}
        WHERE x_AiClass = '{SAAS_TOOL}' OR x_ToolFamily IS NOT NULL OR x_Source = 'saas'
        GROUP BY ALL"""


def _tag_daily(lines: str, parts: Parts) -> str:
    # Tags are JSON text: each distinct Tags value's keys are unnested once per group.
    return f"""
        WITH t AS (
            SELECT {_P}, CAST(ChargePeriodStart AS DATE) AS day, provider,
                   coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
                   BillingCurrency AS currency, Tags, {sums()}, count(*) AS lines
            FROM {lines} WHERE Tags IS NOT NULL GROUP BY ALL)
        SELECT {_P}, day, provider, team, env, currency, tag_key,
               json_extract_string(Tags, '$."' || replace(tag_key, '"', '') || '"') AS tag_value,
               sum(amortised) AS amortised, sum(billed) AS billed, sum(lines) AS lines
        FROM t, unnest(list_distinct(json_keys(Tags))) AS k(tag_key) GROUP BY ALL"""


def _billed_periods(lines: str, parts: Parts) -> str:
    return f"""
        SELECT {_P}, x_Source AS source, BillingAccountId AS billing_account,
               strftime(BillingPeriodStart, '%Y-%m') AS period, sum(BilledCost) AS billed,
               max(ChargePeriodEnd) AS data_until
        FROM {lines} GROUP BY ALL"""


def _top_lines_parts(lines: str, parts: Parts) -> str:
    # A top-N of ids and costs per partition, then their rows: a window over every line, or
    # a top-N carrying every column, took several times as long.
    ids = " UNION ALL ".join(
        f"""(SELECT x_LineId, {_P} FROM {lines}
             WHERE {" AND ".join(f"{k} = {_sql_str(v)}" for k, v in part.items())}
             ORDER BY EffectiveCost DESC NULLS LAST, x_LineId LIMIT {contract.TOP_LINES})"""
        for part in parts
    )
    return f"SELECT * FROM {lines} SEMI JOIN ({ids}) AS ids USING (x_LineId, {_P})"


SQL = {
    contract.SPEND_DAILY.name: _spend_daily,
    contract.EGRESS_DAILY.name: _egress_daily,
    contract.TOOLS_MONTHLY.name: _tools_monthly,
    contract.TAG_DAILY.name: _tag_daily,
    contract.BILLED_PERIODS.name: _billed_periods,
    contract.TOP_LINES_PARTS.name: _top_lines_parts,
}


def _typed(table: Table, select: str) -> str:
    """`select` with each column cast to its contract's type, and the partition columns."""
    cols = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in table.columns)
    return f"SELECT {cols}, {_P} FROM ({select})"


def _lines_view(con: duckdb.DuckDBPyConnection, store: Store, wanted: Parts | None) -> Parts:
    """Create `_rollup_lines` on `con`: the wanted partitions' cost lines with their classes
    and `provider`. Returns the partitions that hold lines (none: all restated away)."""
    cost = files_of(store, "cost_lines", wanted)
    if not cost:
        return []
    con.execute(f"CREATE TEMP VIEW _rollup_cost AS {files_source(con, cost, _LINE_COLUMNS)}")
    classes = files_of(store, "line_classes", wanted)
    keys = table_select(con, store.table_path("class_keys"), CLASS_KEYS)
    picked = ", ".join(f"k.{c}" for c in _CLASS_COLUMNS)
    if classes and keys is not None:
        con.execute(f"CREATE TEMP VIEW _rollup_classes AS {_classes_source(con, classes)}")
        joined = (
            f"SELECT c.*, {picked} FROM _rollup_cost c "
            f"LEFT JOIN _rollup_classes l ON l.x_LineId = c.x_LineId "
            + "".join(f"AND l.{p} = c.{p} " for p in PART)
            + f"LEFT JOIN ({keys}) k ON k.x_ClassKey = l.x_ClassKey"
        )
    else:  # classification has not run: team, project and environment from the tags
        tags = {c: _tag(t) for c, t in _TAGGED.items()}
        tags["x_Environment"] = f"coalesce({tags['x_Environment']}, {_tag('environment')})"
        picked = ", ".join(
            f"{tags[c]} AS {c}" if c in tags else f"CAST(NULL AS VARCHAR) AS {c}"
            for c in _CLASS_COLUMNS
        )
        joined = f"SELECT c.*, {picked} FROM _rollup_cost c"
    con.execute(
        f"CREATE TEMP VIEW _rollup_lines AS SELECT *, {PROVIDER} AS provider FROM ({joined})"
    )
    return [values for _, values in cost]


def _classes_source(
    con: duckdb.DuckDBPyConnection, files: list[tuple[list[str], dict[str, str]]]
) -> str:
    """line_classes' files of the wanted partitions, with their partition values (under view
    names of their own: `files_source` names the cost lines' views `_files_<n>`)."""
    selects = []
    for n, (paths, constants) in enumerate(files):
        source = files_view(con, f"_classes_{n}", paths)
        extra = "".join(f", {_sql_str(v)} AS {k}" for k, v in constants.items())
        selects.append(f"SELECT x_LineId, x_ClassKey{extra} FROM {source}")
    return " UNION ALL ".join(selects)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def files_of(
    store: Store, dataset: str, wanted: list[dict[str, str]] | None
) -> list[tuple[list[str], dict[str, str]]]:
    """The data files of `dataset`'s wanted partitions, grouped with their values."""
    table = store.table(dataset)
    if table is None:
        return []
    actions = store.partition_files(table, list(PART), wanted)
    if not actions.height:
        return []
    cols = [f"partition.{p}" for p in PART]
    root = store.table_path(dataset)
    out = []
    for values, group in actions.group_by(cols, maintain_order=True):
        paths = [str(root / p) for p in group["path"].to_list()]
        out.append((paths, dict(zip(PART, (str(v) for v in values), strict=True))))
    return out


def refresh(store: Store, parts: set[str] | None) -> int:
    """Rebuild every rollup's `parts` (partition keys, `lineage.part_key`; None: all) from the
    cost lines and classes committed now, one commit per rollup recording what it was built
    from. A rollup that recorded nothing (not built yet) makes this a whole rebuild. Returns
    the lines read. The caller holds `store.writer()` and has classified the parts first."""
    if store.table("cost_lines") is None:
        return 0
    tables = {t.name: store.table(t.name) for t in contract.ROLLUPS}
    if parts is not None and any(lineage.recorded(t) is None for t in tables.values()):
        parts = None  # first built, or before records were kept: whole, all recorded
    if parts is not None and not parts:
        return 0
    wanted = None if parts is None else [_values(p) for p in sorted(parts)]
    now = lineage.rollup_inputs(store.table)
    staging = store.staging_dir() / f"rollups-{new_load_id()}"
    staging.mkdir()
    lines = 0
    try:
        for period in _by_period(store, wanted):  # memory follows one month, not the table
            lines += _stage(store, period, staging)
        for table in contract.ROLLUPS:
            staged = staging / table.name
            staged.mkdir(parents=True, exist_ok=True)  # no rows: the parts are emptied
            record = lineage.carried(lineage.recorded(tables[table.name]), now, parts)
            store.replace_derived(
                table.name, table, staged, wanted, list(PART),
                metadata=lineage.metadata(record),
            )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return lines


def _by_period(store: Store, wanted: Parts | None) -> list[Parts]:
    """The wanted partitions (None: every cost_lines partition), a billing period at a time."""
    if wanted is None:
        wanted = [values for _, values in files_of(store, "cost_lines", None)]
    periods: dict[str, Parts] = {}
    for part in wanted:
        periods.setdefault(part[PART[-1]], []).append(part)
    return [periods[p] for p in sorted(periods)]


def _stage(store: Store, wanted: Parts, staging: Path) -> int:
    """Write the rollups of `wanted` under `staging/<rollup>/`; returns the lines read."""
    with scratch.connect(store.staging_dir()) as con:
        held = _lines_view(con, store, wanted)
        if not held:
            return 0
        # joined once, read by every rollup (DuckDB spills it beyond its memory limit)
        con.execute("CREATE TEMP TABLE _rollup_rows AS SELECT * FROM _rollup_lines")
        lines = int(con.execute("SELECT count(*) FROM _rollup_rows").fetchall()[0][0])
        for table in contract.ROLLUPS:
            select = _typed(table, SQL[table.name]("_rollup_rows", held))
            # each period writes partitions of its own into the rollup's folder
            con.execute(
                f"COPY ({select}) TO $out "
                f"(FORMAT parquet, PARTITION_BY ({_P}), OVERWRITE_OR_IGNORE true)",
                {"out": str(staging / table.name)},
            )
    return lines


def rebuild_all(store: Store) -> int:
    """`finops classify`: every rollup rebuilt whole (takes the writer lock)."""
    with store.writer():
        return refresh(store, None)


def _values(part: str) -> dict[str, str]:
    return dict(zip(PART, part.split(lineage.SEP), strict=True))
