"""Waste and usage sections of the pack: idle GPUs, egress, tools, commitments, data-gap notes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import polars as pl

from dashboard.queries import commitments as queries_commitments
from dashboard.queries import unit_costs as queries_unit
from dashboard.queries.placement import placement_table
from dashboard.report.config import ReportSettings
from dashboard.report.data import LINES, Sources, amount, frame
from dashboard.report.model import Month, Section
from models.cost_basis import CostBasis
from models.idle import IDLE_STATES
from models.placement import ASSUMPTIONS
from models.rules import EGRESS, SAAS_TOOL
from models.schema import MONEY
from models.settings import Settings
from models.unit_costs import KIND_WORDS

IDLE_SCHEMA = {
    "team": pl.String, "resource": pl.String, "gpu_model": pl.String, "gpu_hours": pl.Int64,
    "idle_hours": pl.Int64, "unmonitored_hours": pl.Int64, "cost": MONEY, "idle_cost": MONEY,
    "unmonitored_cost": MONEY, "idle_share": pl.Float64,
}  # fmt: skip


def idle(
    con: duckdb.DuckDBPyConnection, month: Month, sources: Sources, currency: str
) -> tuple[Section, str]:
    """Idle GPU-hours and their cost by team and resource, for the GPU-hours billed in
    `currency`; '' or why it is empty."""
    why = ""
    df = pl.DataFrame(schema=IDLE_SCHEMA)
    window = {"start": month.start, "end": month.end}
    billed_in: list[str] = []
    if not sources.gpu_hours:
        why = "the gpu_hours view is not available, so idle GPU waste is not measured"
    else:
        try:
            billed = con.execute(
                "select distinct currency from gpu_hours where hour >= $start "
                "and hour < $end order by 1",
                window,
            ).fetchall()
        except duckdb.Error as exc:
            why = f"gpu_hours could not be read as expected ({str(exc).splitlines()[0]})"
        else:
            billed_in = [str(c) for (c,) in billed if c is not None]
            if len(billed_in) < len(billed):
                why = (
                    "gpu_hours was built before it kept each GPU-hour's currency, so idle GPU "
                    "waste is not measured; `finops classify` rebuilds it"
                )
    if not why and billed_in and currency not in billed_in:
        why = (
            f"GPU compute in {month} is billed in {', '.join(billed_in)}, not {currency}: "
            "idle GPU waste is in that currency's pack"
        )
    if not why:
        try:
            df = frame(
                con,
                """
                select coalesce(team, '(untagged)') as team,
                       coalesce(resource_id, host) as resource,
                       min(gpu_model) as gpu_model,
                       count(*) as gpu_hours,
                       count(*) filter (where state in $idle) as idle_hours,
                       count(*) filter (where state = 'unmonitored') as unmonitored_hours,
                       coalesce(sum(cast(cost as decimal(38, 12))), 0) as cost,
                       coalesce(sum(cast(idle_cost as decimal(38, 12))), 0) as idle_cost,
                       coalesce(sum(cast(cost as decimal(38, 12)))
                                filter (where state = 'unmonitored'), 0) as unmonitored_cost
                from gpu_hours where hour >= $start and hour < $end and currency = $cur
                group by all
                having idle_hours > 0 or unmonitored_hours > 0
                order by idle_cost desc, team, resource
                """,
                {"idle": list(IDLE_STATES), "cur": currency, **window},
            ).with_columns(
                (pl.col("idle_hours") / pl.col("gpu_hours")).alias("idle_share"),
            )
            df = df.select([pl.col(k).cast(v) for k, v in IDLE_SCHEMA.items()])
        except duckdb.Error as exc:
            why = f"gpu_hours could not be read as expected ({str(exc).splitlines()[0]})"
    section = Section(
        "idle_gpu",
        f"Idle GPU waste {month} — {CostBasis.AMORTISED.label(currency)}",
        df,
        money=("cost", "idle_cost", "unmonitored_cost"),
        percent=("idle_share",),
        totals=("cost", "idle_cost", "unmonitored_cost"),
        note="GPU-hours billed while idle (allocated or hard idle) and what they cost; "
        "unmonitored hours are their own bucket, never counted as idle. Amortised cost "
        "whatever the pack's cost basis: a GPU-hour costs its share of the instance or asset.",
        basis=CostBasis.AMORTISED.label(currency),
    )
    return section, why


def egress(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section:
    cost = f"{basis.value}_cost"
    df = frame(
        con,
        f"""
        select coalesce(egress_kind, 'unknown') as kind, provider, sum({amount(basis)}) as {cost}
        from {LINES} where period = $m and currency = $c and ai_class = '{EGRESS}'
        group by all order by {cost} desc, kind, provider
        """,
        {"m": str(month), "c": currency},
    )
    return Section(
        "egress",
        f"Data egress by kind {month} — {basis.label(currency)}",
        df,
        money=(cost,),
        totals=(cost,),
        note="Lines the classification calls egress, by kind of movement and provider.",
        basis=basis.label(currency),
    )


def tools(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section:
    cost = f"{basis.value}_cost"
    df = frame(
        con,
        f"""
        with t as (
            select coalesce(tool_family, '(unclassified)') as family,
                   coalesce(service, publisher) as tool,
                   count(distinct team) as teams,
                   cast(sum(seats) as bigint) as seats,
                   cast(sum(active_seats) as bigint) as active_seats,
                   sum({amount(basis)}) as {cost}
            from {LINES}
            where period = $m and currency = $c
              and (tool_family is not null or ai_class = '{SAAS_TOOL}' or source = 'saas')
            group by all
        )
        select family, tool, teams, seats, active_seats,
               seats - active_seats as unused_seats, {cost},
               count(*) over (partition by family) as tools_in_family
        from t order by family, {cost} desc, tool
        """,
        {"m": str(month), "c": currency},
    ).with_columns(
        pl.when(pl.col("tools_in_family") > 1)
        .then(pl.lit("overlap: ") + pl.col("tools_in_family").cast(pl.String) + " tools")
        .otherwise(pl.lit(""))
        .alias("sprawl")
    )
    return Section(
        "tools",
        f"Tools and SaaS {month} — {basis.label(currency)}",
        df,
        money=(cost,),
        totals=(cost,),
        note="Tool and SaaS spend by family; a family paying for more than one tool is sprawl.",
        basis=basis.label(currency),
    )


def commitments(con: duckdb.DuckDBPyConnection, month: Month, currency: str) -> Section:
    """Per commitment: billed purchase, amortised used and unused, utilisation, coverage and
    savings, as models/commitments.py defines them (the Commitments page shows the same)."""
    summary = queries_commitments.summary(
        con, month.start.date(), month.end.date(), currency=currency
    )
    df = summary.select(
        "commitment_id",
        "name",
        "provider",
        "type",
        "category",
        "gpu",
        pl.col("purchase").alias("billed_cost"),
        pl.col("used").alias("used_cost"),
        pl.col("unused").alias("unused_cost"),
        "utilisation",
        "coverage",
        "savings",
    )
    return Section(
        "commitments",
        f"Commitments {month}",
        df,
        money=("billed_cost", "used_cost", "unused_cost", "savings"),
        percent=("utilisation", "coverage"),
        totals=("billed_cost", "used_cost", "unused_cost", "savings"),
        note="Reservations, savings plans and CUDs: purchase billed; used and unused amortised "
        "(EffectiveCost). Unused is paid-for capacity nobody used; utilisation = used / "
        "(used + unused); coverage = used / (used + eligible on-demand compute).",
    )


NOTES_SCHEMA = {
    "kind": pl.String, "scope": pl.String, "detail": pl.String, "count": pl.Int64, "cost": MONEY,
}  # fmt: skip


def notes(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    cfg: ReportSettings,
    gaps: list[str],
    idle_section: Section,
    reconciliation: Section,
) -> Section:
    """Everything that makes the month's numbers less than complete."""
    rows: list[dict] = [
        {"kind": "coverage", "scope": "report", "detail": g, "count": None, "cost": None}
        for g in gaps
    ]
    rows += _missing_days(con, month)
    idle_df = idle_section.frame
    if idle_df.height and int(idle_df["unmonitored_hours"].sum()):
        rows.append({
            "kind": "unmonitored GPU-hours", "scope": "all teams",
            "detail": "billed GPU-hours without telemetry: neither idle nor active",
            "count": int(idle_df["unmonitored_hours"].sum()),
            "cost": idle_section.total("unmonitored_cost"),
        })  # fmt: skip
    rows += _late_loads(con, month, cfg.late_after_days)
    absent = frame(
        con,
        f"""
        select source, account from {LINES} where period = $p
        except select source, account from {LINES} where period = $m order by 1, 2
        """,
        {"m": str(month), "p": str(month.shift(-1))},
    )
    for r in absent.to_dicts():
        rows.append({
            "kind": "missing load", "scope": f"{r['source']} {r['account']}",
            "detail": f"lines in {month.shift(-1)} but none in {month}", "count": None,
            "cost": None,
        })  # fmt: skip
    errors = frame(
        con,
        "select source, count(*) as n, max(message) as message from load_errors "
        'where "at" >= $start group by all order by 1',
        {"start": month.start},
    )
    for r in errors.to_dicts():
        rows.append({
            "kind": "failed loads", "scope": r["source"],
            "detail": f"failed loads since {month.start:%Y-%m-%d}, e.g. {r['message']}",
            "count": int(r["n"]), "cost": None,
        })  # fmt: skip
    other = frame(
        con,
        f"select currency, sum(lines) as n, sum(billed) as total from {LINES} "
        "where period = $m and currency <> $c group by all order by 1",
        {"m": str(month), "c": currency},
    )
    for r in other.to_dicts():
        rows.append({
            "kind": "other currency", "scope": r["currency"],
            "detail": f"lines billed in {r['currency']} are not in the {currency} totals "
            f"(run the pack with --currency {r['currency']})",
            "count": int(r["n"]), "cost": Decimal(r["total"]),
        })  # fmt: skip
    failed = reconciliation.frame.filter(pl.col("status") != "ok")
    if failed.height:
        rows.append({
            "kind": "reconciliation", "scope": "see Reconciliation",
            "detail": "source, invoice and warehouse totals disagree", "count": failed.height,
            "cost": None,
        })  # fmt: skip
    return Section(
        "notes",
        f"Notes and data gaps {month}",
        pl.DataFrame(rows, schema=NOTES_SCHEMA),
        money=("cost",),
        note="What is missing, late or left out; read these before the totals.",
    )


