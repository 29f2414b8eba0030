"""The API side of unit_costs is kept per cost_lines partition (api_usage_parts): a second
month's refresh reads that month's cost lines only, and gives the unit costs a full rebuild
(`finops classify`) gives, to the cent; a changed meter pattern sums every partition again."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.derive import api_usage, lineage
from ingest.derive import refresh as derived
from ingest.derive import unit_costs as derived_unit_costs
from ingest.warehouse.store import Store
from models.model_catalogue import Meter, default_catalogue
from models.settings import Settings
from models.unit_costs import API_USAGE_PARTS
from tests.fixtures.small_warehouse import cost_batches

GPT = "GPT-4.1 (Azure OpenAI)"
SEPT_AZURE = "azure-cost-details/sub-1/2026-09"


def batches(period: str) -> list:
    """The small warehouse's month, its Azure OpenAI line billed as GPT-4.1 input tokens (24
    "1K tokens" a day: 24,000 tokens)."""
    out = []
    for b in cost_batches():
        if b.billing_period != period:
            continue
        if b.source.startswith("azure"):
            lines = b.lines.with_columns(
                x_UsageType=pl.lit("gpt 4.1 Inp glbl 1K Tokens"), ConsumedUnit=pl.lit("1K tokens")
            )
            b = dataclasses.replace(b, lines=lines)
        out.append(b)
    return out


def ingest(store: Store, period: str) -> None:
    derived.refresh(store, Settings(), store.load_cost_lines(batches(period)))


def part_files(root: Path, dataset: str) -> dict[str, set[str]]:
    """{partition: the absolute paths of its data files} of the current version."""
    table = DeltaTable(str(root / dataset))
    out: dict[str, set[str]] = {}
    for a in pl.DataFrame(table.get_add_actions(flatten=True)).to_dicts():
        key = lineage.part_key([a[f"partition.{k}"] for k in lineage.PART])
        out.setdefault(key, set()).add(str(root / dataset / a["path"]))
    return out


def api_rows(root: Path) -> list[tuple]:
    frame = pl.read_delta(str(root / "unit_costs")).filter(pl.col("kind") == "api")
    cols = ("month", "model", "currency", "cost", "input_tokens", "cost_per_1m_tokens")
    return sorted(frame.select(cols).iter_rows())


def test_a_second_month_reads_its_own_cost_lines_and_costs_what_a_full_rebuild_does(
    warehouse: Path, monkeypatch
) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    september = part_files(warehouse, "cost_lines")
    sums_before = part_files(warehouse, API_USAGE_PARTS.name)
    assert set(sums_before) == {SEPT_AZURE}  # the AWS month holds no token line

    opened: list[str] = []
    real = api_usage.files_select

    def spy(con, name, files, table, snap):  # every file the sums read
        opened.extend(files)
        return real(con, name, files, table, snap)

    monkeypatch.setattr(api_usage, "files_select", spy)
    ingest(store, "2026-10")
    monkeypatch.undo()
    october = {
        p: f for p, f in part_files(warehouse, "cost_lines").items() if p.endswith("2026-10")
    }
    read = set(opened)
    assert read == set().union(*october.values())  # October's cost lines, every file of them
    assert not read & set().union(*september.values())  # and none of September's
    sums_after = part_files(warehouse, API_USAGE_PARTS.name)
    assert sums_after[SEPT_AZURE] == sums_before[SEPT_AZURE]  # September's sums kept as they were

    incremental = api_rows(warehouse)
    assert incremental == [
        ("2026-09", GPT, "USD", Decimal("155.00"), 24000.0, Decimal("6458.333333333333")),
        ("2026-10", GPT, "USD", Decimal("310.00"), 24000.0, Decimal("12916.666666666667")),
    ]
    whole = pl.read_delta(str(warehouse / "unit_costs"))
    assert main(["--warehouse", str(warehouse), "classify"]) == 0
    rebuilt = part_files(warehouse, API_USAGE_PARTS.name)
    assert rebuilt[SEPT_AZURE] != sums_before[SEPT_AZURE]  # classify sums every partition again
    assert api_rows(warehouse) == incremental
    assert pl.read_delta(str(warehouse / "unit_costs")).equals(whole)
    assert lineage.stale(store, Settings()) == []


@pytest.mark.parametrize(
    ("change", "summed_again"),
    [
        ("pattern", 4),  # what is summed changed: every partition
        ("model", 0),  # what the sums are called: unit_costs alone is rebuilt
    ],
)
def test_a_changed_meter_pattern_sums_every_partition_again(
    warehouse: Path, change: str, summed_again: int
) -> None:
    store = Store(warehouse)
    ingest(store, "2026-09")
    ingest(store, "2026-10")
    catalogue = default_catalogue()
    first = catalogue.meters[0]
    meter = (
        Meter(first.model, first.pattern + "|Llama3-70B-batch", first.counts)
        if change == "pattern"
        else Meter("Llama 3 70B (renamed)", first.pattern, first.counts)
    )
    changed = dataclasses.replace(catalogue, meters=(meter, *catalogue.meters[1:]))
    with store.writer():
        assert api_usage.refresh(store, catalogue) == 0  # nothing moved
        assert api_usage.refresh(store, changed) == summed_again
        assert api_usage.refresh(store, changed) == 0
    assert derived_unit_costs.refresh(store, changed)  # the catalogue is recorded: rebuilt
    assert api_rows(warehouse)[1][3] == Decimal("310.00")
