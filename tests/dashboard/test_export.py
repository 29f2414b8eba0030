"""`finops export --month`: a billing month of cost_lines as a FOCUS 1.2 CSV file."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from models.schema import COST_LINES
from tests.fixtures.small_warehouse import AWS, AZURE, OCT


def _export(warehouse: Path, out: Path, month: str) -> int:
    return main(["--warehouse", str(warehouse), "export", "--month", month, "--out", str(out)])


def test_a_month_is_written_as_focus_csv(built_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "october.csv"
    assert _export(built_warehouse, out, "2026-10") == 0
    with out.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)

    # FOCUS columns in the specification's order, then ours, all prefixed x_.
    assert header == COST_LINES.names
    focus = [c.name for c in COST_LINES.columns if c.focus]
    assert header[: len(focus)] == focus
    assert all(n.startswith("x_") for n in header[len(focus) :])

    # October only: every AWS and Azure line of the month, to the cent.
    assert len(rows) == len(AWS[OCT]) + 1
    want = sum((Decimal(r["cost"]) for r in AWS[OCT]), Decimal(AZURE[OCT]))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == want == Decimal("1458.30")
    assert {r["BillingPeriodStart"] for r in rows} == {"2026-10-01T00:00:00Z"}
    assert {r["BillingPeriodEnd"] for r in rows} == {"2026-11-01T00:00:00Z"}

    gpu = [r for r in rows if r["ResourceId"] == "i-gpu1"]
    assert gpu[0]["ChargePeriodStart"] == "2026-10-02T00:00:00Z"
    assert gpu[0]["ChargePeriodEnd"] == "2026-10-02T01:00:00Z"
    assert gpu[0]["BilledCost"] == "80.000000000000"  # exact, at the stored scale
    assert json.loads(gpu[0]["Tags"]) == {"team": "vision", "workload": "training"}
    assert gpu[0]["InvoiceId"] == ""  # null is an empty field
    assert gpu[0]["x_Marketplace"] == "false"

    storage = next(r for r in rows if r["x_UsageType"] == "TimedStorage-ByteHrs")
    assert storage["BilledCost"] == "198.300000000000"


def test_standard_output_by_default(
    built_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--warehouse", str(built_warehouse), "export", "--month", "2026-09"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:3] == ["AvailabilityZone", "BilledCost", "BillingAccountId"]
    assert len(lines) == 1 + 3 + 1  # header, September's three AWS lines, one Azure line


@pytest.mark.parametrize(
    ("month", "words"),
    [
        ("2026-13", ["--month", "not a month", "expected YYYY-MM", "found 2026-13"]),
        ("october", ["--month", "not a month", "found october"]),
        ("2025-01", ["no cost lines in billing period 2025-01", "finops loads"]),
    ],
)
def test_a_month_it_cannot_export_is_refused(
    built_warehouse: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    month: str,
    words: list[str],
) -> None:
    out = tmp_path / "out.csv"
    assert _export(built_warehouse, out, month) == 2
    said = capsys.readouterr().err
    assert said.startswith("Bad input: ")
    for word in words:
        assert word in said
    assert not out.exists()  # nothing written
