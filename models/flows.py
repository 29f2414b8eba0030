"""The data-flow map: every egress line as a flow `from location -> to location`.

A location is a cloud region ("AWS us-east-1", "Google Cloud us-central1"), an on-prem site,
"internet" or "CDN edge". The source is where the line was billed. The destination comes,
in this order, from: the configured address map (a resource, such as a bucket or an
instance that copies a dataset, mapped to where its traffic goes: billing cannot know that
an internet transfer lands in another cloud); the usage type (AWS `USE1-USW2-AWS-Out-Bytes`
names both regions); the egress kind (internet, CDN, inter-AZ stays in its region).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from models.errors import ConfigError

INTERNET = "internet"
CDN_EDGE = "CDN edge"
UNKNOWN = "unknown destination"
LINK_SIZES = (1, 10, 100)  # Gbps of the dedicated ports the link price table can price

# Billing names of the clouds (ProviderName) -> the word a location starts with, and the key
# the link price table uses.
CLOUDS = {
    "AWS": ("AWS", "aws"),
    "Google Cloud": ("Google Cloud", "gcp"),
    "Microsoft": ("Azure", "azure"),
}

# AWS usage-type region prefixes (reference formats.md; some us-east-1 types have none).
AWS_REGION_CODES = {
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2",
    "CAN1": "ca-central-1", "EU": "eu-west-1", "EUC1": "eu-central-1", "EUW2": "eu-west-2",
    "EUW3": "eu-west-3", "EUN1": "eu-north-1", "APN1": "ap-northeast-1",
    "APN2": "ap-northeast-2", "APN3": "ap-northeast-3", "APS1": "ap-southeast-1",
    "APS2": "ap-southeast-2", "APS3": "ap-south-1", "SAE1": "sa-east-1",
}  # fmt: skip
_PAIR = re.compile(r"^([A-Z]+[0-9]?) → ([A-Z]+[0-9]?)$")


def location(provider: str, region: str | None) -> str:
    """Where a line was billed, in words: 'AWS us-east-1'; an on-prem site as it is named."""
    cloud = CLOUDS.get(provider)
    if cloud is None:  # on-prem sites ("Acme Colo IAD1 · rack 4") and anything unknown
        return provider.split(" · ")[0]
    return f"{cloud[0]} {region}" if region and region != "(not set)" else cloud[0]


def provider_key(loc: str) -> str | None:
    """'aws', 'gcp' or 'azure' for a cloud location; None for a site, internet or CDN."""
    for word, key in CLOUDS.values():
        if loc == word or loc.startswith(word + " "):
            return key
    return None


def resolve(
    provider: str,
    region: str | None,
    region_pair: str | None,
    kind: str | None,
    resource: str | None,
    addresses: Mapping[str, str],
) -> tuple[str, str]:
    """(from, to) of one egress group; see the module docstring for the order of evidence."""
    src = location(provider, region)
    pair = _PAIR.match(region_pair or "") if provider == "AWS" else None
    if pair and pair.group(1) in AWS_REGION_CODES:
        src = f"AWS {AWS_REGION_CODES[pair.group(1)]}"
    if resource and resource in addresses:
        return src, addresses[resource]
    if pair and pair.group(2) in AWS_REGION_CODES:
        return src, f"AWS {AWS_REGION_CODES[pair.group(2)]}"
    if kind == "internet":
        return src, INTERNET
    if kind == "cdn":
        return src, CDN_EDGE
    if kind == "inter_az":
        return src, f"{src} (another zone)"
    if kind == "nat_endpoint":
        return src, f"{src} (NAT gateway)"
    if kind == "interconnect":
        return src, "on-prem (over an interconnect)"
    if kind == "inter_region":
        cloud = CLOUDS.get(provider, (src,))[0]
        return src, f"{cloud} (another region)"
    return src, UNKNOWN


def monthly_flows(groups: pl.DataFrame, addresses: Mapping[str, str]) -> pl.DataFrame:
    """Flows per month: month, source, destination, currency, gb, cost, peak_day_gb.

    `groups` has one row per day and egress group: day, provider, region, region_pair, kind,
    resource, currency, gb (float, null when billed by the hour), cost (Decimal). The busiest
    day's GB of each flow and month is kept for link sizing.
    """
    keys = ["provider", "region", "region_pair", "kind", "resource"]
    distinct = groups.select(keys).unique()
    ends = [resolve(*row, addresses) for row in distinct.iter_rows()]
    resolved = distinct.with_columns(
        pl.Series("source", [e[0] for e in ends], dtype=pl.String),
        pl.Series("destination", [e[1] for e in ends], dtype=pl.String),
    )
    daily = (
        groups.join(resolved, on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col("day").dt.truncate("1mo").alias("month"))
        .group_by("month", "day", "source", "destination", "currency")
        .agg(pl.col("gb").sum(), pl.col("cost").sum())
    )
    return (
        daily.group_by("month", "source", "destination", "currency")
        .agg(
            pl.col("gb").sum(),
            pl.col("cost").sum(),
            pl.col("gb").max().alias("peak_day_gb"),
        )
        .sort("month", "cost", "source", "destination", descending=[False, True, False, False])
    )


def egress_rates(flows: pl.DataFrame, currency: str = "USD") -> dict[str, Decimal]:
    """USD per GB billed today for data leaving each cloud to the internet, by ProviderName:
    what moving a dataset out of it would cost a GB."""
    out: dict[str, Decimal] = {}
    internet = flows.filter(
        (pl.col("destination") == INTERNET) & (pl.col("currency") == currency) & (pl.col("gb") > 0)
    )
    for name, (word, _) in CLOUDS.items():
        part = internet.filter(pl.col("source").str.starts_with(word + " "))
        gb = part["gb"].sum()
        if gb:
            out[name] = Decimal(part["cost"].sum()) / Decimal(repr(float(gb)))
    return out


def sankey_links(flows: pl.DataFrame, value: str) -> tuple[list[str], pl.DataFrame]:
    """Nodes and links (source index, target index, value) of a Sankey over the period.

    A destination that is also a source (a region both sending and receiving) is one node;
    flows of zero value are left out.
    """
    totals = (
        flows.group_by("source", "destination")
        .agg(pl.col(value).sum())
        .filter(pl.col(value).cast(pl.Float64) > 0)
        .sort(value, "source", "destination", descending=[True, False, False])
    )
    nodes = sorted(set(totals["source"]) | set(totals["destination"]))
    index = {n: i for i, n in enumerate(nodes)}
    links = totals.with_columns(
        pl.col("source").replace_strict(index, return_dtype=pl.Int64).alias("s"),
        pl.col("destination").replace_strict(index, return_dtype=pl.Int64).alias("t"),
    )
    return nodes, links


@dataclass(frozen=True)
class FlowSettings:
    """[flows] in finops.toml: where traffic goes that billing cannot place, and the link
    the interconnect verdict is for.

    `addresses` maps a resource id (bucket, instance, NAT gateway) to the location its egress
    lands in: `"acme-datasets" = "Google Cloud us-central1"`, `"i-0sync" = "Colo IAD1"`.
    """

    addresses: dict[str, str] = field(default_factory=dict)
    # team -> GB of datasets that would move with its workloads (placement's one-off cost)
    datasets: dict[str, Decimal] = field(default_factory=dict)
    link_gbps: int = 10
    cross_connect_usd_per_month: Decimal = Decimal(0)  # per cloud port, from your colo's quote
    one_off_usd: Decimal = Decimal(0)  # installation, optics, router ports

    def __post_init__(self) -> None:
        for resource, where in self.addresses.items():
            if not isinstance(where, str) or not where.strip():
                raise ConfigError(
                    f"[flows.addresses] {resource!r} needs a location",
                    expected='a location such as "AWS us-east-1" or your site\'s name',
                    found=repr(where),
                )
        for team, gb in self.datasets.items():
            if not isinstance(gb, Decimal) or not gb.is_finite() or gb < 0:
                raise ConfigError(
                    f"[flows.datasets] {team!r} must be a size in GB >= 0", found=repr(gb)
                )
        if self.link_gbps not in LINK_SIZES:
            raise ConfigError(
                "[flows] link_gbps is not a priced link size",
                expected=f"one of {list(LINK_SIZES)}",
                found=repr(self.link_gbps),
            )
        for name in ("cross_connect_usd_per_month", "one_off_usd"):
            if getattr(self, name) < 0:
                raise ConfigError(f"[flows] {name} must not be negative", expected=">= 0 USD")
