"""The data-flow map and the interconnect verdicts on the sample enterprise, held against
truth.json: the flows planted per month and path, and the verdict planted per path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from dashboard.app import session
from dashboard.queries import flows as queries_flows
from dashboard.queries.filters import Filters
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.flows import FlowSettings
from models.settings import Settings
from tests.fixtures.app_pages import app, no_errors, page
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.fixture(scope="module")
def con(sample_warehouse: Path):
    views.register_all(Settings())
    return connect(sample_warehouse)


@pytest.fixture(scope="module")
def planted(sample_truth: dict) -> dict:
    return sample_truth["flows"]


def test_flows_per_month_and_path_equal_truth(con, planted: dict) -> None:
    flows = queries_flows.flows(con, Filters(), planted["addresses"])
    for want in planted["monthly"]:
        month = pl.date(*(int(x) for x in want["billing_period"].split("-")), 1)
        got = flows.filter(
            (pl.col("month") == month)
            & (pl.col("source") == want["from"])
            & (pl.col("destination") == want["to"])
        )
        assert got.height == 1, want  # the planted copy is one flow, not many
        row = got.row(0, named=True)
        assert row["gb"] == pytest.approx(want["gb"], rel=0.005), want
        assert float(row["cost"]) == pytest.approx(float(want["cost"]), rel=0.005), want


def test_without_the_address_map_the_same_traffic_is_internet(con, planted: dict) -> None:
    flows = queries_flows.flows(con, Filters(), {})
    assert set(flows["destination"]) & {"Acme Colo IAD1", "Google Cloud us-central1"} == set()


def test_each_path_gets_its_planted_verdict(con, planted: dict) -> None:
    settings = FlowSettings(addresses=planted["addresses"])
    verdicts = {
        frozenset((v.path.a, v.path.b)): v
        for v in queries_flows.interconnect(con, Filters(), settings)
    }
    for want in planted["interconnect"]:
        v = verdicts[frozenset(want["between"])]
        assert v.chosen.gbps == want["gbps"]
        assert v.chosen.pays_off is want["pays_off"], v.sentence()
    colo = verdicts[frozenset(("AWS us-east-1", "Acme Colo IAD1"))]
    months = {f["billing_period"] for f in planted["monthly"]}
    sync = [f for f in planted["monthly"] if f["to"] == "Acme Colo IAD1"]
    today = sum(Decimal(f["cost"]) for f in sync) / len(months)
    gb = sum(Decimal(f["gb"]) for f in sync) / len(months)
    # by hand: 10 Gbps port 2.25 x 730 + 0.02 per GB over the link, against today's bill
    by_hand = today - Decimal("1642.50") - gb * Decimal("0.02")
    assert abs(colo.chosen.saving_per_month - by_hand) <= Decimal("0.005")
    assert colo.chosen.saving_per_month > Decimal("500")


@pytest.fixture
def demo(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    config = sample_warehouse.parent / "finops-demo.toml"
    serve(monkeypatch, sample_warehouse)
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    session.settings.clear()
    yield sample_warehouse
    session.settings.clear()


def test_the_data_movement_page_says_where_data_goes_and_what_a_link_would_save(demo) -> None:
    at = page(app(), "movement")
    no_errors(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Data moved, gigabytes" in titles
    assert any(t.startswith("Cost of the data moved") for t in titles)
    said = " ".join(m.value for m in at.markdown)
    assert (
        "A 10 Gbps AWS Direct Connect between AWS us-east-1 and Acme Colo IAD1 would save USD"
        in said
    )
    assert (
        "A 10 Gbps AWS Direct Connect and Google Cloud Dedicated Interconnect between "
        "AWS us-east-1 and Google Cloud us-central1 would cost USD" in said
    )
    captions = " ".join(c.value for c in at.caption)
    assert "Link prices as of 20 September 2026" in captions


def test_the_command_line_gives_the_same_verdicts(sample_warehouse: Path, capsys) -> None:
    from dashboard.cli.finops import main

    config = sample_warehouse.parent / "finops-demo.toml"
    code = main(
        ["--warehouse", str(sample_warehouse), "--config", str(config), "interconnect",
         "--from", "Acme Colo IAD1", "--format", "json"],
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    [path] = json.loads(out)["paths"]
    assert path["between"] == ["AWS us-east-1", "Acme Colo IAD1"]
    ten = next(x for x in path["links"] if x["gbps"] == 10)
    assert ten["pays_off"] is True and path["verdict"].startswith("A 10 Gbps AWS Direct")


def test_own_vs_rent_ranks_the_workloads_with_the_dataset_move_priced(demo, con) -> None:
    from dashboard.queries.placement import placement_table

    s = session.settings()
    table = placement_table(con, s.own_vs_rent, s.flows)
    top = table.row(0, named=True)
    assert top["workload"] == "research · H100 · AWS" and top["placed_on"] == "owned GPUs"
    at = page(app(), "own_vs_rent")
    no_errors(at)
    said = " ".join(m.value for m in at.markdown)
    assert (
        f"**research · H100 · AWS** would cost USD {top['first_year_saving']:,.2f} less in its "
        "first year on owned GPUs: the largest saving of 10 workloads (moving its datasets not "
        "counted: their size is not set in [flows.datasets])" in said
    )
    shown = [d.value for d in at.dataframe if "first_year_saving" in d.value.columns]
    assert shown and list(shown[0]["workload"]) == table["workload"].to_list()
