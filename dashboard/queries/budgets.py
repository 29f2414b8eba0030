"""Each budget's scope of spend, day by day, from the rollups kept at ingest (never the lines):
spend_daily for the dimensions a line carries, tag_daily for a tag. models/budgets.py judges."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb

from models.budgets import Budget, BudgetStatus, assess, check_currency
from models.cost_basis import CostBasis
from models.errors import ConfigError

# A budget's dimension -> its test on spend_daily ($v is the budget's value). A provider is
# named as the filters name it (on-prem with its site) or as the bill does ("On-Premises").
_SPEND_DAILY = {
    "team": "team = $v{n}",
    "provider": "(provider = $v{n} OR provider_name = $v{n})",
    "ai_class": "ai_class = $v{n}",
    "project": "project = $v{n}",
    "account": "account = $v{n}",
}
_TAG_DAILY = {"team": "team = $v{n}", "provider": "provider = $v{n}"}


def _scope(budget: Budget) -> tuple[str, list[str], dict[str, object]]:
    """The rollup holding the budget's scope, its tests (any currency) and their parameters."""
    tag = dict(budget.where).get("tag")
    tests: list[str] = []
    params: dict[str, object] = {}
    if tag is not None:
        key, value = tag.split("=", 1)
        tests += ["tag_key = $tag_key", "tag_value = $tag_value"]
        params |= {"tag_key": key, "tag_value": value}
    table, known = ("tag_daily", _TAG_DAILY) if tag is not None else ("spend_daily", _SPEND_DAILY)
    for n, (dimension, value) in enumerate(budget.where):
        if dimension == "tag":
            continue
        tests.append(known[dimension].format(n=n))
        params[f"v{n}"] = value
    return table, tests, params


def scope_sql(budget: Budget, basis: CostBasis) -> tuple[str, dict[str, object]]:
    """The SQL of the budget's daily spend (columns day, cost) and its parameters."""
    table, tests, params = _scope(budget)
    tests = ["currency = $currency", *tests]
    sql = (
        f"SELECT day, sum({basis.value}) AS cost FROM {table} "
        f"WHERE {' AND '.join(tests)} GROUP BY day ORDER BY day"
    )
    return sql, params | {"currency": budget.currency}


def currencies(con: duckdb.DuckDBPyConnection, budget: Budget) -> list[str]:
    """The currencies the budget's scope of spend is billed in, whatever its own currency."""
    table, tests, params = _scope(budget)
    where = " AND ".join(tests) or "true"
    rows = con.execute(f"SELECT DISTINCT currency FROM {table} WHERE {where}", params).fetchall()
    return sorted(c for (c,) in rows if c is not None)


def daily(con: duckdb.DuckDBPyConnection, budget: Budget, basis: CostBasis) -> list[tuple]:
    sql, params = scope_sql(budget, basis)
    return [(d, Decimal(c)) for d, c in con.execute(sql, params).fetchall() if c is not None]


def statuses(
    con: duckdb.DuckDBPyConnection, budgets: tuple[Budget, ...], basis: CostBasis
) -> list[BudgetStatus]:
    """Every budget's state on the warehouse's data to its last day."""
    as_of = last_day(con)
    return [assess(b, daily(con, b, basis), as_of) for b in budgets]


def refused(
    con: duckdb.DuckDBPyConnection, budgets: tuple[Budget, ...]
) -> list[tuple[Budget, str]]:
    """The budgets whose scope is billed only in other currencies, each with the reason: such
    a budget would always read as unspent (money is never converted), so it is not judged."""
    out = []
    for b in budgets:
        try:
            check_currency(b, currencies(con, b))
        except ConfigError as e:
            out.append((b, str(e)))
    return out


def last_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day any spend covers: the day every budget is judged on."""
    return con.execute("SELECT max(day) FROM spend_daily").fetchall()[0][0]