def _late_loads(con: duckdb.DuckDBPyConnection, month: Month, after_days: int) -> list[dict]:
    """Loads that came in late: restated after the month closed, or well after the others."""
    df = frame(
        con,
        """
        with l as (
            select source, billing_account, finished_at,
                   count(*) over (partition by source, billing_account) as loads,
                   min(finished_at) over () as first_of_month
            from loads where dataset = 'cost_lines' and billing_period = $m
              and status = 'committed'
        )
        select source, billing_account, max(finished_at) as at, max(loads) as loads,
               min(first_of_month) as first_of_month
        from l group by all order by 1, 2
        """,
        {"m": str(month)},
    )
    out = []
    limit = timedelta(days=after_days)
    for r in df.to_dicts():
        scope = f"{r['source']} {r['billing_account']}"
        if r["loads"] > 1 and r["at"] > month.end + limit:
            days = (r["at"].date() - month.end.date()).days
            detail = f"restated on {r['at']:%Y-%m-%d}, {days} days after the month closed"
        elif r["at"] - r["first_of_month"] > limit:
            days = (r["at"] - r["first_of_month"]).days
            detail = f"loaded on {r['at']:%Y-%m-%d}, {days} days after the first source"
        else:
            continue
        out.append({"kind": "late load", "scope": scope, "detail": detail, "count": days,
                    "cost": None})  # fmt: skip
    return out


