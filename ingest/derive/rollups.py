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
from collections.abc import Iterator
from pathlib import Path

import duckdb

from ingest.derive import lineage, scratch
from ingest.warehouse.connection import files_view, table_select
from ingest.warehouse.load_contract import new_load_id
from ingest.warehouse.store import Store
from models import commitments
from models import rollups as contract
from models.classify import CLASS_KEYS
from models.cost_basis import CostBasis
from models.rules import EGRESS, SAAS_TOOL
from models.schema import Table
from models.settings import EngineSettings

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
LINE_COLUMNS = (
    "x_LineId", "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "ProviderName",
    "RegionName", "RegionId", "x_Source", "ServiceName", "SubAccountName", "SubAccountId",
    "BillingAccountId", "BillingCurrency", "Tags", "EffectiveCost", "BilledCost",
    "ConsumedQuantity", "ConsumedUnit", "x_UsageType", "ResourceId", "ChargeDescription",
    "x_Seats", "x_ActiveSeats", "ChargeCategory", "ServiceCategory", "PricingCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountType",
    "CommitmentDiscountCategory", "CommitmentDiscountStatus", "ListCost", "x_InstanceType",
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


def _resums() -> str:
    """The money columns of `sums()` summed again, over groups that already hold them."""
    return ", ".join(f"sum({b.value}) AS {b.value}" for b in CostBasis)


# One pass over the lines feeds five rollups: the lines grouped by every key spend_daily,
# tools_monthly, tag_daily, billed_periods and commitment_months group by, so each of those
# re-groups a few thousand rows rather than every line (sums of sums, max of maxima and
# counts of counts are exact: money is DECIMAL here). What a line needs computed is computed
# on the groups: the classes joined by their key (an integer), UTC days as day numbers (a cast
# of a timestamp with time zone per line cost more than the grouping), the period's name, the
# provider.
_GROUPS = "_rollup_groups"
_LINES = "_rollup_lines"  # each line with its x_ClassKey (a view)
_KEYS = "_rollup_keys"  # x_ClassKey with its class columns
_DAY_US = 86_400_000_000
# the commitment columns the groups keep beside the rollups' keys (commitment_months')
_COMMITMENT_KEYS = ", ".join(
    c
    for c in commitments.GROUP_COLUMNS
    if c not in ("ProviderName", "BillingCurrency", "BillingPeriodStart", "x_AiClass")
)


def _day_number(ts: str) -> str:
    """The UTC day of timestamp `ts` as days since 1970-01-01 (charges are after 1970)."""
    return f"(epoch_us({ts}) // {_DAY_US})"


def _date(day_number: str) -> str:
    return f"(DATE '1970-01-01' + CAST({day_number} AS INTEGER))"


def _groups() -> str:
    classes = ", ".join(f"k.{c}" for c in _CLASS_COLUMNS)
    return f"""
        SELECT g.* EXCLUDE (_day, _last, x_ClassKey),
               {_date("_day")} AS day,
               -- days the charge covers: a monthly fee is spread over them by the anomaly
               -- detector, not read as a spike on the 1st
               greatest(_last - _day + 1, 1) AS days,
               strftime(BillingPeriodStart, '%Y-%m') AS period, {PROVIDER} AS provider,
               {classes}
        FROM (
            SELECT {_P}, {_day_number("ChargePeriodStart")} AS _day,
                   {_day_number("ChargePeriodEnd - INTERVAL 1 MICROSECOND")} AS _last,
                   x_ClassKey, x_Source, ProviderName, RegionName, ServiceName, RegionId,
                   coalesce(SubAccountName, SubAccountId, BillingAccountId) AS account,
                   BillingCurrency, Tags, BillingAccountId, BillingPeriodStart,
                   {_COMMITMENT_KEYS}, sum(ListCost) AS list_cost,
                   {sums()}, count(*) AS lines, max(EffectiveCost) AS max_cost,
                   max(ChargePeriodEnd) AS data_until, sum(x_Seats) AS seats,
                   sum(x_ActiveSeats) AS active_seats
            FROM {_LINES} GROUP BY ALL) g
        LEFT JOIN {_KEYS} k ON k.x_ClassKey = g.x_ClassKey"""


def _spend_daily(parts: Parts) -> str:
    return f"""
        SELECT {_P}, day, provider, ProviderName AS provider_name, ServiceName AS service,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Project, '{UNSET}') AS project,
               coalesce(x_Environment, '{UNSET}') AS env, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(x_AiClass, '{UNSET}') AS ai_class,
               coalesce(x_Workload, '{UNSET}') AS workload, account,
               BillingCurrency AS currency,
               {TAGGED} AS tagged,
               days, {_resums()}, sum(lines) AS lines, max(max_cost) AS max_cost
        FROM {_GROUPS} GROUP BY ALL"""


def _egress_daily(parts: Parts) -> str:
    pair = r"regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS', ['a', 'b'])"
    return f"""
        SELECT {_P}, {_date(_day_number("ChargePeriodStart"))} AS day, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_EgressKind, '{UNSET}') AS kind, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(nullif({pair}.a, '') || ' → ' || {pair}.b,
                        coalesce(RegionId, '?') || ' → ' || coalesce(x_EgressKind, '?'))
                   AS region_pair,
               coalesce(ResourceId, '{UNSET}') AS resource, BillingCurrency AS currency,
               {sums("_gb")}, sum(_gb) AS gb
        FROM (SELECT l.*, k.x_Team, k.x_Environment, k.x_EgressKind, {PROVIDER} AS provider,
                     {GB} AS _gb
              FROM {_LINES} l JOIN {_KEYS} k ON k.x_ClassKey = l.x_ClassKey
              WHERE k.x_AiClass = '{EGRESS}')
        GROUP BY ALL"""


def _tools_monthly(parts: Parts) -> str:
    return f"""
        SELECT {_P}, CAST(date_trunc('month', day) AS DATE) AS month, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_ToolFamily, '{UNSET}') AS family,
               coalesce(ServiceName, ProviderName) AS tool, BillingCurrency AS currency,
               {_resums()}, sum(seats) AS seats, sum(active_seats) AS active_seats
        FROM {_GROUPS}
        WHERE x_AiClass = '{SAAS_TOOL}' OR x_ToolFamily IS NOT NULL OR x_Source = 'saas'
        GROUP BY ALL"""


def _tag_daily(parts: Parts) -> str:
    # Tags are JSON text: each distinct Tags value's keys are unnested once per group.
    return f"""
        WITH t AS (
            SELECT {_P}, day, provider,
                   coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
                   BillingCurrency AS currency, Tags, {_resums()}, sum(lines) AS lines
            FROM {_GROUPS} WHERE Tags IS NOT NULL GROUP BY ALL)
        SELECT {_P}, day, provider, team, env, currency, tag_key,
               json_extract_string(Tags, '$."' || replace(tag_key, '"', '') || '"') AS tag_value,
               sum(amortised) AS amortised, sum(billed) AS billed, sum(lines) AS lines
        FROM t, unnest(list_distinct(json_keys(Tags))) AS k(tag_key) GROUP BY ALL"""


def _billed_periods(parts: Parts) -> str:
    return f"""
        SELECT {_P}, x_Source AS source, BillingAccountId AS billing_account, period,
               sum(billed) AS billed, max(data_until) AS data_until
        FROM {_GROUPS} GROUP BY ALL"""


def _commitment_months(parts: Parts) -> str:
    # re-grouped from the groups, which carry the commitment columns (few values: a
    # commitment's own, and the lines' pricing): no second pass over the lines
    dims = ", ".join(commitments.GROUP_COLUMNS)
    money = ", ".join(
        [f"sum({b.value}) AS {b.column}" for b in CostBasis] + ["sum(list_cost) AS ListCost"]
    )
    return f"""
        SELECT {_P}, {dims}, {money}, sum(lines) AS lines
        FROM {_GROUPS}
        WHERE {commitments.LINES_SQL}
        GROUP BY ALL"""


def _top_lines_parts(parts: Parts) -> str:
    return "SELECT * FROM _rollup_top"  # the lines `_top_ids` picks, with their classes


SQL = {
    contract.SPEND_DAILY.name: _spend_daily,
    contract.EGRESS_DAILY.name: _egress_daily,
    contract.TOOLS_MONTHLY.name: _tools_monthly,
    contract.TAG_DAILY.name: _tag_daily,
    contract.BILLED_PERIODS.name: _billed_periods,
    contract.TOP_LINES_PARTS.name: _top_lines_parts,
    contract.COMMITMENT_MONTHS.name: _commitment_months,
}


def _typed(table: Table, select: str) -> str:
    """`select` with each column cast to its contract's type, and the partition columns."""
    cols = ", ".join(f'CAST("{c.name}" AS {c.sql_type}) AS "{c.name}"' for c in table.columns)
    return f"SELECT {cols}, {_P} FROM ({select})"


def _lines_view(con: duckdb.DuckDBPyConnection, store: Store, wanted: Parts) -> Parts:
    """Create on `con` the views `_rollup_lines` (the wanted partitions' cost lines with their
    x_ClassKey), `_rollup_keys` (the class columns of each x_ClassKey) and `_rollup_top` (the
    lines top_lines_parts keeps, with their classes and `provider`). Returns the partitions
    that hold lines (none: all restated away)."""
    cost = files_of(store, "cost_lines", wanted)
    if not cost:
        return []
    classes = {tuple(v.values()): paths for paths, v in files_of(store, "line_classes", wanted)}
    keys = table_select(con, store.table_path("class_keys"), CLASS_KEYS)
    classified = bool(classes) and keys is not None
    cols = ", ".join(f"c.{c}" for c in LINE_COLUMNS)
    lines, top = [], []
    for n, (paths, values) in enumerate(cost):
        source = files_view(con, f"_cost_{n}", paths)
        extra = "".join(f", {_sql_str(v)} AS {k}" for k, v in values.items())
        join, key = "", "CAST(NULL AS BIGINT)"
        top_join = ""
        if not classified:  # classification has not run: the classes come from the tags
            key = "c.Tags"
        elif tuple(values.values()) in classes:  # a line's id is unique in its partition
            found = files_view(con, f"_classes_{n}", classes[tuple(values.values())])
            join, key = f"LEFT JOIN {found} l ON l.x_LineId = c.x_LineId", "l.x_ClassKey"
            # the top lines' classes only: a hash of the partition's every line cost more
            # than picking the top
            top_join = (
                f"LEFT JOIN (FROM {found} SEMI JOIN _ids USING (x_LineId)) l USING (x_LineId)"
            )
        select = f"SELECT {cols}{extra}, {key} AS x_ClassKey FROM {source} c "
        lines.append(select + join)
        top.append(_top(select + (top_join or join), source))
    con.execute(f"CREATE TEMP VIEW {_LINES} AS {' UNION ALL '.join(lines)}")
    class_views(con, keys if classified else None, " UNION ALL ".join(top))
    return [values for _, values in cost]


def _top(select: str, source: str) -> str:
    """`select` (one partition's lines) kept to the costliest of `source`'s lines: a top-N of
    ids from two columns, then only those lines whole (ranking the joined lines, or a top-N
    carrying every column, took several times as long)."""
    ids = (
        f"SELECT x_LineId FROM {source} "
        f"ORDER BY EffectiveCost DESC NULLS LAST, x_LineId LIMIT {contract.TOP_LINES}"
    )
    return f"(WITH _ids AS MATERIALIZED ({ids}) {select} SEMI JOIN _ids USING (x_LineId))"


def class_views(con: duckdb.DuckDBPyConnection, keys: str | None, top: str) -> None:
    """Over `_rollup_lines`: `_rollup_keys` from `keys` (the class_keys select; None when
    classification has not run: the classes come from the tags) and `_rollup_top` from
    `top` (the costliest lines of each partition)."""
    if keys is not None:
        con.execute(f"CREATE TEMP VIEW {_KEYS} AS {keys}")
    else:
        tags = {c: _tag(t) for c, t in _TAGGED.items()}
        tags["x_Environment"] = f"coalesce({tags['x_Environment']}, {_tag('environment')})"
        picked = ", ".join(
            f"{tags[c]} AS {c}" if c in tags else f"CAST(NULL AS VARCHAR) AS {c}"
            for c in _CLASS_COLUMNS
        )
        con.execute(
            f"CREATE TEMP VIEW {_KEYS} AS SELECT DISTINCT Tags AS x_ClassKey, {picked} "
            f"FROM {_LINES} WHERE Tags IS NOT NULL"
        )
    picked = ", ".join(f"k.{c}" for c in _CLASS_COLUMNS)
    con.execute(
        f"CREATE TEMP VIEW _rollup_top AS SELECT *, {PROVIDER} AS provider FROM ("
        f"SELECT t.*, {picked} FROM ({top}) t "
        f"LEFT JOIN {_KEYS} k ON k.x_ClassKey = t.x_ClassKey)"
    )


def one_partition(con: duckdb.DuckDBPyConnection, lines: str, keys: str | None) -> dict[str, str]:
    """Every rollup of one partition's lines: `lines` selects them as `_rollup_lines` holds
    them (the cost_lines columns the rollups read, the partition's values, x_ClassKey);
    `keys` as `class_views` takes it. How an engine that hands out a partition's lines at a
    time (Spark) runs the one definition of each rollup."""
    con.execute(f"CREATE TEMP VIEW {_LINES} AS {lines}")
    class_views(con, keys, _top(f"SELECT * FROM {_LINES} c", _LINES))
    return dict(grouped(con, [{}]))


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


def refresh(store: Store, parts: set[str] | None, engine: EngineSettings | None = None) -> int:
    """Rebuild every rollup's `parts` (partition keys, `lineage.part_key`; None: all) from the
    cost lines and classes committed now, one commit per rollup recording what it was built
    from. A rollup that recorded nothing (not built yet) makes this a whole rebuild. Returns
    the lines read. The caller holds `store.writer()` and has classified the parts first.
    With `engine` spark, the lines are grouped on its session (ingest/engines/spark_rollups)."""
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
        if engine is not None and engine.name == "spark":
            from ingest.engines import spark_rollups

            lines = spark_rollups.stage(engine, store, wanted, staging)
        else:
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
        for name, select in grouped(con, held):
            # each period writes partitions of its own into the rollup's folder
            con.execute(
                f"COPY ({select}) TO $out "
                f"(FORMAT parquet, PARTITION_BY ({_P}), OVERWRITE_OR_IGNORE true)",
                {"out": str(staging / name)},
            )
        return int(con.execute(f"SELECT sum(lines) FROM {_GROUPS}").fetchall()[0][0] or 0)


def grouped(con: duckdb.DuckDBPyConnection, held: Parts) -> Iterator[tuple[str, str]]:
    """Each rollup (by name) as a select over the views `_lines_view` or `one_partition`
    made, typed by its contract, partition columns last."""
    # grouped once, re-grouped by four rollups (DuckDB spills it beyond its memory limit)
    con.execute(f"CREATE TEMP TABLE {_GROUPS} AS {_groups()}")
    for table in contract.ROLLUPS:
        yield table.name, _typed(table, SQL[table.name](held))


def rebuild_all(store: Store, engine: EngineSettings | None = None) -> int:
    """`finops classify`: every rollup rebuilt whole (takes the writer lock)."""
    with store.writer():
        return refresh(store, None, engine)


def _values(part: str) -> dict[str, str]:
    return dict(zip(PART, part.split(lineage.SEP), strict=True))
