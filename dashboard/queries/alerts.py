"""What `finops watch` judges (models/alerts.py's Figures), read from one warehouse snapshot,
and the `alert_state` records the Alerts page and the Overview show.

Budgets, anomalies and commitments are read from the rollups kept at ingest; an anomaly's
driving resources from its window's line items, only for the anomalies a rule will report.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl

from dashboard.queries import budgets as queries_budgets
from dashboard.queries import commitments as queries_commitments
from dashboard.queries import forecast as queries_forecast
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from models.alert_rules import AlertSettings
from models.alerts import Anomaly, CommitmentUse, Figures, IdleEpisode
from models.budgets import Budget, check_currency
from models.cost_basis import CostBasis
from models.settings import Settings

_CENT = Decimal("0.01")


def _cents(value: object) -> Decimal:
    """Money read back from DuckDB (a DECIMAL, or a DOUBLE where SQL divided) at cents."""
    return Decimal(str(value)).quantize(_CENT)


def check_budget_currencies(con: duckdb.DuckDBPyConnection, budgets: list[Budget]) -> None:
    """A budget in another currency than its scope's spend is refused (never converted)."""
    for b in budgets:
        check_currency(b, queries_budgets.currencies(con, b))


def _within(settings: AlertSettings, rule_type: str) -> int | None:
    """The widest look-back of the rules of `rule_type` (None: no such rule)."""
    days = [int(r.setting("within_days")) for r in settings.rule if r.type == rule_type]
    return max(days) if days else None


def figures(
    con: duckdb.DuckDBPyConnection, settings: Settings, now: datetime, basis: CostBasis
) -> Figures:
    """Everything the configured rules need (what no rule needs is not read)."""
    alerts = settings.alerts
    types = {r.type for r in alerts.rule}
    as_of = queries_budgets.last_day(con)
    budgets = tuple(settings.budgets.budgets(settings.report.currency))
    out: dict[str, object] = {}
    if types & {"budget_forecast", "budget_breached"}:
        out["budgets"] = tuple(queries_budgets.statuses(con, budgets, basis))
    since = _within(alerts, "anomaly")
    if since is not None and as_of is not None:
        out["anomalies"] = anomalies(con, settings, basis, as_of - timedelta(days=since))
    since = _within(alerts, "idle_episode")
    if since is not None and as_of is not None:
        out["idle"] = idle_episodes(con, as_of - timedelta(days=since))
    if "commitment" in types:
        out["commitments"] = commitments(con)
    if "data_gap" in types:
        rows = con.execute("SELECT source, max(finished_at) FROM loads GROUP BY 1 ORDER BY 1")
        out["last_loads"] = tuple(rows.fetchall())
    return Figures(now=now, as_of=as_of, **out)  # type: ignore[arg-type]


def anomalies(
    con: duckdb.DuckDBPyConnection, settings: Settings, basis: CostBasis, since: date
) -> tuple[Anomaly, ...]:
    """Spend anomalies ending on or after `since`, each with its driving resources."""
    out = []
    currencies = [c for (c,) in con.execute("SELECT DISTINCT currency FROM spend_daily").fetchall()]
    s = settings.anomaly
    for cur in sorted(currencies):
        found = queries_forecast.anomalies(con, Filters(basis=basis), cur, s)
        for a in found.filter(pl.col("end") >= since).iter_rows(named=True):
            drivers = queries.anomaly_drivers(
                con,
                basis,
                cur,
                queries_forecast.ANOMALY_DIMENSIONS[a["dimension"]],
                a["key"],
                a["start"],
                a["end"],
                s.window_days,
                s.top_resources,
            )
            out.append(
                Anomaly(
                    a["dimension"],
                    a["key"],
                    a["start"],
                    a["end"],
                    a["spend"],
                    a["expected"],
                    a["excess"],
                    cur,
                    tuple(
                        (r["resource"], _cents(r["excess"]))
                        for r in drivers.iter_rows(named=True)
                        if _cents(r["excess"]) > 0  # a cent's rounding is no driver
                    ),
                )
            )
    return tuple(out)