def _missing_days(con: duckdb.DuckDBPyConnection, month: Month) -> list[dict]:
    """Days without usage lines, for sources that bill daily (more than one usage day)."""
    df = frame(
        con,
        f"""
        select source, account, list(distinct charge_day order by charge_day) as days
        from {LINES} where period = $m and category = 'Usage'
          and charge_day >= $start and charge_day < $end
        group by all having count(distinct charge_day) > 1 order by 1, 2
        """,
        {"m": str(month), "start": month.start.date(), "end": month.end.date()},
    )
    out = []
    every = [month.start.date() + timedelta(days=i) for i in range(month.days)]
    for r in df.to_dicts():
        have = set(r["days"])
        missing = [d for d in every if d not in have]
        if missing:
            out.append({
                "kind": "missing days", "scope": f"{r['source']} {r['account']}",
                "detail": "no usage lines on " + _ranges(missing), "count": len(missing),
                "cost": None,
            })  # fmt: skip
    return out


def _ranges(days: list[date]) -> str:
    """[1, 2, 3, 7] September -> '2026-09-01..2026-09-03, 2026-09-07'."""
    spans: list[list[date]] = []
    for d in days:
        if spans and d - spans[-1][1] == timedelta(days=1):
            spans[-1][1] = d
        else:
            spans.append([d, d])
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in spans)


