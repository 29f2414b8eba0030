"""One cost basis per number, always labelled: on the sample's 2026-10, for each basis, every
AI-class and team figure agrees between the dashboard, the XLSX, the PDF and the CSV, and
each says its basis. Expectations come from the warehouse through DuckDB, not from here."""

from __future__ import annotations

import json
from pathlib import Path

from models.cost_basis import CostBasis
from tests.fixtures.app_pages import app, no_errors, page

# ---- the filter in the app (the small warehouse built in code) -------------------------------


def chart_titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_the_basis_filter_goes_to_the_link_and_holds_on_every_page(small_warehouse: Path) -> None:
    at = app()
    assert at.radio(key="f_basis").value is CostBasis.AMORTISED  # the default: showback
    assert "Spend by AI class — Amortised cost (USD)" in chart_titles(at)
    at.radio(key="f_basis").set_value(CostBasis.BILLED).run()
    no_errors(at)
    assert at.query_params == {"basis": "billed"}  # a copied link reproduces the view
    assert "Spend by AI class — Billed cost (USD)" in chart_titles(at)
    explorer = page(at, "explorer")
    assert "Billed cost (USD)" in explorer.dataframe[0].value.columns
    reports = page(at, "reports")  # the pack is built on the dashboard's basis
    assert "billed" in reports.button(key="rep_build").label
    reports.button(key="rep_build").click().run()
    no_errors(reports)
    names = {b.proto.label for b in reports.get("download_button")}
    assert any(n.endswith("-billed.xlsx") for n in names), names
    assert any("reconciliation is billed cost" in c.value for c in reports.caption)


def test_a_hand_edited_basis_falls_back_to_amortised(small_warehouse: Path) -> None:
    at = app(basis="invoice'; --", team="nlp")
    no_errors(at)
    assert at.radio(key="f_basis").value is CostBasis.AMORTISED
    assert at.query_params == {"team": "nlp"}  # the bad value leaves the link, the rest stays