def idle_episodes(con: duckdb.DuckDBPyConnection, since: date) -> tuple[IdleEpisode, ...]:
    """Idle episodes ending on or after `since`, one per resource and run of hours (its GPUs
    idle together), costliest first."""
    rows = con.execute(
        """SELECT resource_id, any_value(host), gpu_model, provider, team, start, "end",
                  max(hours), count(*), sum(cost), currency
           FROM idle_episodes WHERE "end" > CAST($since AS TIMESTAMPTZ)
           GROUP BY resource_id, gpu_model, provider, team, start, "end", currency
           ORDER BY 10 DESC, resource_id""",
        {"since": since},
    ).fetchall()
    return tuple(
        IdleEpisode(r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), int(r[8]),
                    _cents(r[9]), r[10])
        for r in rows
    )  # fmt: skip


def commitments(con: duckdb.DuckDBPyConnection) -> tuple[CommitmentUse, ...]:
    frame = queries_commitments.summary(con)
    return tuple(
        CommitmentUse(
            r["commitment_id"], r["name"] or r["commitment_id"], r["provider"], r["period"],
            float(r["utilisation"]), _cents(r["unused"]), r["currency"],
        )
        for r in frame.iter_rows(named=True)
        if r["utilisation"] is not None
    )  # fmt: skip


# ---- the alert_state records ------------------------------------------------------------


def recent(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pl.DataFrame:
    """One row per alert (its newest record per channel folded in): when it fired, its
    rule, severity, title, link and delivery status, newest first."""
    return queries.frame(
        con,
        """WITH fired AS (
               SELECT alert_id, min("at") AS fired_at,
                      max("at") FILTER (WHERE status = 'fired') AS last_fired,
                      any_value(rule) AS rule,
                      any_value(rule_type) AS rule_type, any_value(severity) AS severity,
                      any_value(title) AS title, any_value(body) AS body,
                      any_value(link) AS link, any_value(condition) AS condition
               FROM alert_state WHERE status IN ('fired', 'pending') GROUP BY alert_id),
           last AS (
               SELECT alert_id, channel, arg_max(status, "at") AS status
               FROM alert_state WHERE channel IS NOT NULL GROUP BY ALL),
           per AS (
               SELECT alert_id, string_agg(channel || ': ' || status, ', ' ORDER BY channel)
                          AS delivery,
                      bool_or(status = 'failed') AS failed, bool_and(status = 'sent') AS sent
               FROM last GROUP BY 1),
           closed AS (
               SELECT condition, max("at") AS resolved_at FROM alert_state
               WHERE status = 'resolved' GROUP BY 1)
           SELECT f.fired_at, f.severity, f.rule, f.title,
                  CASE WHEN c.resolved_at > f.last_fired THEN 'resolved'
                       WHEN p.failed THEN 'delivery failed'
                       WHEN p.sent THEN 'sent'
                       WHEN p.alert_id IS NULL THEN 'fired'
                       ELSE 'pending' END AS status,
                  coalesce(p.delivery, '–') AS delivery, f.link, f.body, f.alert_id
           FROM fired f LEFT JOIN per p USING (alert_id) LEFT JOIN closed c USING (condition)
           ORDER BY f.fired_at DESC,
                    CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                    f.title LIMIT $n""",
        {"n": limit},
    )


def open_conditions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Conditions fired and not resolved since, with their newest alert (severity, title):
    the few rows the Overview's line reads."""
    return queries.frame(
        con,
        """WITH last AS (
               SELECT condition, arg_max(status, "at") AS status,
                      arg_max(severity, "at") AS severity, arg_max(title, "at") AS title
               FROM alert_state WHERE status IN ('fired', 'resolved') GROUP BY 1)
           SELECT condition, severity, title FROM last WHERE status = 'fired'
           ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                    condition""",
    )