UNIT = Decimal("0.0001")  # a unit cost at four decimals: cents would hide a request's cost


def unit_costs(con: duckdb.DuckDBPyConnection, month: Month, currency: str) -> Section | None:
    """Per model of the month: cost per 1k requests and per 1M tokens, self-hosted beside the
    API, with the API's cost at the same volume and the break-even volume (the Unit costs
    page and `finops unit-costs` show the same rows, from the unit_costs table); None when
    nothing was served or billed by the token in the month and currency."""
    rows = queries_unit.unit_costs(con).filter(
        (pl.col("month") == str(month)) & (pl.col("currency") == currency)
    )
    if rows.is_empty():
        return None
    tokens = pl.when(pl.col("input_tokens").is_not_null() | pl.col("output_tokens").is_not_null())
    unit = pl.Decimal(38, 4)
    df = rows.select(
        "model",
        pl.col("kind").replace_strict(KIND_WORDS).alias("how"),
        pl.col("where_served").alias("served_by"),
        "cost",
        "idle_cost",
        pl.col("requests").round(0).cast(pl.Int64),
        tokens.then(pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0))
        .round(0)
        .cast(pl.Int64)
        .alias("tokens"),
        pl.col("cost_per_1k_requests").round(4).cast(unit).alias("per_1k_requests"),
        pl.col("cost_per_1m_tokens").round(4).cast(unit).alias("per_1m_tokens"),
        pl.col("api_cost").alias("api_cost_at_this_volume"),
        pl.col("break_even_tokens").round(0).cast(pl.Int64).alias("break_even_tokens_a_month"),
    )
    return Section(
        "unit_costs",
        f"Unit costs {month}",
        df,
        money=("cost", "idle_cost", "api_cost_at_this_volume"),
        exact=("per_1k_requests", "per_1m_tokens"),
        totals=("cost", "idle_cost"),
        note="Cost per unit served (EffectiveCost). Self-hosted: the GPU-hours of the hosts "
        "serving each model, idle included, a shared host split by requests; API: billed "
        "cost over billed tokens. Break-even: the monthly tokens at which the comparable API "
        "costs what the GPUs cost.",
    )


def placement(con: duckdb.DuckDBPyConnection, settings: Settings) -> Section | None:
    """Workload placement over the trailing months of GPU-hours (not the pack's month: a
    placement is a year's decision), the best alternative of each workload; USD only."""
    if not Sources.of(con).gpu_hours:
        return None
    df = placement_table(con, settings.own_vs_rent, settings.flows)
    if df.is_empty():
        return None
    money = ("annual_cost_today", "annual_cost_there", "moving_data_once", "first_year_saving")
    return Section(
        "placement",
        f"Workload placement, the last {settings.own_vs_rent.months} months of GPU-hours a year "
        "— USD",
        df.with_columns(pl.col(c).cast(MONEY) for c in money),
        money=money,
        note=" ".join(ASSUMPTIONS),
        basis="Annual cost (USD)",
    )
