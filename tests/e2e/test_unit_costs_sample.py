"""Unit costs on the sample enterprise (the warehouse `make demo` builds): cost per 1M tokens
and per 1k requests per model and month within 1% of truth.json; one self-hosted model and one
API model recomputed by hand to the cent; the page, the Overview tile and `finops unit-costs
--format json` show the same numbers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.app_pages import app, metrics, no_errors, page
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse
CENT = Decimal("0.01")


def cli_rows(warehouse: Path, capsys, *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["--warehouse", str(warehouse), "unit-costs", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out, parse_float=Decimal)


def test_unit_costs_are_within_one_percent_of_the_truth(
    sample_warehouse: Path, sample_truth: dict, capsys
) -> None:
    got = {
        (r["model"], r["month"]): r
        for r in cli_rows(sample_warehouse, capsys)
        if r["kind"] == "self_hosted"
    }
    planted = sample_truth["serving"]["models"]
    assert {(t["model"], t["month"]) for t in planted} == set(got)
    checked = 0
    for t in planted:
        g = got[(t["model"], t["month"])]
        assert g["requests"] == t["requests"]  # counted exactly, the restart included
        assert g["currency"] == t["currency"] and g["cost_basis"] == "EffectiveCost"
        for key in ("cost_per_1k_requests", "cost_per_1m_tokens"):
            if t[key] is None:
                assert g[key] is None  # Triton counts no tokens: none, not zero
                continue
            assert abs(Decimal(g[key]) / Decimal(t[key]) - 1) < Decimal("0.01"), (t, key)
            checked += 1
    assert checked >= 40
    # the month of the restart still counts every request the truth planted
    month = sample_truth["serving"]["restart"]["hour"][:7]
    llama = got[("meta-llama/Llama-3.1-8B-Instruct", month)]
    stated = next(t for t in planted if t["month"] == month and t["model"].startswith("meta"))
    assert llama["input_tokens"] == stated["prompt_tokens"]


def test_one_self_hosted_and_one_api_model_recomputed_by_hand(
    sample_warehouse: Path, capsys
) -> None:
    views.register_all(Settings())
    con = connect(sample_warehouse)
    rows = {(r["model"], r["month"]): r for r in cli_rows(sample_warehouse, capsys)}
    # ranker-v3 shares its Triton host with item-embedder: each hour's GPU cost of the host
    # (gpu_hours, found by the host's resource) split by that hour's requests
    host_cost = con.sql(
        """SELECT g.hour, sum(g.cost) AS cost FROM gpu_hours g
        WHERE g.resource_id = (SELECT any_value(resource_id) FROM gpu_util
                               WHERE host = 'ip-10-20-4-41')
          AND strftime(g.hour, '%Y-%m') = '2026-03' GROUP BY g.hour"""
    ).pl()
    served = con.sql(
        """SELECT hour, model, requests FROM serving_usage
        WHERE host = 'ip-10-20-4-41' AND strftime(hour, '%Y-%m') = '2026-03'"""
    ).pl()
    total = served.group_by("hour").agg(pl.col("requests").sum().alias("all"))
    ranker = served.filter(pl.col("model") == "ranker-v3").join(total, on="hour")
    by_hand = Decimal(0)
    requests = 0.0
    for r in ranker.join(host_cost, on="hour").iter_rows(named=True):
        by_hand += r["cost"] * Decimal(repr(r["requests"])) / Decimal(repr(r["all"]))
        requests += r["requests"]
    got = rows[("ranker-v3", "2026-03")]
    assert got["cost"].quantize(CENT) == by_hand.quantize(CENT) > 0
    assert (got["cost_per_1k_requests"] * Decimal(repr(requests)) / 1000).quantize(CENT) == (
        by_hand.quantize(CENT)
    )
    # Llama 3 70B on Bedrock: the billed lines' cost over their tokens (1K-token units)
    cost, tokens = con.execute(
        """SELECT sum(EffectiveCost), sum(PricingQuantity) * 1000 FROM cost_lines
        WHERE x_UsageType LIKE '%Llama3-70B-%-tokens'
          AND strftime(BillingPeriodStart, '%Y-%m') = '2026-03'"""
    ).fetchone()
    api = rows[("Llama 3 70B Instruct (Bedrock)", "2026-03")]
    assert api["cost"] == cost and api["input_tokens"] + api["output_tokens"] == tokens
    assert (api["cost_per_1m_tokens"] * tokens / 1_000_000).quantize(CENT) == cost.quantize(CENT)


def test_the_page_the_overview_tile_and_the_cli_agree(
    sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    serve(monkeypatch, sample_warehouse)
    rows = cli_rows(sample_warehouse, capsys)
    latest = max(r["month"] for r in rows)
    own = [r for r in rows if r["month"] == latest and r["kind"] == "self_hosted"]
    tokens = sum(
        (r["input_tokens"] or 0) + (r["output_tokens"] or 0) for r in own if r["input_tokens"]
    )
    cost = sum((r["cost"] for r in own if r["input_tokens"]), Decimal(0))
    per_1m = f"USD {(cost * 1_000_000 / tokens).quantize(CENT)}"
    overview = app()
    no_errors(overview)
    assert metrics(overview)["Cost per 1M tokens served"] == per_1m
    at = page(overview, "unit_costs")
    no_errors(at)
    assert at.title[0].value == "Unit costs"
    shown = metrics(at)
    assert shown["Cost per 1M tokens served"] == per_1m
    all_cost = sum((r["cost"] for r in own), Decimal(0))
    assert shown["Self-hosted serving cost"] == f"USD {all_cost.quantize(CENT):,}"
    said = " ".join(m.value for m in at.markdown)
    assert f"In {latest}, self-hosted models served" in said
    assert "Llama 3.1 8B Instruct (Amazon Bedrock, us-east-1, on-demand) would have cost" in said
    (table, versus) = [d.value for d in at.dataframe][:2]
    llama = table[table["model"] == "meta-llama/Llama-3.1-8B-Instruct"].iloc[0]
    cli = next(r for r in own if r["model"] == "meta-llama/Llama-3.1-8B-Instruct")
    assert Decimal(str(llama["per_1m_tokens"])) == cli["cost_per_1m_tokens"].quantize(
        Decimal("0.0001")
    )
    assert set(versus["cheaper"]) <= {"API", "Self-hosted"} and len(versus) == 2


def test_the_pack_carries_the_months_unit_costs(
    sample_warehouse: Path, tmp_path: Path, capsys
) -> None:
    from dashboard.report.pack import build_pack
    from tests.fixtures.pack_sheets import sheet_rows

    pack = build_pack(sample_warehouse, "2026-10", formats=("xlsx", "csv"), out_dir=tmp_path)
    cli = {
        r["model"]: r
        for r in cli_rows(sample_warehouse, capsys)
        if r["month"] == "2026-10" and r["currency"] == "USD"
    }
    header, rows = sheet_rows(pack.files["xlsx"][0], "Unit Costs", pack)
    assert {"model", "per_1k_requests", "per_1m_tokens", "break_even_tokens_a_month"} <= set(header)
    assert {r["model"] for r in rows if r["model"] != "Total"} == set(cli)
    for r in rows:
        if r["model"] in cli:
            want = cli[r["model"]]
            assert Decimal(str(r["cost"])) == want["cost"].quantize(CENT)
            if want["cost_per_1m_tokens"] is not None:
                assert Decimal(str(r["per_1m_tokens"])) == want["cost_per_1m_tokens"].quantize(
                    Decimal("0.0001")
                )
    assert (tmp_path / "finops-2026-10-unit_costs.csv").exists()
