"""The data-flow map: each egress group resolved to from -> to, and summed per month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from models.flows import CDN_EDGE, INTERNET, monthly_flows, resolve, sankey_links

COPY = "acme-vision-datasets"
ADDRESSES = {COPY: "Google Cloud us-central1"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("AWS", "us-east-1", "USE1 → USW2", "inter_region", "i-1"),
         ("AWS us-east-1", "AWS us-west-2")),
        (("AWS", "us-east-1", "us-east-1 → internet", "internet", "i-1"),
         ("AWS us-east-1", INTERNET)),
        (("AWS", "us-east-1", "x", "cdn", "E2Q"), ("AWS us-east-1", CDN_EDGE)),
        (("AWS", "us-east-1", "x", "internet", "acme-vision-datasets"),
         ("AWS us-east-1", "Google Cloud us-central1")),
        (("Google Cloud", "us-central1", "x", "inter_az", "vm"),
         ("Google Cloud us-central1", "Google Cloud us-central1 (another zone)")),
        (("Acme Colo IAD1 · cage 4", None, None, "internet", None),
         ("Acme Colo IAD1", INTERNET)),
    ],
)  # fmt: skip
def test_a_group_resolves_from_the_address_map_then_the_usage_type_then_its_kind(row, expected):
    assert resolve(*row, ADDRESSES) == expected


def _groups() -> pl.DataFrame:
    rows = [  # day, provider, region, pair, kind, resource, gb, cost
        (date(2026, 5, 1), "AWS", "us-east-1", "a", "internet", COPY, 1000.0, "50"),
        (date(2026, 5, 2), "AWS", "us-east-1", "a", "internet", COPY, 3000.0, "150"),
        (date(2026, 5, 2), "AWS", "us-east-1", "a", "internet", "i-web", 10.0, "0.90"),
        (date(2026, 6, 1), "AWS", "us-east-1", "a", "internet", "i-web", 20.0, "1.80"),
        (date(2026, 6, 1), "AWS", "us-east-1", "a", "nat_endpoint", "nat-1", None, "1.08"),
    ]  # fmt: skip
    return pl.DataFrame(
        [(*r[:6], "USD", r[6], Decimal(r[7])) for r in rows],
        schema={
            "day": pl.Date, "provider": pl.String, "region": pl.String,
            "region_pair": pl.String, "kind": pl.String, "resource": pl.String,
            "currency": pl.String, "gb": pl.Float64, "cost": pl.Decimal(38, 12),
        },
        orient="row",
    )  # fmt: skip


def test_a_planted_copy_is_one_flow_with_its_month_total_and_busiest_day():
    flows = monthly_flows(_groups(), ADDRESSES)
    copy = flows.filter(pl.col("destination") == "Google Cloud us-central1")
    assert copy.height == 1
    row = copy.row(0, named=True)
    assert (row["source"], row["month"]) == ("AWS us-east-1", date(2026, 5, 1))
    assert (row["gb"], row["cost"], row["peak_day_gb"]) == (4000.0, Decimal("200"), 3000.0)
    web = flows.filter(pl.col("destination") == INTERNET)["cost"].to_list()
    assert web == [Decimal("0.90"), Decimal("1.80")]
    assert flows["cost"].sum() == Decimal("203.78")  # every line lands in one flow


def test_the_sankey_has_one_node_per_place_and_leaves_out_empty_flows():
    nodes, links = sankey_links(monthly_flows(_groups(), ADDRESSES), "gb")
    assert nodes == ["AWS us-east-1", "Google Cloud us-central1", INTERNET]
    assert links.select("s", "t", "gb").rows() == [(0, 1, 4000.0), (0, 2, 30.0)]


def test_egress_rates_are_the_cost_per_gb_billed_to_the_internet_by_cloud():
    from models.flows import egress_rates

    rates = egress_rates(monthly_flows(_groups(), {}))
    # 4,030 GB for 202.70 (the copy and the web traffic, both internet without the map)
    assert rates == {"AWS": Decimal("202.70") / Decimal("4030.0")}
