"""A warehouse folder may be named anything: its path never becomes SQL.

Ingest (twice), query, classify and report over warehouses whose paths hold a space, a
quote, unicode, parentheses, braces, `%`, `&`, `;` and a name crafted to end a SQL string
(`b','/']--` once widened DuckDB's allowed directories to `/`). deltalake gives the data
files' paths percent-encoded; they are decoded, and reach DuckDB as values.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from models.settings import Settings

SEPTEMBER = """vendor,product,team,month,amount,currency,seats,active_seats,invoice_id
GitHub,Copilot Business,platform,2026-09,1900.00,USD,100,71,GH-2026-09
OpenAI,ChatGPT Team,research,2026-09,1500.5,USD,50,50,OAI-991
"""
OCTOBER = """vendor,product,team,month,amount,currency,seats,active_seats,invoice_id
GitHub,Copilot Business,platform,2026-10,1919.01,USD,101,80,GH-2026-10
Mistral AI,Le Chat Team,research,2026-10,899.99,EUR,30,12,MI-10
"""
TOTALS = (
    "select strftime(BillingPeriodStart, '%Y-%m') as month, BillingCurrency as currency, "
    "sum(BilledCost) as total from classified_costs group by all order by 1, 2"
)
WANT = [
    {"month": "2026-09", "currency": "USD", "total": Decimal("3400.5")},
    {"month": "2026-10", "currency": "EUR", "total": Decimal("899.99")},
    {"month": "2026-10", "currency": "USD", "total": Decimal("1919.01")},
]
# `x','/');--` is the crafted name of the report with its `]` left out: deltalake cannot store
# tables under [ ] (see test_folders_deltalake_cannot_store_under_are_refused_clearly)
NAMES = ["my wh", "o'brien's wh", "ünïcødé 仓库", "(parens) {braces} 50% a=b&c;d", "x','/');--"]
# The whole round trip (two ingests, classify, vacuum, a report) once with every hazard of NAMES
# in one name, and once with the crafted name alone (it must end the SQL string itself); the
# reader test below opens each name of NAMES on its own.
ROUND_TRIP = ["o'brien's ünïcødé 仓库 (parens) {braces} 50% a=b&c;d", "x','/');--"]


def finops(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_ingest_query_classify_report_round_trip(name: str, tmp_path: Path, capsys) -> None:
    root = tmp_path / name / "warehouse"
    for month, text in (("09", SEPTEMBER), ("10", OCTOBER)):
        invoices = tmp_path / f"invoices-{month}.csv"
        invoices.write_text(text, encoding="utf-8")
        finops(capsys, "--warehouse", str(root), "ingest", "saas", str(invoices))
    _, out = finops(capsys, "--warehouse", str(root), "query", TOTALS, "--format", "json")
    assert json.loads(out, parse_float=Decimal) == WANT

    finops(capsys, "--warehouse", str(root), "classify")
    _, out = finops(capsys, "--warehouse", str(root), "query", TOTALS, "--format", "json")
    assert json.loads(out, parse_float=Decimal) == WANT
    sql = "select x_AiClass as c, count(*) as n from classified_costs group by 1"
    _, out = finops(capsys, "--warehouse", str(root), "query", sql, "--format", "json")
    assert json.loads(out) == [{"c": "saas_tool", "n": 4}]

    _, out = finops(capsys, "--warehouse", str(root), "vacuum", "--older-than", "0")
    _, out = finops(capsys, "--warehouse", str(root), "query", TOTALS, "--format", "json")
    assert json.loads(out, parse_float=Decimal) == WANT  # vacuum found every live file

    pack = tmp_path / "pack"
    _, out = finops(capsys, "--warehouse", str(root), "report", "--month", "2026-09",
                    "--format", "csv", "--out", str(pack))  # fmt: skip
    assert "2026-09 total billed USD 3,400.50" in out
    assert (pack / "finops-2026-09-summary.csv").exists()


@pytest.mark.parametrize("name", NAMES)
def test_the_reader_may_open_only_the_data_files(name: str, tmp_path: Path, capsys) -> None:
    root = tmp_path / name / "warehouse"
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(SEPTEMBER + OCTOBER.split("\n", 1)[1], encoding="utf-8")
    finops(capsys, "--warehouse", str(root), "ingest", "saas", str(invoices))
    views.register_all(Settings())
    con = warehouse.connect(root)
    paths, dirs = con.execute(
        "select current_setting('allowed_paths'), current_setting('allowed_directories')"
    ).fetchone()
    spill = con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert [d.rstrip("/") for d in dirs] == [spill.rstrip("/")]  # not '/', not the warehouse
    lines = warehouse.snapshot_files(DeltaTable(str(root / "cost_lines")))
    assert set(lines) <= set(paths) and all(p.startswith(str(root) + "/") for p in paths)
    assert all(Path(p).is_file() for p in paths)  # decoded: they name files that exist
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n42\n")
    code = main(["--warehouse", str(root), "query", f"select * from '{secret}'"])
    assert code == 2
    assert "it may read only the warehouse views" in capsys.readouterr().err
    con.close()


@pytest.mark.parametrize(
    "name", ["[brackets]", "b','/']--", "a|b", "caret^", "back\\slash", "#1", "why?", "%41"]
)
def test_folders_deltalake_cannot_store_under_are_refused_clearly(
    name: str, tmp_path: Path, capsys
) -> None:
    """deltalake panics under [ ] | ^ \\, loses the history after # or ?, reads %41 as A: one
    message instead, and no folder is made."""
    root = tmp_path / name / "warehouse"
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(SEPTEMBER, encoding="utf-8")
    for args in (["ingest", "saas", str(invoices)], ["query", "select 1"], ["classify"]):
        code = main(["--warehouse", str(root), *args])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "under which the Delta Lake library cannot store tables" in err
        assert "choose another folder with --warehouse" in err
    assert list(tmp_path.iterdir()) == [invoices]
