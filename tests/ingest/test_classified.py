"""Derived datasets end to end: ingest -> classifications, gpu_hours, idle_episodes, views."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.derive import classified, lineage
from ingest.derive import gpu_hours as gpu_hours_sql
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from ingest.warehouse.store import Store
from models.settings import IdleSettings, Settings
from tests.fixtures.classified import EGRESS, OCT, SEPT, H, gpu_rows, load, telemetry


@pytest.fixture
def built(warehouse: Path) -> Path:
    store = Store(warehouse)
    start = OCT - 2 * H  # two hours in September, two in October
    telemetry(store, start, 4, idle={0, 1, 3})
    load(store, SEPT, [*gpu_rows(start, 2), *EGRESS], "a")
    load(store, OCT, gpu_rows(OCT, 2), "c")
    views.register_all(Settings())
    return warehouse


def test_classified_costs_has_every_line_with_its_class_and_rule(built: Path) -> None:
    con = connect(built)
    rows = con.execute(
        "select x_AiClass, x_EgressKind, x_Team, x_Workload, count(*), sum(EffectiveCost), "
        "count(x_AiClassRule) from classified_costs group by all order by 1, 2"
    ).fetchall()
    assert rows == [
        ("egress", "inter_region", "unallocated", "unknown", 1, Decimal("30"), 1),
        ("egress", "internet", "recsys", "unknown", 1, Decimal("45"), 1),
        ("gpu_compute", None, "research", "training", 4, Decimal("320"), 4),
    ]
    total = con.execute("select count(*) from cost_lines").fetchone()[0]
    assert total == 6


def test_gpu_hours_and_idle_episodes_after_ingest(built: Path) -> None:
    con = connect(built)
    by_state = con.execute(
        "select state, count(*), sum(cost), sum(idle_cost) from gpu_hours group by 1 order by 1"
    ).fetchall()
    # 4 hours x 8 GPUs at $10 per GPU-hour; GPUs 0-2 idle in hours 0, 1 and 3
    assert by_state == [
        ("active", 23, Decimal("230"), Decimal("0")),
        ("hard_idle", 9, Decimal("90"), Decimal("90")),
    ]
    episodes = con.execute(
        'select gpu_index, start, "end", hours, cost from idle_episodes order by 1, 2'
    ).fetchall()
    start = OCT - 2 * H
    assert episodes[:2] == [
        (0, start, start + 2 * H, 2, Decimal("20")),  # crosses no month: Sept 22:00-24:00
        (0, start + 3 * H, start + 4 * H, 1, Decimal("10")),
    ]
    assert len(episodes) == 6


def test_restated_month_replaces_its_classifications(built: Path) -> None:
    store = Store(built)
    load(store, OCT, gpu_rows(OCT, 2)[:1], "d")  # October restated: one hour only
    con = connect(built)
    n, cost = con.execute(
        "select count(*), sum(EffectiveCost) from classified_costs where BillingPeriodStart = ?",
        [OCT],
    ).fetchone()
    assert (n, cost) == (1, Decimal("80"))
    assert con.execute("select count(*) from classifications").fetchone()[0] == 5
    hours = con.execute("select count(*) from gpu_hours where month = '2026-10'").fetchone()[0]
    assert hours == 8


def test_as_of_reads_the_classification_of_that_time(built: Path) -> None:
    version = (
        connect(built)
        .execute("select version from finops_snapshot() where dataset = 'cost_lines'")
        .fetchone()[0]
    )
    store = Store(built)
    load(store, OCT, gpu_rows(OCT, 2)[:1], "d")
    old = connect(built, as_of=version)
    n, cost, rules = old.execute(
        "select count(*), sum(EffectiveCost), count(x_AiClassRule) from classified_costs "
        "where BillingPeriodStart = ?",
        [OCT],
    ).fetchone()
    assert (n, cost, rules) == (2, Decimal("160"), 2)


def episodes(root: Path) -> list[tuple]:
    return connect(root).execute("select * from idle_episodes order by all").fetchall()


def spy_windows(monkeypatch) -> list[list[str]]:
    """The months of every episodes refresh that derived only the runs near them."""
    calls: list[list[str]] = []
    real = gpu_hours_sql.write_idle_episodes_window

    def spy(con, hours, old, months, settings, path):
        calls.append(months)
        return real(con, hours, old, months, settings, path)

    monkeypatch.setattr(gpu_hours_sql, "write_idle_episodes_window", spy)
    return calls


def test_a_monthly_refresh_derives_again_only_the_runs_near_its_month(
    built: Path, monkeypatch
) -> None:
    store = Store(built)
    windows = spy_windows(monkeypatch)
    telemetry(store, OCT, 2, idle={0, 1})  # October's telemetry restated: idle both hours
    assert windows == [["2026-10"]]
    got = episodes(built)
    start = OCT - 2 * H  # Sept 22:00 to Oct 02:00 now, one run across the month boundary
    assert (0, start, start + 4 * H, 4, Decimal("40")) in [
        (e[2], e[7], e[8], e[9], e[10]) for e in got
    ]
    classified.refresh_episodes(store, Settings())  # whole
    assert episodes(built) == got


def test_episodes_are_derived_whole_when_the_settings_or_their_basis_changed(
    built: Path, monkeypatch
) -> None:
    store = Store(built)
    windows = spy_windows(monkeypatch)
    other = Settings(idle=IdleSettings(episode_min_hours=2))
    with store.writer():
        classified.refresh_gpu_hours(store, other, ["2026-10"])
    assert windows == []  # episode_min_hours changed: every run is derived again
    assert {e[9] for e in episodes(built)} == {2}  # the 1-hour runs are gone
    refresh = classified.refresh_episodes

    def killed(*args, **kwargs):
        raise RuntimeError("killed between the gpu_hours and idle_episodes commits")

    monkeypatch.setattr(classified, "refresh_episodes", killed)
    with pytest.raises(RuntimeError), store.writer():
        classified.refresh_gpu_hours(store, other, ["2026-10"])
    monkeypatch.setattr(classified, "refresh_episodes", refresh)
    with store.writer():  # the episodes are of an older gpu_hours: derived whole
        classified.refresh_gpu_hours(store, other, ["2026-10"])
    assert windows == []
    with store.writer():  # and from then on near the months again
        classified.refresh_gpu_hours(store, other, ["2026-10"])
    assert windows == [["2026-10"]]


def test_gpu_hours_written_before_the_currency_column_are_rebuilt_whole(
    built: Path, monkeypatch
) -> None:
    from deltalake import CommitProperties, write_deltalake

    store = Store(built)
    for name, month in (("gpu_hours", "month"), ("idle_episodes", "strftime(start, '%Y-%m')")):
        # both stored by month: the hour's, an episode's start's
        old = (
            connect(built)
            .sql(f"select * exclude (currency), {month} as x_PartMonth from {name}")
            .pl()
        )
        part = ["x_PartMonth"]
        # written by a finops that recorded its sources but had no currency column yet
        record = lineage.last_commit(store.table(name)).get(lineage.BUILT_FROM)
        write_deltalake(
            str(store.table_path(name)), old.to_arrow(), mode="overwrite",
            schema_mode="overwrite", partition_by=part,
            commit_properties=CommitProperties(
                custom_metadata={lineage.BUILT_FROM: record} if record else None
            ),
        )  # fmt: skip
    # an older warehouse still reads, the new column empty
    assert connect(built).execute(
        "select count(*), count(currency), sum(cost) from gpu_hours"
    ).fetchall() == [(32, 0, Decimal("320"))]
    # replacing one month only would leave September's rows without it: refused, unchanged
    from models.errors import WarehouseError

    version = store.table("gpu_hours").version()
    monkeypatch.setattr(classified, "_outdated", lambda store: False)
    with pytest.raises(WarehouseError, match=r"lacks columns \['currency'\]"), store.writer():
        classified.refresh_gpu_hours(store, Settings(), ["2026-10"])
    assert store.table("gpu_hours").version() == version
    monkeypatch.undo()
    windows = spy_windows(monkeypatch)
    telemetry(store, OCT, 2, idle={0, 1})  # a monthly refresh (October) rebuilds all months
    assert windows == []
    con = connect(built)
    assert con.execute(
        "select strftime(hour, '%Y-%m'), currency, count(*), sum(cost) from gpu_hours "
        "group by all order by 1"
    ).fetchall() == [("2026-09", "USD", 16, Decimal("160")), ("2026-10", "USD", 16, Decimal("160"))]
    # GPUs 0-2 idle from Sept 22:00 to Oct 02:00 now: one run each, in USD
    assert con.execute(
        "select gpu_index, hours, cost, currency from idle_episodes order by 1"
    ).fetchall() == [(g, 4, Decimal("40"), "USD") for g in range(3)]


def test_classify_all_says_each_step_as_it_starts(built: Path) -> None:
    heard: list[tuple[str, int, int]] = []
    counts = classified.reclassify_all(
        Store(built), Settings(), progress=lambda *a: heard.append(a)
    )
    assert counts == {"lines": 6, "gpu_hours": 32}
    assert heard == [
        ("classifying every cost line", 0, 2),
        ("joining GPU-hours to telemetry, finding idle episodes", 1, 2),
        ("done", 2, 2),
    ]
