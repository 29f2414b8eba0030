"""Unit costs for the page, the Overview tile and `finops unit-costs`: one query over the
small derived table `unit_costs` (ingest/derive/unit_costs.py), so every face shows the same
numbers and none reads cost lines or GPU-hours."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from models.unit_costs import COST_BASIS, UNIT_COSTS, check_model_filter


def unit_costs(con: duckdb.DuckDBPyConnection, model: str | None = None) -> pl.DataFrame:
    """Every unit_costs row (of `model` only, when given), newest month first."""
    known = [r[0] for r in con.sql("SELECT DISTINCT model FROM unit_costs").fetchall()]
    check_model_filter(model, known)
    cols = ", ".join(f'"{c}"' for c in UNIT_COSTS.names)
    return con.sql(
        f"""SELECT {cols} FROM unit_costs WHERE $model IS NULL OR model = $model
        ORDER BY month DESC, kind DESC, cost DESC NULLS LAST, model""",
        params={"model": model},
    ).pl()


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: money stays Decimal; each row says its cost basis."""
    return [{**r, "cost_basis": COST_BASIS} for r in frame.iter_rows(named=True)]


def served_tile(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The Overview's "cost per 1M tokens served": self-hosted models of the latest month
    with token counts, per currency (the first by cost), with the month it is for."""
    rows = con.sql(
        """WITH latest AS (
            SELECT max(month) AS month FROM unit_costs
            WHERE kind = 'self_hosted' AND cost IS NOT NULL
              AND coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0)
        SELECT u.month, u.currency, sum(u.cost) AS cost,
               sum(coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0)) AS tokens,
               count(DISTINCT u.model) AS models
        FROM unit_costs u JOIN latest l ON u.month = l.month
        WHERE u.kind = 'self_hosted' AND u.cost IS NOT NULL
          AND coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0) > 0
        GROUP BY u.month, u.currency ORDER BY cost DESC"""
    ).fetchall()
    if not rows:
        return None
    month, currency, cost, tokens, models = rows[0]
    return {
        "month": month,
        "currency": currency,
        "per_1m": Decimal(cost) * 1_000_000 / Decimal(repr(tokens)),
        "tokens": tokens,
        "models": models,
    }
