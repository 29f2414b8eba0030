"""Property: for charges that are not negative, 0 <= untagged <= total, and untagged is the
cost of exactly the lines whose tags give `team` no value, however many tags a line carries.

The lines go through the rollup's own SQL (spend_daily, ingest/derive/rollups.py) into a real
DuckDB, and the Overview's own query (dashboard/queries/spend.py `headline`) reads it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from ingest.derive import rollups
from models import rollups as contract
from models.cost_basis import CostBasis

KEYS = ("team", "env", "project", "Team", "cost_centre", "workload")
VALUES = ("", "nlp", "vision", "platform")
MONEY = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False)

tags = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=len(KEYS)),
)
line = st.tuples(tags, MONEY, MONEY, st.integers(0, 40), st.sampled_from(("USD", "EUR")))


def _untagged(tag: dict | None) -> bool:
    return not (tag or {}).get("team")


def _spend_daily(lines: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE _rollup_lines (
            x_PartSource VARCHAR, x_PartAccount VARCHAR, x_PartPeriod VARCHAR,
            x_LineId VARCHAR, ChargePeriodStart TIMESTAMPTZ, ChargePeriodEnd TIMESTAMPTZ,
            BillingPeriodStart TIMESTAMPTZ, ProviderName VARCHAR, RegionName VARCHAR,
            RegionId VARCHAR, x_Source VARCHAR, ServiceName VARCHAR, SubAccountName VARCHAR,
            SubAccountId VARCHAR, BillingAccountId VARCHAR, BillingCurrency VARCHAR,
            Tags VARCHAR, EffectiveCost DECIMAL(38, 12), BilledCost DECIMAL(38, 12),
            x_Seats BIGINT, x_ActiveSeats BIGINT, x_ClassKey BIGINT)"""
    )
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = [
        ("aws-cur2", "1", "2026-09", str(n), start + timedelta(days=day),
         start + timedelta(days=day, hours=1), start, "AWS", None, "us-east-1", "aws-cur2",
         "EC2", None, None, "1", cur, None if tag is None else json.dumps(tag), effective,
         billed, None, None, None)
        for n, (tag, effective, billed, day, cur) in enumerate(lines)
    ]  # fmt: skip
    con.executemany(f"INSERT INTO _rollup_lines VALUES ({', '.join(['?'] * 22)})", rows)
    # the rest of the columns the rollups read (commitments, list cost ...): empty here
    have = {r[0] for r in con.execute("DESCRIBE _rollup_lines").fetchall()}
    for col in (c for c in rollups.LINE_COLUMNS if c not in have):
        kind = "DECIMAL(38, 12)" if col in ("ListCost", "ConsumedQuantity") else "VARCHAR"
        con.execute(f"ALTER TABLE _rollup_lines ADD COLUMN {col} {kind}")
    # no classification: every line's class key is NULL, so no class columns join
    classes = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in rollups._CLASS_COLUMNS)
    con.execute(
        f"CREATE TABLE _rollup_keys AS SELECT CAST(NULL AS BIGINT) AS x_ClassKey, {classes}"
    )
    con.execute(f"CREATE TABLE _rollup_groups AS {rollups._groups()}")
    sql = rollups.SQL[contract.SPEND_DAILY.name]([])
    con.execute(f"CREATE TABLE spend_daily AS {sql}")
    return con


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=25))
def test_untagged_is_between_zero_and_the_total(lines: list[tuple]) -> None:
    con = _spend_daily(lines)
    for basis, at in ((CostBasis.AMORTISED, 1), (CostBasis.BILLED, 2)):
        for cur in {c for *_, c in lines}:
            mine = [row for row in lines if row[4] == cur]
            head = queries.headline(con, Filters(basis=basis), cur)
            total = sum((row[at] for row in mine), Decimal(0))
            untagged = sum((row[at] for row in mine if _untagged(row[0])), Decimal(0))
            assert head["total"] == total
            assert head["untagged"] == untagged
            assert head["tagged"] + head["untagged"] == head["total"]
            assert 0 <= head["untagged"] <= head["total"]
