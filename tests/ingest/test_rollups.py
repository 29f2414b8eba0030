"""The rollups follow the loads partition by partition: a second month rewrites only its own
partitions, a changed rule rebuilds them all, and a warehouse written before rollups existed
gets them at its next vacuum (lineage names them until then)."""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.derive import classified, lineage
from ingest.derive import refresh as derived
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from ingest.warehouse.load_contract import SourceFile
from ingest.warehouse.store import Store
from models.rollups import ROLLUPS
from models.settings import Settings
from tests.fixtures.small_warehouse import cost_batches

SEPT = {"aws-cur2/412395078111/2026-09", "azure-cost-details/sub-1/2026-09"}
OCT = {"aws-cur2/412395078111/2026-10", "azure-cost-details/sub-1/2026-10"}
BY_MONTH = (
    "SELECT strftime(day, '%Y-%m'), currency, sum(amortised), sum(billed), sum(lines) "
    "FROM spend_daily GROUP BY ALL ORDER BY ALL"
)


def files(root: Path) -> dict[str, dict[str, set[str]]]:
    """{rollup: {partition: its data files}} of the current versions."""
    out = {}
    for table in ROLLUPS:
        table_ = DeltaTable(str(root / table.name))
        actions = pl.DataFrame(table_.get_add_actions(flatten=True)).to_dicts()
        parts: dict[str, set[str]] = {}
        for a in actions:
            key = lineage.part_key([a[f"partition.{k}"] for k in lineage.PART])
            parts.setdefault(key, set()).add(a["path"])
        out[table.name] = parts
    return out


def figures(root: Path, sql: str = BY_MONTH) -> list[tuple]:
    views.register_all(Settings())
    return connect(root).execute(sql).fetchall()


def ingest(store: Store, period: str) -> None:
    batches = [b for b in cost_batches() if b.billing_period == period]
    derived.refresh(store, Settings(), store.load_cost_lines(batches))


def test_a_second_month_rewrites_only_its_partitions(warehouse: Path) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    before = files(warehouse)
    assert all(set(parts) <= SEPT for parts in before.values())
    assert set(before["spend_daily"]) == set(before["billed_periods"]) == SEPT
    assert figures(warehouse) == [
        ("2026-09", "USD", Decimal("329.15"), Decimal("329.15"), 4),
    ]

    ingest(store, "2026-10")
    after = files(warehouse)
    for name, parts in after.items():
        for part in SEPT & set(before[name]):
            assert parts[part] == before[name][part], f"{name} {part} was rewritten"
    assert set(after["spend_daily"]) == SEPT | OCT
    assert set(after["top_lines_parts"]) == SEPT | OCT
    assert figures(warehouse) == [
        ("2026-09", "USD", Decimal("329.15"), Decimal("329.15"), 4),
        ("2026-10", "USD", Decimal("1458.30"), Decimal("1458.30"), 14),
    ]
    assert lineage.stale(store, Settings()) == []


RECLASSED = """
[[rules]]
id = "acme.replication_link"
priority = 800
description = "replication to us-west-2 runs over our Direct Connect"
match.x_UsageType = { regex = '^USE1-USW2-AWS-Out-Bytes$' }
set = { ai_class = "egress", egress_kind = "interconnect" }
"""
EGRESS = "SELECT kind, sum(amortised), sum(gb) IS NULL FROM egress_daily GROUP BY ALL ORDER BY ALL"


def test_classify_with_a_changed_rule_rebuilds_the_rollups(warehouse: Path, tmp_path) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    ingest(store, "2026-10")
    kinds = figures(warehouse, EGRESS)
    assert ("interconnect", Decimal(90), True) not in kinds
    rules = tmp_path / "mine.toml"
    rules.write_text(RECLASSED)
    assert main(["--warehouse", str(warehouse), "classify", "--rules", str(rules)]) == 0
    # 30 in September, 60 in October: the replication lines are interconnect now
    assert ("interconnect", Decimal(90), True) in figures(warehouse, EGRESS)
    assert figures(warehouse, EGRESS) == figures(
        warehouse,
        "SELECT coalesce(x_EgressKind, '(not set)'), sum(EffectiveCost), true "
        "FROM classified_costs WHERE x_AiClass = 'egress' GROUP BY ALL ORDER BY ALL",
    )
    assert lineage.stale(store, Settings()) == []


