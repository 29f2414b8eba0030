"""`finops report`: the files it writes, and one clear message for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli.finops import main
from tests.fixtures.report_world import shared


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared(tmp_path_factory)


def test_writes_the_requested_formats(world: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pack"
    code = main(["--warehouse", str(world), "report", "--month", "2026-09",
                 "--format", "csv,xlsx", "--out", str(out)])  # fmt: skip
    assert code == 0
    stdout = capsys.readouterr().out
    assert "2026-09 total billed USD 9,818.68" in stdout
    names = sorted(p.name for p in out.iterdir())
    assert "finops-2026-09.xlsx" in names and "finops-2026-09.pdf" not in names
    assert sorted(n for n in names if n.endswith(".csv")) == sorted(
        f"finops-2026-09-{s}.csv"
        for s in ("summary", "trend", "reconciliation", "onprem_parts", "chargeback",
                  "idle_gpu", "egress", "tools", "commitments", "notes")
    )  # fmt: skip


def test_currency_option_reports_the_other_currency(world: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eur"
    code = main(["--warehouse", str(world), "report", "--month", "2026-09", "--currency", "eur",
                 "--format", "csv", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "total billed EUR 55.55" in capsys.readouterr().out
    assert (out / "finops-2026-09-EUR-summary.csv").read_text().splitlines()[:2] == [
        "cost_basis,dimension,value,amortised_cost,previous_amortised_cost,change,change_pct",
        "Amortised cost (EUR),total,all,55.55,55.55,0.00,0.000000",
    ]


@pytest.mark.parametrize(
    ("currency", "amounts", "shown"),
    [("JPY", ["1234.5", "1"], "JPY 1,236"), ("KWD", ["1234.5", "1.0015"], "KWD 1,235.502")],
)
def test_total_billed_is_printed_at_the_currency_minor_units(
    currency: str, amounts: list[str], shown: str, warehouse: Path, tmp_path: Path, capsys
) -> None:
    """1235.5 yen is 1,236 yen (no sen on an invoice); 1235.5015 dinars is 1,235.502."""
    from ingest.warehouse.store import Store
    from tests.fixtures.terminal import in_currency

    Store(warehouse).load_cost_lines([in_currency("2026-09", amounts, currency)])
    code = main(["--warehouse", str(warehouse), "report", "--month", "2026-09", "--currency",
                 currency, "--format", "csv", "--out", str(tmp_path / "pack")])  # fmt: skip
    assert code == 0
    assert f"2026-09 total billed {shown}\n" in capsys.readouterr().out


def test_basis_option_reports_billed_cost_and_says_so(world: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "billed"
    code = main(["--warehouse", str(world), "report", "--month", "2026-09", "--basis", "Billed",
                 "--format", "csv", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "Spend sheets: Billed cost (USD)" in capsys.readouterr().out
    summary = (out / "finops-2026-09-billed-summary.csv").read_text().splitlines()
    assert summary[:2] == [
        "cost_basis,dimension,value,billed_cost,previous_billed_cost,change,change_pct",
        "Billed cost (USD),total,all,9818.68,11340.74,-1522.07,-0.134212",
    ]
    # the reconciliation reconciles to invoices: billed whatever the basis, and it says so
    rec = (out / "finops-2026-09-billed-reconciliation.csv").read_text().splitlines()
    assert rec[1].startswith("Billed cost (each account's currency),")


def test_budgets_compare_actual_spend(world: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        '[budgets]\ntotal = "9000"\nteam = { platform = "500", ml-research = "9000" }\n'
    )
    out = tmp_path / "b"
    code = main(["--warehouse", str(world), "--config", str(config), "report", "--month",
                 "2026-09", "--basis", "billed", "--format", "csv", "--out", str(out)])  # fmt: skip
    assert code == 0
    lines = (out / "finops-2026-09-billed-budgets.csv").read_text().splitlines()
    assert lines == [
        "cost_basis,scope,name,budget,actual,variance,used_pct,status",
        "Billed cost (USD),total,total,9000.00,9818.68,-818.68,1.090964,over",
        "Billed cost (USD),team,platform,500.00,460.00,40.00,0.920000,within",
        "Billed cost (USD),team,ml-research,9000.00,9207.11,-207.11,1.023012,over",
    ]


BAD = [
    (["--month", "2026-13"], None, 2, "--month: not a month — expected YYYY-MM"),
    (["--month", "Sept"], None, 2, "found Sept"),
    (["--month", "2026-09", "--format", "xlsx,docx"], None, 2,
     "unknown report format — expected a comma-separated list of xlsx, pdf, csv, found docx"),
    (["--month", "2025-01"], None, 2,
     "no cost lines for 2025-01 — expected a month with loaded cost lines: 2026-08, 2026-09"),
    (["--month", "2026-09", "--basis", "invoice"], None, 2,
     "--basis: unknown cost basis — expected amortised or billed, found invoice"),
    (["--month", "2026-09", "--currency", "GBP"], None, 2,
     "no cost lines in GBP for 2026-09 — expected one of EUR, USD, found GBP"),
    (["--month", "2026-09"], '[report]\ncurency = "USD"\n', 2,
     "unknown key 'curency' in [report] (did you mean \"currency\"?)"),
    (["--month", "2026-09"], '[[report.invoices]]\nsource = "aws-cur2"\naccount = "1"\n'
     'month = "2026-09"\ntotal = "12,50"\n', 2, "[[report.invoices]] #1 total is not a number"),
    (["--month", "2026-09"], '[[report.invoices]]\nsource = "aws-cur2"\naccount = "1"\n'
     'total = "1"\n', 2, "[[report.invoices]] #1 has no month"),
    (["--month", "2026-09"], '[budgets]\nteams = { a = "1" }\n', 2,
     "unknown key 'teams' in [budgets] (did you mean \"team\"?)"),
    (["--month", "2026-09"], '[budgets]\nteam = { a = true }\n', 2,
     "[budgets.team] a must be an amount"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "config", "code", "message"), BAD)
def test_bad_input_gets_one_message_and_writes_nothing(
    world: Path, tmp_path: Path, capsys, args, config, code, message
) -> None:
    pre = []
    if config is not None:
        (tmp_path / "finops.toml").write_text(config)
        pre = ["--config", str(tmp_path / "finops.toml")]
    out = tmp_path / "out"
    assert main(["--warehouse", str(world), *pre, "report", *args, "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_no_warehouse_is_a_warehouse_error(tmp_path: Path, capsys) -> None:
    code = main(["--warehouse", str(tmp_path / "none"), "report", "--month", "2026-09"])
    assert code == 4
    assert "no warehouse here yet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("currency", "amounts", "csv_total", "pdf_total", "xlsx_format"),
    [
        ("JPY", ["1234.5", "1"], "1236", "1,236", "[$JPY] #,##0;"),
        ("KWD", ["1234.5", "1.0015"], "1235.502", "1,235.502", "[$KWD] #,##0.000;"),
    ],
)
def test_the_pack_shows_money_at_the_currency_minor_units(
    currency: str,
    amounts: list[str],
    csv_total: str,
    pdf_total: str,
    xlsx_format: str,
    warehouse: Path,
    tmp_path: Path,
) -> None:
    """No sen in a yen pack, the third decimal of a dinar kept: CSV, XLSX and PDF alike."""
    import openpyxl
    from pypdf import PdfReader

    from ingest.warehouse.store import Store
    from tests.fixtures.terminal import in_currency

    Store(warehouse).load_cost_lines([in_currency("2026-09", amounts, currency)])
    out = tmp_path / "pack"
    code = main(["--warehouse", str(warehouse), "report", "--month", "2026-09", "--currency",
                 currency, "--out", str(out)])  # fmt: skip
    assert code == 0
    summary = (out / f"finops-2026-09-{currency}-summary.csv").read_text().splitlines()
    assert summary[1].split(",")[3] == csv_total
    (xlsx,) = out.glob("*.xlsx")
    sheet = openpyxl.load_workbook(xlsx)["Cover"]
    formats = {c.number_format for row in sheet.iter_rows() for c in row if c.data_type == "n"}
    money = {f for f in formats if f.startswith(f"[${currency}]")}
    assert money and all(f.startswith(xlsx_format) for f in money), formats
    (pdf,) = out.glob("*.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert f"{currency} {pdf_total}" in text
