"""One more month of GPU-hours costs one month: ingesting it rewrites that month's gpu_hours,
GPU rollups and telemetry_monthly only (the files of the other months stay as they were),
and idle_episodes only for the months its runs can reach, with an episode that runs across
the month boundary still one episode."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from ingest.derive import classified, lineage, month_inputs, refresh
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from ingest.warehouse.store import Store
from models.gpu_rollups import WEIGHABLE, rollup_sql
from models.settings import Settings
from tests.fixtures.gpu_months import GPU_HOUR, H, ingest, loads, resource

MONTHS = ("2025-01", "2025-02", "2025-03")
HOSTS = 2
ACROSS_MARCH = datetime(2025, 2, 28, 20, tzinfo=UTC)  # host 0, GPU 0: 8 idle hours to 1 March
ACROSS_FEB = datetime(2025, 1, 31, 22, tzinfo=UTC)  # host 1, GPU 5: 4 idle hours to 1 Feb
IN_JAN = datetime(2025, 1, 10, tzinfo=UTC)  # host 1, GPU 3: 5 idle hours in January
IDLE = (
    [(0, 0, ACROSS_MARCH + k * H) for k in range(8)]
    + [(1, 5, ACROSS_FEB + k * H) for k in range(4)]
    + [(1, 3, IN_JAN + k * H) for k in range(5)]
)
BY_MONTH = ("gpu_hours", "gpu_buckets", "gpu_demand", "telemetry_monthly")  # owned days: none


def month_files(root: Path, table: str) -> dict[str, set[str]]:
    actions = pl.DataFrame(DeltaTable(str(root / table)).get_add_actions(flatten=True))
    out: dict[str, set[str]] = {}
    for path, month in actions.select("path", "partition.x_PartMonth").iter_rows():
        out.setdefault(month, set()).add(path)
    return out


def episodes(root: Path) -> list[tuple]:
    views.register_all(Settings())
    return (
        connect(root)
        .execute(
            'SELECT resource_id, gpu_index, start, "end", hours, cost, currency FROM '
            "idle_episodes ORDER BY start"
        )
        .fetchall()
    )


def test_month_three_rewrites_only_its_month_and_joins_the_episode_across_the_boundary(
    tmp_path: Path,
) -> None:
    root = tmp_path / "warehouse"
    for month in MONTHS[:2]:
        ingest(root, month, HOSTS, IDLE)
    before = {t: month_files(root, t) for t in (*BY_MONTH, "idle_episodes")}
    assert episodes(root)[-1][2:5] == (ACROSS_MARCH, ACROSS_MARCH + 4 * H, 4)  # so far

    ingest(root, MONTHS[2], HOSTS, IDLE)

    after = {t: month_files(root, t) for t in (*BY_MONTH, "idle_episodes")}
    for table in BY_MONTH:
        assert set(after[table]) == set(MONTHS), table
        for month in MONTHS[:2]:
            assert after[table][month] == before[table][month], (table, month)
        assert not after[table]["2025-03"] & before[table].get("2025-03", set())
    # January's episodes cannot reach March: kept; February's run into it: rewritten
    assert after["idle_episodes"]["2025-01"] == before["idle_episodes"]["2025-01"]
    assert after["idle_episodes"]["2025-02"] != before["idle_episodes"]["2025-02"]
    got = episodes(root)
    assert got == [
        (resource(1), 3, IN_JAN, IN_JAN + 5 * H, 5, 5 * GPU_HOUR, "USD"),
        (resource(1), 5, ACROSS_FEB, ACROSS_FEB + 4 * H, 4, 4 * GPU_HOUR, "USD"),
        (resource(0), 0, ACROSS_MARCH, ACROSS_MARCH + 8 * H, 8, Decimal("98.32"), "USD"),
    ]
    assert lineage.stale(root, Settings()) == []
    store = Store(root)
    with store.writer():
        classified.refresh_episodes(store, Settings())  # whole: the same episodes
    assert episodes(root) == got


def test_gpu_rollups_equal_a_direct_query_over_gpu_hours(tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    for month in MONTHS:
        ingest(root, month, HOSTS, IDLE)
    views.register_all(Settings())
    con = connect(root)
    direct = con.execute(
        "SELECT month, currency, count(*), sum(cost), sum(idle_cost) FROM gpu_hours "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    hours = {"2025-01": 744, "2025-02": 672, "2025-03": 744}
    idle = {"2025-01": 5 + 2, "2025-02": 2 + 4, "2025-03": 4}
    assert direct == [
        (m, "USD", 16 * hours[m], 16 * hours[m] * GPU_HOUR, idle[m] * GPU_HOUR) for m in MONTHS
    ]
    month = "strftime({col}, '%Y-%m')"
    assert (
        con.execute(
            f"SELECT {month.format(col='day')}, currency, sum(hours), sum(cost), sum(idle_cost) "
            "FROM gpu_buckets GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        == direct
    )
    assert (
        con.execute(
            f"SELECT {month.format(col='hour')}, currency, sum(gpus), sum(cost), "
            "sum(cost) FILTER (WHERE state IN ('allocated_idle', 'hard_idle')) "
            "FROM gpu_demand GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        == direct
    )
    assert con.execute(
        f"SELECT {month.format(col='month')}, sum(gpu_hours), max(gpus), max(data_until) "
        "FROM telemetry_monthly GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        ("2025-01", 11904, 16, datetime(2025, 2, 1, tzinfo=UTC)),
        ("2025-02", 10752, 16, datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03", 11904, 16, datetime(2025, 4, 1, tzinfo=UTC)),
    ]
    # the one resource an engineer opens: per hour, from gpu_hours
    assert con.execute(
        "SELECT count(*), sum(gpus), sum(idle_default), sum(idle_cost) FROM gpu_hourly "
        "WHERE resource_id = $r",
        {"r": resource(0)},
    ).fetchall() == [(744 + 672 + 744, 8 * (744 + 672 + 744), 8, 8 * GPU_HOUR)]


def test_a_month_reads_its_own_cost_line_files_though_the_log_records_no_ranges(
    tmp_path: Path,
) -> None:
    """A load commits row counts only: the month's files are told by their Parquet footers,
    so a month's refresh reads neither the other months' lines nor their line classes."""
    root = tmp_path / "warehouse"
    for month in MONTHS:
        ingest(root, month, HOSTS, IDLE)
    store = Store(root)
    table = store.table("cost_lines")
    assert table is not None
    logged = pl.DataFrame(table.get_add_actions(flatten=True))
    recorded = logged.get_column("min.ChargePeriodStart", default=None)
    assert recorded is None or recorded.is_null().all()  # the case this is about
    assert logged.height == 3
    for month in MONTHS:
        picked = month_inputs.line_files(store, table, [month])
        assert picked["partition.x_PartPeriod"].to_list() == [month]
    both = month_inputs.line_files(store, table, list(MONTHS[1:]))
    assert sorted(both["partition.x_PartPeriod"].to_list()) == list(MONTHS[1:])
    assert month_inputs.line_files(store, table, ["2024-12"]).height == 0


def test_rollups_of_partly_monitored_hours_equal_the_rollup_of_every_gpu_hour(
    tmp_path: Path,
) -> None:
    """A period-hour's unmonitored GPUs are rolled up as one weighted row: the stored
    gpu_buckets and gpu_demand equal the same rollups over one gpu_hours row per GPU."""
    root = tmp_path / "warehouse"
    store = Store(root)
    period, util = loads(MONTHS[0], HOSTS, IDLE)
    # host 1 reports GPUs 0-4 only; host 0 reports nothing in the month's first 100 hours
    first = datetime(2025, 1, 1, tzinfo=UTC)
    util = dataclasses.replace(
        util,
        rows=util.rows.filter(
            ~((pl.col("host") == "gpu-1") & (pl.col("gpu_index") > 4))
            & ~((pl.col("host") == "gpu-0") & (pl.col("hour") < first + 100 * H))
        ),
    )
    results = store.load_cost_lines([period]) + store.load_gpu_util(util)
    refresh.refresh(store, Settings(), results)
    views.register_all(Settings())
    con = connect(root)
    unmonitored = con.execute(
        "SELECT sum(gpus) FROM gpu_demand WHERE state = 'unmonitored'"
    ).fetchall()
    assert unmonitored == [(3 * 744 + 8 * 100,)]
    for table in WEIGHABLE:
        cols = ", ".join(f'"{c}"' for c in table.names)
        direct = f"SELECT {cols} FROM ({rollup_sql(table, 'SELECT * FROM gpu_hours')})"
        stored = f"SELECT {cols} FROM {table.name}"
        assert con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0] > 0
        for a, b in ((direct, stored), (stored, direct)):
            assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall() == [(0,)], (
                table.name
            )


def test_a_second_account_in_a_month_rebuilds_the_month_from_both_accounts_gpu_lines(
    tmp_path: Path,
) -> None:
    """The refresh after a second account's month classifies that account's partition only,
    yet rebuilds the month from both accounts' GPU lines, as a whole rebuild gives them."""
    root = tmp_path / "warehouse"
    ingest(root, MONTHS[0], HOSTS, IDLE)
    period, _ = loads(MONTHS[0], HOSTS, IDLE)
    other = dataclasses.replace(
        period,
        billing_account="999999999999",
        lines=period.lines.with_columns(
            pl.col("ResourceId").str.replace("^i-0", "i-9"),
            pl.lit("999999999999").alias("BillingAccountId"),
        ),
    )

    def classes_files() -> dict[str, set[str]]:
        actions = pl.DataFrame(DeltaTable(str(root / "line_classes")).get_add_actions(flatten=True))
        out: dict[str, set[str]] = {}
        for path, account in actions.select("path", "partition.x_PartAccount").iter_rows():
            out.setdefault(account, set()).add(path)
        return out

    first = classes_files()
    store = Store(root)
    refresh.refresh(store, Settings(), store.load_cost_lines([other]))
    after = classes_files()
    assert set(after) == {"412395078111", "999999999999"}
    assert after["412395078111"] == first["412395078111"]  # not classified again

    views.register_all(Settings())
    query = (
        "SELECT resource_id, count(*), sum(cost), sum(idle_cost) FROM gpu_hours "
        "WHERE month = '2025-01' GROUP BY ALL ORDER BY ALL"
    )
    month = connect(root).execute(query).fetchall()
    hours, both = 744, sorted([resource(0), resource(1), "i-9" + resource(0)[3:],
                               "i-9" + resource(1)[3:]])  # fmt: skip
    assert [r[0] for r in month] == both
    assert [r[1:3] for r in month] == [(8 * hours, 8 * hours * GPU_HOUR)] * 4
    # January's 7 idle GPU-hours are the first account's host 1; the second has no telemetry
    assert [r[3] for r in month] == [0, 7 * GPU_HOUR, 0, 0]
    with store.writer():
        classified.refresh_gpu_hours(store, Settings())  # whole, from cost_lines
    assert connect(root).execute(query).fetchall() == month
