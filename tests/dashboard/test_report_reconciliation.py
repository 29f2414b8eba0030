"""Acceptance 3: a disagreeing source or invoice total fails with its difference; still renders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from dashboard.cli.finops import main
from dashboard.report.pack import build_pack
from ingest.warehouse import loads_log
from ingest.warehouse.load_contract import LoadResult
from ingest.warehouse.store import Store
from models.settings import parse_settings
from tests.fixtures.pack_sheets import sheet_rows
from tests.fixtures.report_world import copy_of

AWS = ("aws-cur2", "111122223333", "USD")
AWS_TOTAL = Decimal("501.675456789")


def plant_load_record(root: Path, source_total: Decimal) -> None:
    """A newer committed loads record for AWS 2026-09 whose source total disagrees (at the
    table's current version: a record naming a commit that is gone is damage, refused)."""
    store = Store(root)
    version = store.table("cost_lines").version()
    result = LoadResult(
        load_id="planted", dataset="cost_lines", source=AWS[0], billing_account=AWS[1],
        billing_period="2026-09", currency="USD", rows=65, source_total=source_total,
        warehouse_total=source_total, status="committed", table_version=version,
    )  # fmt: skip
    record = loads_log.record(result, datetime.now(UTC))
    record["table_version"] = version
    with store.writer():  # the store's own loads writer, as a restating load would use it
        loads_log.append(store, [record])


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_of(tmp_path_factory, tmp_path)


def rec_row(pack, key=AWS) -> dict:
    df = pack.sections["reconciliation"].frame
    return df.filter(
        (pl.col("source") == key[0]) & (pl.col("billing_account") == key[1])
        & (pl.col("currency") == key[2])
    ).row(0, named=True)  # fmt: skip


def test_a_load_record_that_disagrees_fails_with_the_difference(world: Path, tmp_path) -> None:
    plant_load_record(world, AWS_TOTAL + Decimal("5.00"))
    pack = build_pack(world, "2026-09", out_dir=tmp_path / "out")
    row = rec_row(pack)
    assert row["status"] == "failed"
    assert row["difference"] == Decimal("-5.00")
    assert row["warehouse_total"] == AWS_TOTAL
    assert "differs from the source total by -5" in row["check"]
    assert not pack.reconciled
    others = pack.sections["reconciliation"].frame.filter(pl.col("source") != AWS[0])
    assert set(others["status"]) == {"ok"}
    # the pack still renders, and says so where finance looks
    _, rows = sheet_rows(pack.files["xlsx"][0], "Reconciliation", pack)
    aws = next(r for r in rows if (r["source"], r["billing_account"]) == AWS[:2])
    assert (aws["status"], aws["difference"]) == ("failed", -5.0)
    text = "\n".join(p.extract_text() for p in PdfReader(pack.files["pdf"][0]).pages)
    assert "1 FAILED" in text
    notes = pack.sections["notes"].frame
    assert notes.filter(pl.col("kind") == "reconciliation")["count"].to_list() == [1]


@pytest.mark.parametrize(
    ("invoice", "status", "difference"),
    [
        ("501.68", "ok", Decimal("-0.004543211")),  # within half a cent: matches the invoice
        ("501.67", "failed", Decimal("0.005456789")),  # more than half a cent off
        ("510.00", "failed", Decimal("-8.324543211")),
    ],
)
def test_invoice_totals_from_finops_toml(world: Path, invoice, status, difference) -> None:
    settings = parse_settings({"report": {"invoices": [
        {"source": AWS[0], "account": AWS[1], "month": "2026-09", "total": invoice},
    ]}})  # fmt: skip
    pack = build_pack(world, "2026-09", settings=settings)
    row = rec_row(pack)
    assert row["invoice_total"] == Decimal(invoice)
    assert row["invoice_difference"] == difference
    assert row["status"] == status


def test_an_invoice_without_loaded_lines_fails(world: Path) -> None:
    settings = parse_settings({"report": {"invoices": [
        {"source": "gcp-bq", "account": "0A1B2C", "month": "2026-09", "total": "99.00"},
    ]}})  # fmt: skip
    row = rec_row(build_pack(world, "2026-09", settings=settings), ("gcp-bq", "0A1B2C", "USD"))
    assert (row["status"], row["warehouse_total"], row["invoice_difference"]) == (
        "failed", Decimal(0), Decimal("-99.00"),
    )  # fmt: skip
    assert row["check"] == "invoice has no loaded lines; warehouse differs from the invoice by -99"


def test_cli_strict_exits_3_but_writes_the_pack(world: Path, tmp_path: Path, capsys) -> None:
    plant_load_record(world, AWS_TOTAL + Decimal("5.00"))
    out = tmp_path / "out"
    args = ["--warehouse", str(world), "report", "--month", "2026-09", "--out", str(out)]
    assert main(args) == 0
    assert "Reconciliation failed: aws-cur2 111122223333 USD" in capsys.readouterr().err
    assert main([*args, "--strict"]) == 3
    assert "1 source account(s) do not reconcile for 2026-09" in capsys.readouterr().err
    assert (out / "finops-2026-09.xlsx").exists() and (out / "finops-2026-09.pdf").exists()
