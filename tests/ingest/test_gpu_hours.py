"""GPU-hours and idle episodes in DuckDB (the production engine) equal the polars oracle
(tests/oracles/idle.py), row for row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ingest.derive.gpu_hours import write_gpu_hours, write_idle_episodes, write_idle_episodes_window
from ingest.derive.scratch import connect
from models.idle import GPU_HOURS, IDLE_EPISODES
from models.schema import MONEY, UTC_TS
from models.settings import IdleSettings
from tests.fixtures import idle_estates
from tests.fixtures.gpu_hours import T0, assert_same, estate, lines_frame, reference, util_frame
from tests.fixtures.idle_estates import H, line


def duckdb_path(
    tmp_path: Path,
    lines: pl.DataFrame,
    util: pl.DataFrame,
    owned: pl.DataFrame | None,
    settings: IdleSettings,
    months: list[str] | None = None,
    grouped: pl.Expr | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    """gpu_hours and idle_episodes as refresh_gpu_hours stages them, and whether the
    episodes were staged with the hours (else derived from the staged hours, as
    refresh_episodes does). Episodes staged with the hours must equal the derived ones.
    The lines `grouped` selects are handed over as a source billing a period in several
    lines (grouped per period as they are read)."""
    hours_path = tmp_path / "gpu_hours"
    episodes_path, derived_path = tmp_path / "episodes.parquet", tmp_path / "derived.parquet"
    with connect(tmp_path, memory_limit="256MB") as con:
        several = pl.lit(False) if grouped is None else grouped
        con.register("lines_in", lines.filter(~several).to_arrow())
        con.register("grouped_in", lines.filter(several).to_arrow())
        con.register("util_in", util.to_arrow())
        done = write_gpu_hours(
            con, "SELECT * FROM lines_in", "SELECT * FROM util_in", owned, settings,
            hours_path, months, episodes_path,
            grouped=None if grouped is None else "SELECT * FROM grouped_in",
        )  # fmt: skip
        staged = f"{hours_path}/*/*.parquet"
        m = (
            write_idle_episodes(
                con, f"SELECT * FROM read_parquet('{staged}')", settings, derived_path
            )
            if done.rows
            else 0
        )
    n = done.rows
    hours = (
        pl.read_parquet(f"{hours_path}/*/*.parquet", hive_partitioning=False).select(
            GPU_HOURS.names
        )
        if n
        else GPU_HOURS.empty()
    )
    episodes = pl.read_parquet(derived_path) if m or n else IDLE_EPISODES.empty()
    assert (len(hours), len(episodes)) == (n, m)
    if done.episodes is not None:
        with_hours = pl.read_parquet(episodes_path)
        assert len(with_hours) == done.episodes
        assert_same(with_hours, episodes)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("duckdb")] == []
    return hours, episodes, done.episodes is not None


def check(
    tmp_path: Path,
    lines,
    util,
    owned=None,
    settings=None,
    months=None,
    *,
    fast: bool | None,
    grouped: pl.Expr | None = None,
) -> pl.DataFrame:
    """DuckDB equals the reference; `fast`: the episodes were staged with the hours (the
    path taken when no GPU-hour has two telemetry rows and periods have <= 62 GPUs)."""
    settings = settings or IdleSettings()
    want_hours, want_eps = reference(lines, util, owned, settings, months)
    got_hours, got_eps, with_hours = duckdb_path(
        tmp_path, lines, util, owned, settings, months, grouped
    )
    assert_same(got_hours, want_hours)
    assert_same(got_eps, want_eps)
    if fast is not None:
        assert with_hours == fast
    return want_hours


def _cases() -> list:
    """The cases of tests/models/idle_estates.py, whose values are asserted on the oracle there:
    (lines, telemetry, owned rates, settings)."""
    out = []
    for billed, rows in (idle_estates.eight_gpus(), idle_estates.by_host(), idle_estates.runs()):
        out += [(billed, rows, None, IdleSettings())]
    out += [([row], [], None, IdleSettings()) for row, _, _ in idle_estates.SHAPES]
    out += [(idle_estates.summed(), [], None, IdleSettings())]
    billed, rows = idle_estates.five_gpus()
    out += [(billed, rows, None, IdleSettings(**kw)) for kw, _ in idle_estates.THRESHOLDS]
    out += [(*idle_estates.runs(), None, IdleSettings(episode_min_hours=2))]
    billed, owned = idle_estates.owned_estate()
    out += [(billed, [], owned, IdleSettings())]
    return out


@pytest.mark.parametrize("case", range(len(_cases())))
def test_the_cases_of_the_oracle_tests_run_the_same_on_the_engine(tmp_path: Path, case) -> None:
    billed, rows, owned, settings = _cases()[case]
    hours = check(tmp_path, lines_frame(billed), util_frame(rows), owned, settings, fast=None)
    assert len(hours) > 0


# ---- varied inputs ---------------------------------------------------------------------------


def test_varied_estate_matches_the_reference(tmp_path: Path) -> None:
    lines, util, owned = estate()
    hours = check(tmp_path, lines, util, owned, fast=False)  # duplicate telemetry
    # the cases are all there
    assert set(hours["state"]) == {
        "active", "underutilised", "allocated_idle", "hard_idle", "unmonitored"
    }  # fmt: skip
    costs = hours.group_by("resource_id").agg(pl.col("cost").unique().sort())
    by = dict(costs.iter_rows())
    assert by["asset-old"] == [Decimal("0.1375"), Decimal("1.1375")]  # life ends on day 2
    assert by["ASSET-NEW"] == [Decimal("1.1375")]
    assert len(hours.filter(pl.col("resource_id") == "i-frac")) == 11 * 4
    assert by["i-0p5"] == [Decimal("7.5275")]
    assert by["i-third"] == [Decimal("1.666666666667")]
    assert [by[f"i-half-{k}"][0] * 10**12 for k in range(5)] == [2, 4, -2, -4, 2]
    currencies = hours.group_by("currency").agg(pl.col("resource_id").unique().sort())
    assert dict(currencies.iter_rows())["EUR"] == ["/subscriptions/s/vm-eu"]
    assert by["/subscriptions/s/vm-eu"] == [Decimal("15.3")]


@pytest.mark.parametrize(
    "grouped",
    [
        pl.lit(True),
        pl.col("x_Source") == "gcp",
        pl.col("ResourceId").str.to_lowercase() == "i-0case",
    ],
    ids=["every line", "one source", "a resource billed in ids of different case"],
)
def test_lines_grouped_per_period_as_they_are_read_give_the_same_hours(
    tmp_path: Path, grouped: pl.Expr
) -> None:
    """A source that bills a period in several lines (GCP's SKU lines of a VM-hour) has its
    lines grouped per period as they are staged: the same hours, costs, hosts and teams as
    line by line (the period's cost summed, the first line's id, the costliest line's team)."""
    lines, util, owned = estate()
    hours = check(tmp_path, lines, util, owned, fast=False, grouped=grouped)
    by = dict(hours.group_by("resource_id").agg(pl.col("cost").unique().sort()).iter_rows())
    assert by["i-0p5"] == [Decimal("7.5275")]  # (98.32 - 38.1) / 8 GPUs, two lines an hour
    case = hours.filter(pl.col("resource_id").str.to_lowercase() == "i-0case").sort("hour")
    assert case["team"].to_list()[-1] == "search"  # equally costly lines: the first line's team
    hosts = case.group_by("hour").agg(pl.col("host").first()).sort("hour")["host"].to_list()
    assert hosts == ["case-host", None, "case-host"]  # the period's first host that is named


@pytest.mark.parametrize(
    "settings", [IdleSettings(), IdleSettings(episode_min_hours=3, idle_below=0.3)]
)
def test_varied_estate_without_duplicate_telemetry(tmp_path: Path, settings) -> None:
    """The fast path: telemetry joined per period-hour, the GPU rows it lacks added from a
    bit mask, episodes staged with the hours. Overlapping periods stay (i-ovl)."""
    lines, util, owned = estate()
    dups = (pl.col("samples") == 0) | (
        (pl.col("host") == "case-host") & pl.col("resource_id").is_null()
    )
    hours = check(tmp_path, lines, util.filter(~dups), owned, settings, fast=True)
    assert hours.filter(pl.col("resource_id") == "i-ovl", pl.col("hour") == T0).height == 2
    assert hours.filter(pl.col("state") == "unmonitored").height > 0


def test_instances_of_more_than_62_gpus(tmp_path: Path) -> None:
    """Past the bit mask's width every billed GPU row is joined to telemetry."""
    rows = [line("i-big", T0 + h * H, 1, "640", gpus=64.0, host="big") for h in range(3)]
    u = [
        (T0 + h * H, "big", "i-big", g, None, 0.0 if g % 3 else 0.5, 0.0, 0.0, 60)
        for h in range(3)
        for g in range(0, 64, 2)  # odd GPUs unmonitored
    ]
    hours = check(tmp_path, lines_frame(rows), util_frame(u), fast=False)
    assert hours.group_by("state").len().sort("state").rows() == [
        ("active", 33), ("hard_idle", 63), ("unmonitored", 96)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [IdleSettings(), IdleSettings(episode_min_hours=3, idle_below=0.3, min_samples=30)],
)
def test_without_owned_rates_and_other_settings(tmp_path: Path, settings: IdleSettings) -> None:
    lines, util, _ = estate()
    check(tmp_path, lines, util, None, settings, fast=False)


def test_months_as_refresh_limits_them(tmp_path: Path) -> None:
    lines, util, owned = estate()
    late = [line("i-edge", datetime(2026, 10, 31, 20, tzinfo=UTC), 24, "24", gpus=1.0)]
    lines = pl.concat(
        [lines, lines_frame(late).with_columns(pl.lit(999, pl.Int64).alias("x_LineId"))]
    )
    util = pl.concat([util, util_frame([(datetime(2026, 11, 1, 1, tzinfo=UTC), "e", "i-edge",
                                         0, None, 0.0, 0.0, 0.0, 60)])])  # fmt: skip
    check(tmp_path, lines, util, owned, months=["2026-10"], fast=False)
    check(tmp_path, lines, util, owned, months=["2026-11", "2027-01"], fast=False)


def test_no_lines(tmp_path: Path) -> None:
    lines, util, owned = estate()
    check(tmp_path, lines.clear(), util, owned, fast=True)


def test_bench_shaped_data(tmp_path: Path) -> None:
    """As bench_classify makes it (random states per hour), at 3 hosts x 60 hours."""
    hosts, hours = 3, 60
    idx = np.arange(hosts * hours)
    host, hour = idx // hours, idx % hours
    rows = [
        line(f"i-{h:017x}", T0 + int(k) * H, 1, "44", host=f"ip-10-0-0-{h}")
        for h, k in zip(host, hour, strict=True)
    ]
    rng = np.random.default_rng(3)
    n = len(idx) * 8
    avg = rng.choice([0.0, 0.01, 0.2, 0.9], n)
    mx = rng.choice([0.0, 0.5, 1.0], n)
    mem = rng.choice([0.0, 40_000.0], n)
    u = [
        (T0 + int(hour[i // 8]) * H, f"ip-10-0-0-{host[i // 8]}", f"i-{host[i // 8]:017x}",
         i % 8, None, float(avg[i]), float(mx[i]), float(mem[i]), 60)
        for i in range(n)
    ]  # fmt: skip
    check(tmp_path, lines_frame(rows), util_frame(u), fast=True)


@pytest.mark.parametrize(
    "settings", [IdleSettings(), IdleSettings(min_samples=2.5, hard_idle_max_below=0.3)]
)
def test_state_sql_is_state_expr_at_the_edges(settings: IdleSettings) -> None:
    import duckdb

    from models.idle import state_sql
    from tests.oracles.idle import state_expr

    edges = [None, float("nan"), 0.0, 0.01, 0.05, 0.049999999, 0.3, 0.30000000000000004, 1.0]
    rows = [
        (a, m, mem, n)
        for a in edges
        for m in edges
        for mem in (None, 0.0, 1023.9, 1024.0, 9000.0)
        for n in (None, 0, 1, 2, 3)
    ]
    frame = pl.DataFrame(
        rows,
        schema={"avg_active": pl.Float64, "max_active": pl.Float64,
                "mem_used_mib": pl.Float64, "samples": pl.Int64},
        orient="row",
    )  # fmt: skip
    want = frame.with_columns(pl.col("samples").fill_null(0)).select(state_expr(settings))
    con = duckdb.connect()
    con.register("frame", frame.to_arrow())
    got = con.execute(f"SELECT {state_sql(settings)} FROM frame").fetchall()
    assert [g[0] for g in got] == want.to_series().to_list()


def hours_frame(seed: int, start: datetime, hours: int) -> pl.DataFrame:
    """gpu_hours rows (the columns episodes read) of 3 resources x 4 GPUs: each GPU idle in
    runs of its own length (1 hour to longer than a month, the shorter ones with noise); a
    team that changes mid-run; uuids missing on some hours."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(3):
        switch = int(rng.integers(0, hours))
        for g in range(4):
            length = [1, 3, 40, 900][(r + g) % 4]
            phase = int(rng.integers(0, length * 2))
            for k in range(hours):
                noise = length < 900 and rng.random() < 0.02  # the longest runs unbroken
                idle = ((k + phase) // length) % 2 == 0 and not noise
                state = ("hard_idle" if rng.random() < 0.7 else "allocated_idle") if idle else (
                    "active" if rng.random() < 0.9 else "unmonitored")  # fmt: skip
                rows.append({
                    "hour": start + k * H, "resource_id": f"i-{r}", "host": f"h-{r}",
                    "gpu_index": g, "gpu_uuid": None if rng.random() < 0.2 else f"GPU-{r}-{g}",
                    "gpu_model": "H100", "provider": "AWS", "currency": "EUR" if r == 2 else "USD",
                    "team": "a" if k < switch else "b", "state": state,
                    "idle_cost": Decimal("2.5") if idle else Decimal(0),
                })  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"hour": UTC_TS, "idle_cost": MONEY})


def set_state(frame: pl.DataFrame, hours: list[datetime], state: str) -> pl.DataFrame:
    """GPU 0 of i-0 in `state` at `hours`."""
    at = (pl.col("resource_id") == "i-0") & (pl.col("gpu_index") == 0) & pl.col("hour").is_in(hours)
    idle = state in ("hard_idle", "allocated_idle")
    return frame.with_columns(
        pl.when(at).then(pl.lit(state)).otherwise(pl.col("state")).alias("state"),
        pl.when(at).then(pl.lit(Decimal("2.5") if idle else Decimal(0), MONEY))
        .otherwise(pl.col("idle_cost")).alias("idle_cost"),
    )  # fmt: skip


def redrawn(old: pl.DataFrame, new: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """`old` with its rows in `months` replaced by those of `new` (one GPU left unbilled)."""
    in_months = pl.col("hour").dt.strftime("%Y-%m").is_in(months)
    fresh = new.filter(in_months & ~((pl.col("resource_id") == "i-2") & (pl.col("gpu_index") == 1)))
    return pl.concat([old.filter(~in_months), fresh])


@pytest.mark.parametrize(
    "months",
    [["2026-10"], ["2026-11"], ["2026-10", "2026-11"], ["2026-09"], ["2026-12"],
     ["2026-09", "2026-11"]],
)  # fmt: skip
@pytest.mark.parametrize("min_hours", [1, 5])
def test_episodes_of_some_months_equal_the_whole_derive(
    tmp_path: Path, months: list[str], min_hours: int
) -> None:
    start, n = datetime(2026, 9, 20, tzinfo=UTC), 24 * 80  # 20 Sept to 9 Dec
    settings = IdleSettings(episode_min_hours=min_hours)
    before = hours_frame(1, start, n)
    after = redrawn(before, hours_frame(2, start, n), months)
    got, whole = window_and_whole(tmp_path, before, after, months, settings)
    assert_same(got, whole)
    # the case is not trivial: episodes cross the window's edges, some changed, some kept
    firsts = [datetime.fromisoformat(f"{m}-01T00:00:00+00:00") for m in months]
    edges = [*firsts, *((d + 32 * 24 * H).replace(day=1) for d in firsts)]  # starts and ends
    crossing = whole.filter(
        pl.any_horizontal((pl.col("start") < e) & (pl.col("end") > e) for e in edges)
    )
    old = pl.read_parquet(tmp_path / "old.parquet")
    changed = old.join(whole, on=whole.columns, how="anti")
    kept = old.join(whole, on=whole.columns, how="semi")
    assert len(crossing) > 0 and len(changed) > 0 and len(kept) > 0


def window_and_whole(
    tmp_path: Path, before: pl.DataFrame, after: pl.DataFrame, months: list[str], settings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    with connect(tmp_path) as con:
        con.register("before", before.to_arrow())
        con.register("after", after.to_arrow())
        write_idle_episodes(con, "SELECT * FROM before", settings, tmp_path / "old.parquet")
        write_idle_episodes(con, "SELECT * FROM after", settings, tmp_path / "whole.parquet")
        old = f"SELECT * FROM read_parquet('{tmp_path / 'old.parquet'}')"
        rows = write_idle_episodes_window(
            con, "SELECT * FROM after", old, months, settings, tmp_path / "window.parquet"
        )
    got = pl.read_parquet(tmp_path / "window.parquet")
    assert rows == len(got)
    return got, pl.read_parquet(tmp_path / "whole.parquet")


def test_a_stretch_too_short_to_be_an_episode_joins_one_across_the_window_edge(
    tmp_path: Path,
) -> None:
    """One GPU: 3 idle hours either side of October, too short for an episode of 5 hours
    until October's first and last 10 hours turn idle and join them."""
    start, n = datetime(2026, 9, 25, tzinfo=UTC), 24 * 45
    gpu = (pl.col("resource_id") == "i-0") & (pl.col("gpu_index") == 0)
    before = set_state(
        hours_frame(1, start, n).filter(gpu), [start + k * H for k in range(n)], "active"
    )
    ws, we = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    outside = [ws - k * H for k in range(1, 4)] + [we + k * H for k in range(3)]
    before = set_state(before, outside, "hard_idle")
    inside = [ws + k * H for k in range(10)] + [we - k * H for k in range(1, 11)]
    after = set_state(before, inside, "hard_idle")
    got, whole = window_and_whole(
        tmp_path, before, after, ["2026-10"], IdleSettings(episode_min_hours=5)
    )
    assert whole.select("start", "end", "hours").rows() == [
        (ws - 3 * H, ws + 10 * H, 13), (we - 10 * H, we + 3 * H, 13),
    ]  # fmt: skip
    assert_same(got, whole)
