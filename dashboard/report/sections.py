"""Money sections of the pack: summary, budgets, trend, reconciliation, on-prem parts, chargeback.

Each function runs parameterised queries over the staged month (report_data.LINES) and
returns a Section whose money columns are exact Decimal(38, 12).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import polars as pl

from dashboard.report.config import ReportSettings
from dashboard.report.data import LINES, amount, frame
from dashboard.report.model import CENT, Month, Section
from models.allocate import allocate
from models.classify import CLASS_COLUMNS
from models.cost_basis import CostBasis
from models.schema import MONEY

ZERO = Decimal(0)
SUMMARY_DIMENSIONS = ("total", "provider/site", "ai class", "team")


def _params(month: Month, currency: str) -> dict:
    return {"m": str(month), "p": str(month.shift(-1)), "c": currency}


def totals(con: duckdb.DuckDBPyConnection, month: Month, currency: str) -> dict[str, Decimal]:
    """The month's and the previous month's total on each basis: 'billed', 'previous_billed',
    'amortised', 'previous_amortised' (the cover shows both bases, each named)."""
    out: dict[str, Decimal] = {}
    for b in CostBasis:
        ((this, before),) = con.execute(
            f"select coalesce(sum({amount(b)}) filter (where period = $m), 0), "
            f"coalesce(sum({amount(b)}) filter (where period = $p), 0) "
            f"from {LINES} where currency = $c",
            _params(month, currency),
        ).fetchall()
        out[b.value], out[f"previous_{b.value}"] = Decimal(this), Decimal(before)
    return out


def summary(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    unallocated: str,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section:
    """The month by provider/site, AI class and team on one cost basis, month over month;
    its columns are named by the basis (amortised_cost, previous_amortised_cost)."""
    dims = {
        "total": "'all'",
        "provider/site": "provider_site",
        "ai class": "coalesce(ai_class, 'unclassified')",
        "team": "coalesce(team, $un)",
    }
    union = " union all ".join(
        f"select '{d}' as dimension, {expr} as value, period, {amount(basis)} as amount "
        f"from {LINES} where currency = $c"
        for d, expr in dims.items()
    )
    order = " ".join(f"when '{d}' then {i}" for i, d in enumerate(SUMMARY_DIMENSIONS))
    cost, previous = f"{basis.value}_cost", f"previous_{basis.value}_cost"
    df = frame(
        con,
        f"""
        select dimension, value,
               coalesce(sum(amount) filter (where period = $m), 0) as {cost},
               coalesce(sum(amount) filter (where period = $p), 0) as {previous}
        from ({union}) group by dimension, value
        order by case dimension {order} end, {cost} desc, value
        """,
        {**_params(month, currency), "un": unallocated},
    )
    df = df.with_columns(
        (pl.col(cost) - pl.col(previous)).cast(MONEY).alias("change"),
    ).with_columns(
        pl.when(pl.col(previous) != 0)
        .then(pl.col("change").cast(pl.Float64) / pl.col(previous).cast(pl.Float64))
        .alias("change_pct")
    )
    return Section(
        "summary",
        f"Summary {month} — {basis.label(currency)}",
        df,
        money=(cost, previous, "change"),
        percent=("change_pct",),
        note=f"{basis.words} ({basis.meaning}); month over month against "
        f"{month.shift(-1)}. Each dimension adds up to the total row.",
        basis=basis.label(currency),
    )


def budgets(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    cfg: ReportSettings,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section | None:
    if not cfg.budgets:
        return None
    column = {"total": "'total'", "team": "team", "provider": "provider", "ai_class": "ai_class"}
    rows = []
    for b in cfg.budgets:
        ((actual,),) = con.execute(
            f"select coalesce(sum({amount(basis)}), 0) from {LINES} "
            f"where period = $m and currency = $c and {column[b.scope]} = $name",
            {"m": str(month), "c": currency, "name": b.name},
        ).fetchall()
        rows.append(
            {
                "scope": b.scope,
                "name": b.name,
                "budget": b.amount,
                "actual": Decimal(actual),
                "variance": b.amount - Decimal(actual),
                "used_pct": float(Decimal(actual) / b.amount) if b.amount else None,
                "status": "over" if actual > b.amount else "within",
            }
        )
    df = pl.DataFrame(
        rows,
        schema={
            "scope": pl.String, "name": pl.String, "budget": MONEY, "actual": MONEY,
            "variance": MONEY, "used_pct": pl.Float64, "status": pl.String,
        },
    )  # fmt: skip
    return Section(
        "budgets",
        f"Budget vs actual {month} — {basis.label(currency)}",
        df,
        money=("budget", "actual", "variance"),
        percent=("used_pct",),
        note="Monthly budgets from finops.toml [budgets]; variance = budget - actual "
        f"({basis.words.lower()}).",
        basis=basis.label(currency),
    )


def trend(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section:
    df = frame(
        con,
        f"""
        select strftime(p, '%Y-%m') as period, provider, sum(amount) as {basis.value}_cost
        from (  -- group on the raw timestamp first: formatting 10M of them is the slow part
            select BillingPeriodStart as p, ProviderName as provider, sum({basis.column}) as amount
            from cost_lines
            where BillingPeriodStart >= $start and BillingPeriodStart < $end
              and BillingCurrency = $c
            group by 1, 2)
        group by 1, 2 order by 1, 2
        """,
        {"start": month.shift(-11).start, "end": month.end, "c": currency},
    )
    return Section(
        "trend",
        f"Twelve months to {month} by provider — {basis.label(currency)}",
        df,
        money=(f"{basis.value}_cost",),
        note=f"{basis.words} per billing period and provider.",
        basis=basis.label(currency),
    )


def reconciliation(con: duckdb.DuckDBPyConnection, month: Month, cfg: ReportSettings) -> Section:
    """Per source, billing account and currency: source/invoice total vs the warehouse."""
    df = frame(
        con,
        f"""
        with latest as (
            select source, billing_account, currency, source_total,
                   row_number() over (
                       partition by source, billing_account, currency
                       order by table_version desc nulls last, finished_at desc) as rn
            from loads
            where dataset = 'cost_lines' and status = 'committed' and billing_period = $m
        ), wh as (
            select source, account, currency, sum(lines) as rows, sum(billed) as total
            from {LINES} where period = $m group by all
        )
        select coalesce(l.source, w.source) as source,
               coalesce(l.billing_account, w.account) as billing_account,
               coalesce(l.currency, w.currency) as currency,
               coalesce(w.rows, 0) as rows, l.source_total, w.total as warehouse_total
        from (select * from latest where rn = 1) l
        full outer join wh w
          on l.source = w.source and l.billing_account = w.account and l.currency = w.currency
        """,
        {"m": str(month)},
    )
    invoices = {(i.source, i.account, i.currency): i.total for i in cfg.invoices_for(month)}
    rows = []
    for r in df.to_dicts():
        key = (r["source"], r["billing_account"], r["currency"])
        rows.append(_reconcile(r, invoices.pop(key, None)))
    for (source, account, currency), total in invoices.items():
        rows.append(
            _reconcile(
                {"source": source, "billing_account": account, "currency": currency,
                 "rows": 0, "source_total": None, "warehouse_total": None},
                total,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: (r["source"], r["billing_account"], r["currency"]))
    out = pl.DataFrame(
        rows,
        schema={
            "source": pl.String, "billing_account": pl.String, "currency": pl.String,
            "rows": pl.Int64, "source_total": MONEY, "invoice_total": MONEY,
            "warehouse_total": MONEY, "difference": MONEY, "invoice_difference": MONEY,
            "status": pl.String, "check": pl.String,
        },
    )  # fmt: skip
    return Section(
        "reconciliation",
        f"Reconciliation {month} — {RECONCILED}",
        out,
        exact=("source_total", "invoice_total", "warehouse_total", "difference",
               "invoice_difference"),
        note="Billed cost whatever the pack's cost basis: it reconciles to the invoices. "
        "Source total = the committed load's own total; invoice total = [report.invoices]; "
        "warehouse total = sum of billed cost now in the warehouse. ok only when the warehouse "
        "equals the source exactly and the invoice to the cent.",
        basis=RECONCILED,
    )  # fmt: skip


RECONCILED = "Billed cost (each account's currency)"


def _reconcile(r: dict, invoice: Decimal | None) -> dict:
    source, warehouse = r["source_total"], r["warehouse_total"]
    wh = ZERO if warehouse is None else Decimal(warehouse)
    diff = None if source is None else wh - Decimal(source)
    inv_diff = None if invoice is None else wh - invoice
    problems = []
    if source is None and warehouse is not None:
        problems.append("lines without a committed load record")
    if source is None and warehouse is None:
        problems.append("invoice has no loaded lines")
    if diff is not None and diff != 0:
        problems.append(f"warehouse differs from the source total by {diff.normalize():f}")
    if inv_diff is not None and abs(inv_diff) >= CENT / 2:
        problems.append(f"warehouse differs from the invoice by {inv_diff.normalize():f}")
    return {
        **r,
        "source_total": source,
        "invoice_total": invoice,
        "warehouse_total": wh,
        "difference": diff,
        "invoice_difference": inv_diff,
        "status": "failed" if problems else "ok",
        "check": "; ".join(problems) or "matches",
    }


def onprem_parts(con: duckdb.DuckDBPyConnection, month: Month, currency: str) -> Section:
    """On-prem cost per site split into its parts (depreciation, colo, power, ops, ...)."""
    params = {"m": str(month), "c": currency}
    where = f"from {LINES} where period = $m and currency = $c and source = 'onprem'"
    parts = frame(
        con,
        f"""
        with lines as (
            select account, coalesce(sub_account, '') as site, cost_model, lines {where}
              and cost_model is not null and json_valid(cost_model)
        )
        , parts as (
            select account, site, k as part, lines,
                   json_extract(cost_model, '$."' || k || '"') as v
            from lines, unnest(json_keys(cost_model)) as u(k)
        )
        -- money parts are decimal text ("120.5"); counts and labels are not parts
        select account, site, part,
               sum(try_cast(json_extract_string(v, '$') as decimal(38, 12)) * lines) as cost
        from parts
        where json_type(v) = 'VARCHAR'
          and try_cast(json_extract_string(v, '$') as decimal(38, 12)) is not null
        group by all order by 1, 2, 3
        """,
        params,
    )
    totals = frame(
        con,
        f"select account, coalesce(sub_account, '') as site, sum(effective) as total {where} "
        "group by all order by 1, 2",
        params,
    )
    rows = []
    for t in totals.to_dicts():
        mine = parts.filter((pl.col("account") == t["account"]) & (pl.col("site") == t["site"]))
        itemised = sum((Decimal(c) for c in mine["cost"].drop_nulls()), ZERO)
        rows += mine.to_dicts()
        rest = Decimal(t["total"]) - itemised
        if rest != 0:
            rows.append({**t, "part": "(not itemised)", "cost": rest})
    df = pl.DataFrame(
        [{k: r[k] for k in ("account", "site", "part", "cost")} for r in rows],
        schema={"account": pl.String, "site": pl.String, "part": pl.String, "cost": MONEY},
    )
    return Section(
        "onprem_parts",
        f"On-prem cost parts {month} — {CostBasis.AMORTISED.label(currency)}",
        df,
        money=("cost",),
        totals=("cost",),
        note="Amortised cost whatever the pack's cost basis (an asset's price spread over its "
        "life): on-prem cost by site and part; the parts add up to the site's total.",
        basis=CostBasis.AMORTISED.label(currency),
    )


def chargeback(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    cfg: ReportSettings,
    basis: CostBasis = CostBasis.AMORTISED,
) -> Section:
    """Cost on `basis` by team, shared costs split by `[allocation]` (models.allocate)."""
    un = cfg.allocation.unallocated
    cube = frame(
        con,
        f"""
        select coalesce(team, $un) as x_Team, ai_class as x_AiClass, workload as x_Workload,
               egress_kind as x_EgressKind, tool_family as x_ToolFamily,
               project as x_Project, environment as x_Environment,
               {amount(basis)} as EffectiveCost, cost_centre  -- the basis allocate splits
        from {LINES} where period = $m and currency = $c
        """,
        {"m": str(month), "c": currency, "un": un},
    )
    lines = cube.lazy().with_columns(
        pl.lit(month.start).alias("BillingPeriodStart"),
        pl.lit(currency).alias("BillingCurrency"),
        *[
            pl.lit(None, dtype=t).alias(n)
            for n, t in CLASS_COLUMNS.items()
            if n not in cube.columns
        ],
    )
    teams = allocate(lines, cfg.allocation)
    centres = (
        cube.filter(pl.col("cost_centre").is_not_null())
        .group_by("x_Team")
        .agg(pl.col("cost_centre").unique().sort().str.join(", "))
    )
    total = sum((Decimal(v) for v in teams["total"]), ZERO)
    out = (
        teams.join(centres, left_on="team", right_on="x_Team", how="left")
        .select(
            "team",
            pl.col("cost_centre").fill_null(""),
            pl.col("direct").alias("direct_cost"),
            pl.col("shared").alias("shared_cost"),
            pl.col("total").alias("total_cost"),
            (pl.col("total").cast(pl.Float64) / float(total) if total else pl.lit(None))
            .cast(pl.Float64)
            .alias("share"),
        )
        .sort(pl.col("team") == un, "team")
    )
    rules = ", ".join(r.id for r in cfg.allocation.shared) or "none configured"
    return Section(
        "chargeback",
        f"Chargeback by team and cost centre {month} — {basis.label(currency)}",
        out,
        money=("direct_cost", "shared_cost", "total_cost"),
        percent=("share",),
        totals=("direct_cost", "shared_cost", "total_cost"),
        note=f"{basis.words}. Shared costs ([allocation] rules: {rules}) are split over the "
        f"teams with direct spend; cost without a team is shown as {un}, never hidden.",
        basis=basis.label(currency),
    )
