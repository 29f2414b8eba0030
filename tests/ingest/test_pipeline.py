"""The one ingest pipeline: a reader's package in, committed loads and fresh derived data out;
a failure recorded once and nothing stored."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest import pipeline
from ingest.warehouse.connection import connect
from ingest.warehouse.load_contract import AssetsLoad, PeriodLoad, SourceFile
from ingest.warehouse.store import Store
from models.errors import InputError, ReconciliationError
from models.settings import Settings

# ---- a whole new source: this reader is all it takes (see README, "Adding a source") -----


def invoices(path: Path) -> Iterator[PeriodLoad]:
    """A made-up vendor's invoice CSV (month,amount), one PeriodLoad per month."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for month in sorted({r["month"] for r in rows}):
        amounts = [Decimal(r["amount"]) for r in rows if r["month"] == month]
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        money = pl.Series(amounts, dtype=pl.Decimal(38, 12))
        n = len(amounts)
        lines = pl.LazyFrame(
            {
                "BilledCost": money, "EffectiveCost": money, "ListCost": money,
                "ContractedCost": money, "BillingAccountId": ["acme"] * n,
                "BillingCurrency": ["EUR"] * n, "BillingPeriodStart": [start] * n,
                "BillingPeriodEnd": [end] * n, "ChargePeriodStart": [start] * n,
                "ChargePeriodEnd": [end] * n, "ChargeCategory": ["Usage"] * n,
                "ChargeFrequency": ["Recurring"] * n, "InvoiceIssuerName": ["Acme"] * n,
                "ProviderName": ["Acme"] * n, "PublisherName": ["Acme"] * n,
                "ServiceCategory": ["AI and Machine Learning"] * n,
                "ServiceName": ["Acme Labelling"] * n,
                "ServiceSubcategory": ["Other (AI and Machine Learning)"] * n,
            }
        )  # fmt: skip
        yield PeriodLoad(
            source="saas",  # a new source also adds its name to x_Source (models/schema.py)
            billing_account="acme",
            billing_period=month,
            currency="EUR",
            files=[SourceFile.of(path)],
            lines=lines,
            source_total=sum(amounts, Decimal(0)),
        )


def _reader(loads) -> pipeline.Reader:
    @contextlib.contextmanager
    def read():
        yield list(loads())

    return read


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "acme.csv"
    path.write_text("month,amount\n2026-09,10.10\n2026-09,0.015\n2026-10,99.99\n")
    return path


def test_a_new_source_is_one_reader_function(export: Path, warehouse: Path) -> None:
    store = Store(warehouse)
    outcome = pipeline.run(
        store, Settings(), "saas", str(export), _reader(lambda: invoices(export))
    )
    assert [(r.billing_period, r.rows, r.warehouse_total, r.status) for r in outcome.results] == [
        ("2026-09", 2, Decimal("10.115"), "committed"),
        ("2026-10", 1, Decimal("99.99"), "committed"),
    ]
    con = connect(warehouse)
    sums = con.execute(
        "select strftime(BillingPeriodStart, '%Y-%m'), sum(BilledCost) from cost_lines "
        "where x_Source = 'saas' group by 1 order by 1"
    ).fetchall()
    assert sums == [("2026-09", Decimal("10.115")), ("2026-10", Decimal("99.99"))]
    # the pipeline refreshed derived data: every new line is classified
    classified = con.execute("select count(*) from classifications").fetchone()
    assert classified == (3,)
    # the same file again commits nothing
    again = pipeline.run(store, Settings(), "saas", str(export), _reader(lambda: invoices(export)))
    assert [r.status for r in again.results] == ["unchanged", "unchanged"]


def test_a_failure_is_recorded_once_and_nothing_is_stored(warehouse: Path) -> None:
    store = Store(warehouse)

    def broken():
        raise InputError("no month column", file="acme.csv", hint="export with a month column")

    target = "https://user:s3cret@acme.example/export.csv"
    with pytest.raises(InputError, match="no month column"):
        pipeline.run(store, Settings(), "saas", target, _reader(broken))
    errors = connect(warehouse).execute("select dataset, source, target, error from load_errors")
    assert errors.fetchall() == [
        ("cost_lines", "saas", "https://***@acme.example/export.csv", "InputError")
    ]
    assert store.table("cost_lines") is None
    assert store.table("loads") is None


def test_cost_lines_that_fail_reconciliation_keep_the_assets_out_too(
    export: Path, warehouse: Path
) -> None:
    """A package is cost lines first, then the rest: a bad period stops everything."""
    store = Store(warehouse)

    def loads():
        (good, bad) = invoices(export)
        bad.source_total += Decimal("0.01")
        assets = AssetsLoad(pl.DataFrame(), ["lab"], [SourceFile.of(export)], str(export))
        return [good, bad, assets]

    with pytest.raises(ReconciliationError, match=r"differ from the source by -0\.01"):
        pipeline.run(store, Settings(), "saas", str(export), _reader(loads))
    assert store.table("cost_lines") is None
    assert store.table("assets") is None
    errors = connect(warehouse).execute("select count(*), any_value(error) from load_errors")
    assert errors.fetchone() == (1, "ReconciliationError")
