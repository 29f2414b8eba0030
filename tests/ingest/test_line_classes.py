"""The warehouse's DuckDB classification pass (the production path) gives every line exactly
the classes the per-line polars oracle (tests/oracles/classify.py) gives it, and stores them
compactly."""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import pytest

from ingest.derive import classified, line_classes, scratch
from ingest.derive.classified import rulebook
from models.classify import CLASS_COLUMNS, class_key, key_columns
from models.errors import WarehouseError
from models.schema import COST_LINES
from models.settings import Settings
from tests.oracles.classify import classify


def _lines(n: int) -> pl.DataFrame:
    """Lines mixing providers, GPU and non-GPU types, tags, nulls and a marketplace tool."""
    usage = ["USE1-BoxUsage:p5.48xlarge", "DataTransfer-Out-Bytes", None, "BoxUsage:m5.large"]
    tags = ['{"team": "research", "workload": "training"}', '{"Team": "vision"}', None, "{}"]
    return pl.DataFrame(
        {
            "x_LineId": list(range(n)),
            "x_UsageType": [usage[i % 4] for i in range(n)],
            "Tags": [tags[(i // 4) % 4] for i in range(n)],
            "ProviderName": ["AWS" if i % 3 else "Microsoft" for i in range(n)],
            "ServiceName": [None if i % 5 == 0 else "Amazon EC2" for i in range(n)],
            "PublisherName": ["Weights & Biases" if i % 7 == 0 else None for i in range(n)],
            "ChargeCategory": ["Usage" if i % 11 else "Purchase" for i in range(n)],
            "SubAccountId": [f"acct-{i % 6}" for i in range(n)],
            "x_Marketplace": [i % 7 == 0 for i in range(n)],
        }
    )


def _duckdb_pass(tmp_path: Path, frame: pl.DataFrame, keep: tuple[str, ...] = ()):
    book = rulebook(Settings())
    keys = key_columns(book.ruleset, COST_LINES.names)
    full = classified.conform_keys(frame.lazy()).collect()
    path = tmp_path / "lines.parquet"
    full.write_parquet(path)
    out = tmp_path / "classes.parquet"
    with scratch.connect(tmp_path) as con:
        source = line_classes.files_source(con, [([str(path)], {})], ["x_LineId", *keys, *keep])
        done = line_classes.classify_lines(
            con, source, keys, functools.partial(classified._decide, book), out, keep
        )
    return book, done, pl.read_parquet(out)


def test_duckdb_pass_equals_the_polars_definition_line_by_line(tmp_path: Path) -> None:
    frame = _lines(997)
    book, done, stored = _duckdb_pass(tmp_path, frame)
    assert done.rows == 997 and stored.height == 997
    got = stored.join(done.classes, on="x_ClassKey").drop("x_ClassKey").sort("x_LineId")
    want = (
        classify(frame.lazy(), book.ruleset, book.settings, book.catalogue, book.tools)
        .collect()
        .sort("x_LineId")
    )
    assert got.select(want.columns).equals(want)
    # the classes differ between lines, so this compares more than one answer
    assert want["x_AiClass"].n_unique() >= 3 and want["x_Team"].n_unique() >= 3
    # each stored combination's id is the content hash of its values
    for row in done.classes.iter_rows(named=True):
        assert row["x_ClassKey"] == class_key(tuple(row[c] for c in CLASS_COLUMNS))


def _edge_lines() -> pl.DataFrame:
    """Lines whose keys differ only where a careless grouping would merge them: NULL against
    an empty string, tags that differ by key order or case, GPU types of each cloud (AWS by
    usage type, Azure by meter, GCP by SKU price details), an unused GPU commitment, a key
    with a quote, every key column NULL."""
    rows = [
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": '{"team": "vision"}'},
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": '{"Team": "vision"}'},
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": '{"team": "vision", "env": "p"}'},
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": '{"env": "p", "team": "vision"}'},
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": ""},
        {"x_UsageType": "USE1-BoxUsage:p5.48xlarge", "Tags": None},
        {"x_UsageType": "", "Tags": None},
        {"x_UsageType": None, "Tags": None},
        {
            "ProviderName": "Microsoft",
            "x_SkuMeterCategory": "Virtual Machines",
            "SkuMeter": "ND96isr H100 v5 Spot",
            "ServiceName": "Virtual Machines",
        },
        {
            "ProviderName": "Microsoft",
            "x_SkuMeterCategory": "Bandwidth",
            "SkuMeter": "Standard Data Transfer Out",
            "ServiceName": "Bandwidth",
        },
        {
            "ProviderName": "Google Cloud",
            "ServiceName": "Compute Engine",
            "SkuPriceDetails": '{"InstanceType": "a3-highgpu-8g"}',
        },
        {
            "ProviderName": "AWS",
            "ServiceName": "Amazon EC2",
            "ChargeCategory": "Purchase",
            "x_InstanceType": "p4d.24xlarge",
            "CommitmentDiscountStatus": "Unused",
        },
        {"ProviderName": "AWS", "ServiceName": 'it\'s "quoted"', "Tags": '{"team": "o\'k"}'},
        {},
    ]
    return pl.DataFrame(
        [{"x_LineId": i, **r} for i, r in enumerate(rows * 3)],
        schema={"x_LineId": pl.Int64, **{c: pl.String for c in (
            "x_UsageType", "Tags", "ProviderName", "x_SkuMeterCategory", "SkuMeter",
            "ServiceName", "SkuPriceDetails", "ChargeCategory", "x_InstanceType",
            "CommitmentDiscountStatus")}},
    )  # fmt: skip


def test_edge_case_lines_equal_the_oracle(tmp_path: Path) -> None:
    frame = _edge_lines()
    book, done, stored = _duckdb_pass(tmp_path, frame)
    got = stored.join(done.classes, on="x_ClassKey").drop("x_ClassKey").sort("x_LineId")
    want = (
        classify(frame.lazy(), book.ruleset, book.settings, book.catalogue, book.tools)
        .collect()
        .sort("x_LineId")
    )
    assert got.height == want.height == frame.height
    assert got.select(want.columns).equals(want)
    classes = want["x_AiClass"].to_list()  # by x_LineId
    assert [classes[i] for i in (0, 5, 8, 10)] == ["gpu_compute"] * 4
    assert classes[9] == "egress" and classes[13] == "other"
    teams = want["x_Team"].to_list()
    assert teams[0] == "vision" and teams[5] == teams[13] == "unallocated"


def test_kept_columns_travel_with_each_line(tmp_path: Path) -> None:
    frame = _lines(40).with_columns(pl.format("part-{}", pl.col("x_LineId") % 3).alias("x_Part"))
    _, _, stored = _duckdb_pass(tmp_path, frame, keep=("x_Part",))
    assert stored.sort("x_LineId")["x_Part"].to_list() == [f"part-{i % 3}" for i in range(40)]


def test_a_source_that_changes_between_passes_commits_nothing(tmp_path: Path) -> None:
    frame = classified.conform_keys(_lines(50).lazy()).collect()
    book = rulebook(Settings())
    keys = key_columns(book.ruleset, COST_LINES.names)
    path = tmp_path / "lines.parquet"
    frame.write_parquet(path)

    def decide_and_grow(groups: pl.DataFrame) -> pl.DataFrame:
        pl.concat([frame, frame.with_columns(pl.col("x_LineId") + 50)]).write_parquet(path)
        return classified._decide(book, groups)

    with (
        scratch.connect(tmp_path) as con,
        pytest.raises(WarehouseError, match="wrote 100 lines for 50 read"),
    ):
        source = line_classes.files_source(con, [([str(path)], {})], ["x_LineId", *keys])
        line_classes.classify_lines(con, source, keys, decide_and_grow, tmp_path / "o.parquet")
