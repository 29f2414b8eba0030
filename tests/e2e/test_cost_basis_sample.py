"""Cost bases on the sample warehouse: every page and pack figure agrees and says its basis."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from dashboard.labels import value_words
from dashboard.report.model import cents, money_text
from dashboard.report.pack import build_pack
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.cost_basis import CostBasis
from models.rules import AI_CLASSES
from models.settings import Settings
from tests.fixtures.app_pages import app, no_errors, page
from tests.fixtures.pack_sheets import sheet_rows
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse

MONTH = "2026-10"


UNALLOCATED = "unallocated"  # the pack's name for spend without a team ([allocation])


NOT_SET = "(not set)"  # the dashboard's


@pytest.fixture
def sample(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    serve(monkeypatch, sample_warehouse)
    return sample_warehouse


@pytest.fixture(scope="module")
def packs(sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("basis-packs")
    return {
        b: build_pack(sample_warehouse, MONTH, out_dir=out / b.value, basis=b) for b in CostBasis
    }


def truth(root: Path, basis: CostBasis, column: str) -> dict[str, Decimal]:
    """The month's USD spend on `basis` by a classification column, straight from the
    warehouse (lines without a value under the pack's name for them)."""
    views.register_all(Settings())
    rows = (
        connect(root)
        .execute(
            f"SELECT coalesce(nullif({column}, ''), $none), sum({basis.column}) "
            "FROM classified_costs WHERE BillingCurrency = 'USD' "
            "AND BillingPeriodStart >= TIMESTAMPTZ '2026-10-01 00:00:00+00' "
            "AND BillingPeriodStart < TIMESTAMPTZ '2026-11-01 00:00:00+00' GROUP BY 1",
            {"none": "unclassified" if column == "x_AiClass" else UNALLOCATED},
        )
        .fetchall()
    )
    return {k: Decimal(v) for k, v in rows}


def dashboard(basis: CostBasis, by: str) -> tuple[dict[str, Decimal], list[str]]:
    """The Spend explorer's table for October on `basis` (chosen in the link, as a shared
    link chooses it), by `by`: key -> amount, and the table's columns."""
    query = {"from": "2026-10-01", "to": "2026-10-31"}
    if basis is not CostBasis.AMORTISED:
        query["basis"] = basis.value
    at = page(app(**query), "explorer")
    at.selectbox(key="ex_by").set_value(by).run()
    no_errors(at)
    assert at.radio(key="f_basis").value == basis  # the filter shows what the link chose
    table = at.dataframe[0].value
    label = basis.label("USD")
    shown = {
        (UNALLOCATED if k == NOT_SET and by == "team" else "unclassified" if k == NOT_SET else k): (
            Decimal(str(v))
        )
        for k, v in zip(table[by], table[label], strict=True)
    }
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert f"Spend by {by} — {label}" in titles
    return shown, list(table.columns)


def xlsx_summary(pack, dimension: str) -> tuple[str, dict[str, Decimal], list[str]]:
    path = pack.files["xlsx"][0]
    header, rows = sheet_rows(path, "Summary", pack)
    cost = header[2]
    found = {r["value"]: Decimal(str(r[cost])) for r in rows if r["dimension"] == dimension}
    ws = openpyxl.load_workbook(path)["Summary"]
    assert [c.value for c in ws[4]][2] == f"{basis_words(cost)} ({pack.currency})"
    return ws["A1"].value, found, header


def basis_words(column: str) -> str:
    return column.replace("_", " ").capitalize()  # amortised_cost: "Amortised cost"


def csv_summary(pack, dimension: str) -> tuple[set[str], dict[str, Decimal], list[str]]:
    path = next(p for p in pack.files["csv"] if p.name.endswith("-summary.csv"))
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    cost = f"{pack.basis.value}_cost"
    found = {r["value"]: Decimal(r[cost]) for r in rows if r["dimension"] == dimension}
    return {r["cost_basis"] for r in rows}, found, header


# AI classes as the explorer shows them -> their codes
_code = {value_words(c): c for c in AI_CLASSES}


def pdf_text(pack) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(pack.files["pdf"][0]).pages)


@pytest.mark.slow
@pytest.mark.parametrize("basis", list(CostBasis))
@pytest.mark.parametrize(("by", "dimension", "column"), [
    ("AI class", "ai class", "x_AiClass"), ("team", "team", "x_Team"),
])  # fmt: skip
def test_every_ai_class_and_team_figure_agrees_and_says_its_basis(
    sample: Path, packs: dict, basis: CostBasis, by: str, dimension: str, column: str
) -> None:
    want = {k: cents(v) for k, v in truth(sample, basis, column).items()}
    other = CostBasis.BILLED if basis is CostBasis.AMORTISED else CostBasis.AMORTISED
    # the two bases differ on the sample (commitments), so the test can tell them apart
    assert want != {k: cents(v) for k, v in truth(sample, other, column).items()}
    label = basis.label("USD")

    shown, columns = dashboard(basis, by)
    # the page shows a class in words: gpu_compute as "GPU compute"
    shown = {_code.get(k, k): v for k, v in shown.items()}
    assert label in columns and other.label("USD") not in columns
    assert {k: cents(v) for k, v in shown.items()} == want

    pack = packs[basis]
    title, xlsx, header = xlsx_summary(pack, dimension)
    assert title == f"Summary {MONTH} — {label}"
    assert header[2:4] == [f"{basis.value}_cost", f"previous_{basis.value}_cost"]
    assert {k: cents(v) for k, v in xlsx.items()} == want

    said, in_csv, csv_header = csv_summary(pack, dimension)
    assert said == {label} and csv_header[0] == "cost_basis"
    assert in_csv == want

    text = pdf_text(pack)
    assert f"Summary {MONTH} — {label}" in text
    assert f"Spend by AI class — {label}" in text
    for key, amount in want.items():  # each row of the summary table: dimension, key, amount
        cells = (dimension, key, money_text(amount))  # a cell a line, in the table's order
        row = re.compile(r"\n".join(re.escape(c) for c in cells) + r"\n")
        assert row.search(text), (key, money_text(amount))


@pytest.mark.slow
@pytest.mark.parametrize("basis", list(CostBasis))
def test_chargeback_and_sheets_say_their_basis(sample: Path, packs: dict, basis: CostBasis) -> None:
    pack, label = packs[basis], basis.label("USD")
    direct = {k: cents(v) for k, v in truth(sample, basis, "x_Team").items()}
    chargeback = pack.sections["chargeback"]
    assert chargeback.title.endswith(f"— {label}")
    assert {r["team"]: cents(r["direct_cost"]) for r in chargeback.frame.to_dicts()} == direct
    book = openpyxl.load_workbook(pack.files["xlsx"][0])
    for sheet in ("Summary", "Trend", "Chargeback", "Egress", "Tools"):
        assert book[sheet]["A1"].value.endswith(f"— {label}"), sheet
    # the reconciliation reconciles to invoices: billed whatever the pack's basis, and says so
    assert book["Reconciliation"]["A1"].value.endswith("— Billed cost (each account's currency)")
    assert "Billed cost whatever the pack's cost basis" in book["Reconciliation"]["A2"].value
    text = pdf_text(pack)
    assert f"Chargeback by team (shared split) — {label}" in text
    assert "Reconciliation 2026-10 — Billed cost (each account's currency)" in text
    names = {p.name for p in pack.files["csv"]}
    stem = "finops-2026-10" if basis is CostBasis.AMORTISED else "finops-2026-10-billed"
    assert f"{stem}-chargeback.csv" in names