def test_a_warehouse_without_rollups_gets_them_at_vacuum(warehouse: Path, capsys) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    ingest(store, "2026-10")
    want = figures(warehouse)
    for table in ROLLUPS:  # as an older finops left it
        shutil.rmtree(warehouse / table.name)
    found = lineage.stale(store, Settings())
    assert {s.dataset for s in found} == {t.name for t in ROLLUPS}
    assert all("is not built yet" in s.why and not s.recorded for s in found)
    assert main(["--warehouse", str(warehouse), "vacuum"]) == 0
    assert "spend_daily: is not built yet" in capsys.readouterr().out
    assert figures(warehouse) == want
    assert lineage.stale(store, Settings()) == []


def test_a_rollup_partition_left_behind_is_named_and_repaired(warehouse: Path, capsys) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    ingest(store, "2026-10")
    # October loaded again from another file, its refresh stopped after classification
    batches = [
        dataclasses.replace(b, files=[SourceFile(f"restated-{b.source}", "f" * 64, 1)])
        for b in cost_batches()
        if b.billing_period == "2026-10"
    ]
    store.load_cost_lines(batches)
    with store.writer():
        book = classified.rulebook(Settings())
        october = [dict(zip(lineage.PART, p.split("/"), strict=True)) for p in OCT]
        classified.refresh_partitions(store, book, october)
    stale = {(s.dataset, s.part) for s in lineage.stale(store, Settings())}
    # unit_costs (rebuilt whole) is behind the restated lines too
    assert stale - {("gpu_hours", "2026-10"), ("unit_costs", "")} == {
        (t.name, p) for t in ROLLUPS for p in OCT
    }
    assert main(["--warehouse", str(warehouse), "check"]) != 0
    said = capsys.readouterr().out
    assert "aws-cur2/412395078111/2026-10: its cost lines were replaced after it was built" in said
    assert "spend_daily" in said and "top_lines_parts" in said
    derived.refresh(store, Settings(), [])
    assert lineage.stale(store, Settings()) == []
    assert figures(warehouse, "SELECT sum(amortised) FROM spend_daily") == figures(
        warehouse, "SELECT sum(EffectiveCost) FROM cost_lines"
    )


def test_a_charge_counts_on_the_utc_day_it_starts_for_the_days_it_covers(warehouse: Path) -> None:
    """spend_daily's day and days come from day numbers, not per-line date casts: a charge
    ending at midnight covers its own day only, one crossing midnight covers both days."""
    from datetime import datetime

    from ingest.derive import rollups
    from tests.fixtures.batches import batch

    utc = "+00:00"
    spans = [  # (start, end, amount)
        ("2026-09-30T23:00:00", "2026-10-01T00:00:00", "5.00"),
        ("2026-09-03T00:00:00", "2026-09-06T00:00:00", "30.00"),
        ("2026-09-10T12:00:00", "2026-09-11T12:00:00", "7.25"),
        ("2026-09-10T00:00:00", "2026-09-10T01:00:00", "0.75"),
    ]
    b = batch("2026-09", [a for _, _, a in spans])
    starts = [datetime.fromisoformat(s + utc) for s, _, _ in spans]
    ends = [datetime.fromisoformat(e + utc) for _, e, _ in spans]
    b = dataclasses.replace(
        b,
        lines=b.lines.with_columns(
            pl.Series("ChargePeriodStart", starts), pl.Series("ChargePeriodEnd", ends)
        ),
    )
    store = Store(warehouse)
    store.load_cost_lines([b])
    with store.writer():  # the rollups alone, as the lines stand (not classified)
        rollups.refresh(store, None)
    assert figures(
        warehouse,
        "SELECT strftime(day, '%Y-%m-%d'), days, sum(amortised), sum(lines) FROM spend_daily "
        "GROUP BY ALL ORDER BY ALL",
    ) == [
        ("2026-09-03", 3, Decimal("30.00"), 1),
        ("2026-09-10", 1, Decimal("0.75"), 1),
        ("2026-09-10", 2, Decimal("7.25"), 1),
        ("2026-09-30", 1, Decimal("5.00"), 1),
    ]
    assert figures(warehouse, "SELECT period, billed, data_until FROM billed_periods") == [
        ("2026-09", Decimal("43.00"), datetime.fromisoformat("2026-10-01T00:00:00" + utc))
    ]
