"""The dashboard's fast paths give the same answers as the plain computation they replace.

Own vs rent on a prepared snapshot sums u, u_r and the demand curve in DuckDB; the explorer
reads tag values and line-item pages from the rollups kept at ingest. Each is compared with the
direct answer (`recommend` over every GPU-hour; SQL over every line) on real DuckDB.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from dashboard.queries import gpu as queries_gpu
from dashboard.queries import lines as queries_lines
from dashboard.queries import own_vs_rent as queries_own
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from models import rollups
from models.cost_basis import CostBasis
from models.recommendation import OwnVsRentSettings, recommend, to_dict
from tests.fixtures.demand import SCHEMA, demand_rows

A, U, AI, HI, N = "active", "underutilised", "allocated_idle", "hard_idle", "unmonitored"
DAYS_BEFORE = 24 * 45  # hours: six weeks before the fleet's hours, outside a one-month window

FLEET = pl.DataFrame(
    [
        r
        for g in (
            # owned: 2 GPUs x 10 hours; 12 useful of 18 monitored, 2 unmonitored
            demand_rows("onprem", "node-1", [A, A, A, U, U, AI, AI, HI, N, N], start=DAYS_BEFORE),
            demand_rows("onprem", "node-1", [A] * 7 + [HI] * 3, gpu_index=1, start=DAYS_BEFORE),
            # seen only six weeks and five weeks before: outside a one-month window
            demand_rows("onprem", "node-2", [A] * 5, gpu_index=0),
            # cloud: 4 useful of 6 monitored, 4 billing-only hours at USD 6.88
            demand_rows("cloud", "i-1", [A, A, U, U, HI, AI, N, N, N, N], cost="6.88",
                  start=DAYS_BEFORE),
            demand_rows("cloud", "i-1", [A, HI], cost="6.88", start=DAYS_BEFORE - 24 * 35),
            # another model that must not leak into H100 figures
            demand_rows("cloud", "i-2", [A] * 10, gpu_model="A100", cost="3.43", start=DAYS_BEFORE),
        )
        for r in g
    ],
    schema=SCHEMA,
)  # fmt: skip


@pytest.fixture
def gpu_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("fleet", FLEET)
    con.execute("CREATE TABLE gpu_hours AS SELECT * FROM fleet")
    con.unregister("fleet")
    return con


@pytest.mark.parametrize("months", [1, 2, 12])
def test_own_vs_rent_from_rollups_equals_recommend_over_every_gpu_hour(gpu_con, months) -> None:
    settings = OwnVsRentSettings()
    direct = recommend(
        FLEET.lazy(), queries_own.book(settings, ()), "H100", months, burst_option=None
    )
    unprepared = queries_own.recommendation(gpu_con, settings, "H100", months, ())
    queries_gpu.prepare(gpu_con)
    fast = queries_own.recommendation(gpu_con, settings, "H100", months, ())
    assert to_dict(fast) == to_dict(direct) == to_dict(unprepared)
    assert fast.demand.hourly.equals(direct.demand.hourly)
    assert fast.measured == direct.measured
    m = fast.measured
    assert (m.owned_useful_hours, m.owned_monitored_hours, m.owned_unmonitored_hours) == (
        (12, 18, 2) if months == 1 else (17, 23, 2)
    )
    assert (m.cloud_useful_hours, m.cloud_monitored_hours, m.cloud_unmonitored_hours) == (
        (4, 6, 4) if months == 1 else (5, 8, 4)
    )
    assert m.cloud_cost == Decimal("6.88") * (10 if months == 1 else 12)
    assert m.owned_gpus == (2 if months == 1 else 3)
    assert fast.demand.measured_gpu_hours == 16 + (0 if months == 1 else 6)
    assert fast.demand.estimated_gpu_hours == 4


def test_own_vs_rent_unknown_gpu_is_the_first_error(gpu_con) -> None:
    from models.errors import ConfigError, InputError

    queries_gpu.prepare(gpu_con)
    with pytest.raises((ConfigError, InputError), match="owned-node prices"):
        queries_own.recommendation(gpu_con, OwnVsRentSettings(), "B999", 12, ())


def test_window_ends_after_the_last_gpu_hour_of_any_model(gpu_con) -> None:
    queries_gpu.prepare(gpu_con)
    rec = queries_own.recommendation(gpu_con, OwnVsRentSettings(), "H100", 1, ())
    last = FLEET["hour"].max()
    assert rec.measured.window.end == last + timedelta(hours=1)


# ---- the explorer over the small warehouse -----------------------------------------------


# Kept costliest lines: all of them, some (pages above and below the cut), and none.
@pytest.fixture(scope="module", params=[1000, 6, 0])
def prepared(built_warehouse, request):
    from ingest.warehouse import connection as warehouse
    from ingest.warehouse import views
    from models.settings import Settings

    views.register_all(Settings())
    kept, rollups.TOP_LINES = rollups.TOP_LINES, request.param  # the reader's view keeps these
    try:
        con = warehouse.connect(built_warehouse)
        queries.prepare(con)
        if not request.param:
            con.execute("DROP VIEW top_lines")
        yield con
    finally:
        rollups.TOP_LINES = kept


@pytest.mark.parametrize("kept", [1000, 6])  # every line; a cut inside a run of equal costs
def test_kept_lines_are_the_costliest_with_their_classes(built_warehouse, kept, monkeypatch):
    from ingest.warehouse import connection as warehouse
    from ingest.warehouse import views
    from models.settings import Settings

    views.register_all(Settings())
    monkeypatch.setattr(rollups, "TOP_LINES", kept)  # read by the view when connecting
    con = warehouse.connect(built_warehouse)
    queries.prepare(con)
    cols = "x_LineId, EffectiveCost, x_Team, x_AiClass"
    got = con.sql(f"SELECT {cols} FROM top_lines ORDER BY EffectiveCost DESC, x_LineId")
    want = con.sql(
        f"SELECT {cols} FROM classified_costs ORDER BY EffectiveCost DESC NULLS LAST, x_LineId "
        f"LIMIT {kept}"
    )
    assert got.fetchall() == want.fetchall()
    assert len(got.fetchall()) == min(kept, 18)


def _direct_tags(con, tag: str, f: Filters) -> pl.DataFrame:
    teams = f"AND coalesce(x_Team, '{queries.UNSET}') IN ?" if f.teams else ""
    return con.sql(
        f"""SELECT coalesce(nullif(json_extract_string(Tags, '$."' || ? || '"'), ''), '(not set)')
                     AS key,
                   sum({f.basis.column}) AS cost, count(*) AS lines
            FROM classified_costs WHERE BillingCurrency = 'USD' {teams}
            GROUP BY 1 ORDER BY cost DESC, key""",
        params=[tag, list(f.teams)] if f.teams else [tag],
    ).pl()


@pytest.mark.parametrize("tag", ["team", "env", "workload", "no-such-key", 'te"am'])
@pytest.mark.parametrize("teams", [(), ("ml-research",), ("(not set)",)])
@pytest.mark.parametrize("basis", list(CostBasis))
def test_tag_breakdown_from_the_rollup_equals_the_line_items(prepared, tag, teams, basis) -> None:
    f = Filters(teams=teams, basis=basis)
    got = queries_lines.tag_breakdown(prepared.cursor(), f, tag, "USD")
    want = _direct_tags(prepared, tag.replace('"', ""), f)
    assert got.rows() == want.rows()
    assert got["cost"].sum() == _direct_tags(prepared, "team", f)["cost"].sum()


def _direct_page(con, by: str | None, key: str | None, page: int, size: int, teams) -> list:
    where = (
        f"AND coalesce(CAST({queries.LINE_COLUMNS[by]} AS VARCHAR), '(not set)') = ?" if by else ""
    )
    where += " AND coalesce(x_Team, '(not set)') IN ?" if teams else ""
    return con.sql(
        f"""SELECT x_LineId, EffectiveCost FROM ({queries.lines_sql(con)})
            WHERE BillingCurrency = 'USD' {where}
            ORDER BY EffectiveCost DESC, x_LineId LIMIT ? OFFSET ?""",
        params=[*([key] if by else []), *([list(teams)] if teams else []), size, page * size],
    ).fetchall()


# 18 lines in 10 daily groups, 9 distinct costs: pages cross ties, and some ask for more lines
# than the rollup has groups (no cost floor then).
@pytest.mark.parametrize(
    ("by", "key", "page", "size", "teams"),
    [
        (None, None, 0, 5, ()),
        (None, None, 2, 7, ()),
        (None, None, 1, 3, ("nlp", "vision")),
        ("service", "Amazon Elastic Compute Cloud", 1, 4, ()),
        ("provider", "AWS", 2, 3, ()),
        ("team", "nlp", 1, 3, ()),
        ("AI class", "gpu_compute", 1, 5, ()),
        ("AI class", "egress", 0, 2, ("unallocated",)),
        ("account", "(not set)", 0, 5, ()),
    ],
)
def test_drill_page_is_the_costliest_lines_in_order(prepared, by, key, page, size, teams) -> None:
    f = Filters(teams=teams)
    got = queries_lines.drill_page(prepared.cursor(), f, "USD", by, key, page, size)
    want = _direct_page(prepared, by, key, page, size, teams)
    assert want, "the case must select lines"
    assert list(zip(got["x_LineId"], got["EffectiveCost"], strict=True)) == want
