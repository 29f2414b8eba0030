"""The month's lines, read once: a temporary table every section queries.

The pack reads `classified_costs` when the classification layer provides it, else
`cost_lines` with team/project/cost centre taken from the tags and the AI class left
unknown (the notes say so). The month (and the one before, for month over month) is
aggregated once into a temporary table at the grain the sections need, so a dozen section
queries read a few thousand rows instead of scanning the warehouse a dozen times, and tags
are parsed once per distinct value rather than once per line.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from dashboard.report.model import Month
from models.cost_basis import CostBasis
from models.errors import InputError

LINES = "report_lines"
# The staged column summing each basis' FOCUS column (models.cost_basis).
_AMOUNTS = {CostBasis.AMORTISED: "effective", CostBasis.BILLED: "billed"}


def amount(basis: CostBasis) -> str:
    """The column of the staged month that holds `basis` (both months have both)."""
    return _AMOUNTS[basis]


@dataclass(frozen=True)
class Sources:
    """Which optional views the warehouse offers this time."""

    classified: bool
    gpu_hours: bool
    unit_costs: bool = False

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection) -> Sources:
        names = {
            r[0]
            for r in con.sql(
                "select view_name from duckdb_views() where not internal "
                "union all select table_name from duckdb_tables()"
            ).fetchall()
        }
        return cls(
            classified="classified_costs" in names,
            gpu_hours="gpu_hours" in names,
            unit_costs="unit_costs" in names,
        )


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params or {}).pl()


def _tag(key: str) -> str:
    path = key if key.isidentifier() else f'"{key}"'
    return f"nullif(trim(json_extract_string(Tags, '$.{path}')), '')"


def _tags_valid() -> str:
    return "(Tags is not null and json_valid(Tags))"


def _from_tags(*keys: str) -> str:
    return f"case when {_tags_valid()} then coalesce({', '.join(_tag(k) for k in keys)}) end"


# Grain of the staged month: every column a section groups or filters by (never per resource).
# Previous-month rows keep only what month over month needs; the rest is null for them.
_DETAIL = {
    "sub_account": "SubAccountName",
    "category": "ChargeCategory",
    "service": "ServiceName",
    "publisher": "PublisherName",
    "commitment_id": "CommitmentDiscountId",
    "commitment_name": "CommitmentDiscountName",
    "commitment_category": "CommitmentDiscountCategory",
    "commitment_type": "CommitmentDiscountType",
    "commitment_status": "CommitmentDiscountStatus",
    "cost_model": "x_CostModel",
    "charge_day": "cast(ChargePeriodStart as date)",
}
_DETAIL_SUMS = {
    "seats": "cast(sum(x_Seats) as bigint)",
    "active_seats": "cast(sum(x_ActiveSeats) as bigint)",
}


def _cube(table: str, classified: bool, detail: bool) -> str:
    keys = {
        "provider": "ProviderName",
        "source": "x_Source",
        "account": "BillingAccountId",
        "currency": "BillingCurrency",
        "site": "coalesce(SubAccountName, RegionName, BillingAccountName, BillingAccountId)",
        "tags": "Tags",
    }
    for name, column in (("x_team", "x_Team"), ("x_project", "x_Project"),
                         ("ai_class", "x_AiClass"), ("egress_kind", "x_EgressKind"),
                         ("tool_family", "x_ToolFamily"), ("workload", "x_Workload"),
                         ("environment", "x_Environment")):  # fmt: skip
        keys[name] = column if classified else "cast(null as varchar)"
    for name, column in _DETAIL.items():
        null = "cast(null as date)" if name == "charge_day" else "cast(null as varchar)"
        keys[name] = column if detail else null
    sums = {_AMOUNTS[b]: f"sum({b.column})" for b in CostBasis} | {"lines": "count(*)"}
    for name, expr in _DETAIL_SUMS.items():
        sums[name] = expr if detail else "cast(null as bigint)"
    cols = [f"{e} as {n}" for n, e in keys.items()] + [f"{e} as {n}" for n, e in sums.items()]
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))  # period, then the keys
    return (
        f"select $period as period, {', '.join(cols)} from {table} "
        f"where BillingPeriodStart >= $start and BillingPeriodStart < $end group by {group}"
    )


def stage(con: duckdb.DuckDBPyConnection, month: Month, sources: Sources) -> None:
    """Aggregate the month (and, coarser, the month before) into the temporary `report_lines`.

    One pass over each month's lines; sections then query a table of a few thousand rows.
    `lines` counts the billing lines behind each row.
    """
    table = "classified_costs" if sources.classified else "cost_lines"
    con.execute(f"drop table if exists {LINES}_raw")
    con.execute(f"drop table if exists {LINES}")
    for m, detail in ((month, True), (month.shift(-1), False)):
        sql = _cube(table, sources.classified, detail)
        verb = f"create temp table {LINES}_raw as" if detail else f"insert into {LINES}_raw"
        con.execute(f"{verb} {sql}", {"period": str(m), "start": m.start, "end": m.end})
    team = _from_tags("team")
    project = _from_tags("project")
    centre = _from_tags("cost_centre", "cost_center", "cost-center", "costcenter", "CostCenter")
    con.execute(
        f"""
        create temp table {LINES} as
        select * exclude (x_team, x_project, tags, site),
               case when source = 'onprem' and site <> provider then provider || ' / ' || site
                    else provider end as provider_site,
               coalesce(nullif(x_team, ''), {team}) as team,
               coalesce(nullif(x_project, ''), {project}) as project,
               {centre} as cost_centre
        from {LINES}_raw  -- identifiers are case-insensitive: Tags is the tags column
        """
    )
    con.execute(f"drop table {LINES}_raw")


def stage_reconciliation(con: duckdb.DuckDBPyConnection, month: Month) -> None:
    """Only what the reconciliation section reads, into `report_lines`: the month's lines and
    billed cost per source, billing account and currency. The cost lines alone, one month's
    files: no classes are joined, so it holds a few rows however large the month."""
    con.execute(f"drop table if exists {LINES}")
    con.execute(
        f"""create temp table {LINES} as
        select $period as period, x_Source as source, BillingAccountId as account,
               BillingCurrency as currency, count(*) as lines,
               sum(BilledCost) as {_AMOUNTS[CostBasis.BILLED]}
        from cost_lines
        where BillingPeriodStart >= $start and BillingPeriodStart < $end group by all""",
        {"period": str(month), "start": month.start, "end": month.end},
    )


def check_month(con: duckdb.DuckDBPyConnection, month: Month, currency: str) -> None:
    """A month with nothing in it, or nothing in the chosen currency, is an input error."""
    rows = con.sql(
        f"select currency, count(*) from {LINES} where period = $m group by 1 order by 1",
        params={"m": str(month)},
    ).fetchall()
    if not rows:
        months = [
            r[0]
            for r in con.sql(
                "select distinct strftime(BillingPeriodStart, '%Y-%m') from cost_lines order by 1"
            ).fetchall()
        ]
        raise InputError(
            f"the warehouse has no cost lines for {month}",
            location="--month",
            expected="a month with loaded cost lines: " + (", ".join(months) or "none yet"),
            found=str(month),
            hint="ingest the month's exports first, or pick another month",
        )
    if currency not in {r[0] for r in rows}:
        raise InputError(
            f"no cost lines in {currency} for {month}",
            location="--currency",
            expected="one of " + ", ".join(r[0] for r in rows),
            found=currency,
        )
