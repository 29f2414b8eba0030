"""Reads for the data-flow map and the interconnect verdicts, over the egress rollup.

`egress_daily` keeps each day's egress by provider, region, AWS region pair, kind and
resource: enough to resolve every group to a flow (models.flows) without reading the lines.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from dashboard.queries.spend import _FILTER, _p, amount, frame
from models.flows import FlowSettings, monthly_flows
from models.interconnect import LinkFees, PathVerdict, assess, measured_paths
from models.link_prices import LinkPrices, default_link_prices


def flow_groups(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Egress per day and group, every currency (a flow keeps its own)."""
    return frame(
        con,
        f"""SELECT day, provider, region, region_pair, kind, resource, currency,
                   sum(gb) AS gb, sum({amount(f)}) AS cost
            FROM egress_daily WHERE {_FILTER}
            GROUP BY ALL ORDER BY ALL""",
        _p(f),
    )


def flows(con: duckdb.DuckDBPyConnection, f: Filters, addresses: Mapping[str, str]) -> pl.DataFrame:
    """Flows per month (models.flows.monthly_flows) under the filters."""
    return monthly_flows(flow_groups(con, f), addresses)


def interconnect(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    settings: FlowSettings,
    prices: LinkPrices | None = None,
) -> list[PathVerdict]:
    """The verdict for every pair of sites with USD traffic, costliest first."""
    prices = prices or default_link_prices()
    fees = LinkFees(settings.cross_connect_usd_per_month, settings.one_off_usd)
    return [
        assess(p, prices, fees, settings.link_gbps)
        for p in measured_paths(flows(con, f, settings.addresses))
    ]
