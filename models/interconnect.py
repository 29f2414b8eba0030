"""Dedicated interconnect break-even: does a link between two locations pay for itself?

Per pair of locations with measured traffic (both directions; a link is duplex), per month:

    today  = the egress actually billed for that traffic (internet / inter-cloud rates)
    link   = Σ over the link's cloud ends (hourly port + attachment) · 730
             + cross-connect fees + Σ GB leaving each cloud end · that cloud's link rate
    saving = today - link
    break-even GB/month = fixed / (r - t), with r = today/GB and t = link transfer/GB at the
             measured mix of directions; None when the link's per-GB rate is not cheaper
    needed Gbps = busiest hour's GB · 8 / 3600
    payback months = one-off cost / saving

A pair between two clouds (AWS ↔ Google Cloud) needs a port on each side, meeting in a
colocation site; a cloud ↔ on-prem site pair needs the cloud's port only. Money is Decimal
(USD: the link prices are USD; traffic billed in another currency is not compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

import polars as pl

from models.errors import InputError
from models.flows import CDN_EDGE, INTERNET, UNKNOWN, provider_key
from models.link_prices import LinkPrice, LinkPrices
from models.own_vs_rent import money

HOURS_PER_MONTH = Decimal(730)  # 8760 / 12: the month the providers' calculators use


@dataclass(frozen=True)
class LinkFees:
    """What the price table cannot know: your colo's cross-connect and one-off costs, USD."""

    cross_connect_usd_per_month: Decimal = Decimal(0)  # per cloud port
    one_off_usd: Decimal = Decimal(0)  # installation, optics, router ports

    def __post_init__(self) -> None:
        for name in ("cross_connect_usd_per_month", "one_off_usd"):
            v = getattr(self, name)
            if not isinstance(v, Decimal) or not v.is_finite() or v < 0:
                raise InputError(f"{name} must be a sum of USD >= 0", found=repr(v))


@dataclass(frozen=True)
class PathTraffic:
    """Measured traffic between two locations, per month on average, USD."""

    a: str
    b: str
    gb_per_month: Decimal
    cost_per_month: Decimal
    peak_hour_gb: float
    gb_out: Mapping[str, Decimal] = field(default_factory=dict)  # GB leaving each location

    @property
    def rate_today(self) -> Decimal:
        """USD per GB billed today."""
        return self.cost_per_month / self.gb_per_month if self.gb_per_month else Decimal(0)


@dataclass(frozen=True)
class LinkCase:
    """One link size for one pair: the monthly comparison and the verdict."""

    path: PathTraffic
    gbps: int
    links: tuple[LinkPrice, ...]
    fees: LinkFees
    fixed_per_month: Decimal
    transfer_per_month: Decimal
    link_per_month: Decimal
    saving_per_month: Decimal
    break_even_gb: Decimal | None  # None: the link's per-GB rate is not below today's
    payback_months: Decimal | None  # None: no saving to pay anything back

    @property
    def pays_off(self) -> bool:
        return self.saving_per_month > 0

    @property
    def label(self) -> str:
        return " + ".join(x.label for x in self.links)


@dataclass(frozen=True)
class PathVerdict:
    path: PathTraffic
    needed_gbps: float
    cases: tuple[LinkCase, ...]  # every priced size, smallest first
    chosen: LinkCase | None  # the smallest size that carries the busiest hour

    def sentence(self) -> str:
        return verdict_sentence(self)


def link_cost(
    path: PathTraffic, links: Sequence[LinkPrice], fees: LinkFees
) -> tuple[Decimal, Decimal]:
    """(fixed, transfer) USD per month of carrying `path` over `links`."""
    fixed = sum((x.hourly_usd * HOURS_PER_MONTH for x in links), Decimal(0))
    fixed += fees.cross_connect_usd_per_month * len(links)
    rate = {x.provider: x.transfer_usd_per_gb for x in links}
    transfer = Decimal(0)
    for loc, gb in path.gb_out.items():
        key = provider_key(loc)
        if key in rate:
            transfer += gb * rate[key]
    return fixed, transfer


def evaluate(
    path: PathTraffic, links: Sequence[LinkPrice], fees: LinkFees = LinkFees()
) -> LinkCase:
    """The monthly comparison for one size of link (one LinkPrice per cloud end)."""
    if path.gb_per_month < 0 or path.cost_per_month < 0:
        raise InputError("traffic and its cost must not be negative", found=repr(path))
    fixed, transfer = link_cost(path, links, fees)
    link = fixed + transfer
    saving = path.cost_per_month - link
    per_gb_link = transfer / path.gb_per_month if path.gb_per_month else Decimal(0)
    margin = path.rate_today - per_gb_link
    break_even = money(fixed / margin) if margin > 0 else None
    if saving <= 0:
        payback = None
    elif fees.one_off_usd == 0:
        payback = Decimal(0)
    else:
        payback = (fees.one_off_usd / saving).quantize(Decimal("0.1"), rounding=ROUND_CEILING)
    return LinkCase(
        path=path,
        gbps=links[0].gbps,
        links=tuple(links),
        fees=fees,
        fixed_per_month=money(fixed),
        transfer_per_month=money(transfer),
        link_per_month=money(link),
        saving_per_month=money(saving),
        break_even_gb=break_even,
        payback_months=payback,
    )


def saving_at(case: LinkCase, gb_per_month: Decimal) -> Decimal:
    """The monthly saving if the pair moved `gb_per_month` at today's mix and rates."""
    p = case.path
    scale = gb_per_month / p.gb_per_month if p.gb_per_month else Decimal(0)
    scaled = PathTraffic(
        p.a,
        p.b,
        gb_per_month,
        p.rate_today * gb_per_month,
        p.peak_hour_gb,
        {k: v * scale for k, v in p.gb_out.items()},
    )
    return evaluate(scaled, case.links, case.fees).saving_per_month


def links_for(path: PathTraffic, prices: LinkPrices, gbps: int) -> tuple[LinkPrice, ...] | None:
    """One port of `gbps` at each cloud end of the pair; None when a cloud end has no price
    of that size (or neither end is a cloud: nothing to connect)."""
    clouds = sorted({k for k in (provider_key(path.a), provider_key(path.b)) if k})
    if not clouds:
        return None
    found = [prices.for_provider(c, gbps) for c in clouds]
    return None if any(x is None for x in found) else tuple(x for x in found if x)


def needed_gbps(peak_hour_gb: float) -> float:
    """Gbps that carries the busiest hour's GB within the hour."""
    return peak_hour_gb * 8 / 3600


def assess(
    path: PathTraffic, prices: LinkPrices, fees: LinkFees = LinkFees(), gbps: int = 10
) -> PathVerdict:
    """Every priced link size for the pair; the verdict is for `gbps`, or for the smallest
    larger size when `gbps` cannot carry the busiest hour."""
    cases = []
    for size in prices.sizes():
        links = links_for(path, prices, size)
        if links:
            cases.append(evaluate(path, links, fees))
    need = needed_gbps(path.peak_hour_gb)
    chosen = next((c for c in cases if c.gbps >= max(gbps, need)), None)
    if chosen is None and cases:  # no size carries the busiest hour: say so, at the asked size
        chosen = next((c for c in cases if c.gbps == gbps), cases[-1])
    return PathVerdict(path, need, tuple(cases), chosen)


def verdict_sentence(v: PathVerdict, gbps: int | None = None) -> str:
    """The answer in one sentence, for the chosen size or for `gbps`."""
    case = v.chosen if gbps is None else next((c for c in v.cases if c.gbps == gbps), None)
    p = v.path
    if case is None:
        return f"No dedicated link between {p.a} and {p.b} is in the price table."
    head = f"A {case.gbps} Gbps {_products(case)} between {p.a} and {p.b}"
    short = (
        f" Its busiest hour ({v.needed_gbps:.1f} Gbps) needs a larger link."
        if case.gbps < v.needed_gbps
        else ""
    )
    if case.pays_off:
        pay = (
            "it has no one-off cost in the price table, so it pays back at once"
            if case.payback_months == 0
            else f"it pays back in {case.payback_months} months"
        )
        return f"{head} would save USD {case.saving_per_month:,.2f} a month; {pay}.{short}"
    even = (
        f"it breaks even at {case.break_even_gb:,.0f} GB a month"
        if case.break_even_gb is not None
        else "its per-GB rate is not below today's, so it never breaks even"
    )
    return (
        f"{head} would cost USD {-case.saving_per_month:,.2f} a month more than the transfer "
        f"it replaces ({p.gb_per_month:,.0f} GB a month); {even}.{short}"
    )


def _products(case: LinkCase) -> str:
    names = []
    for x in case.links:
        name = x.product.removesuffix(" dedicated connection")
        if name not in names:
            names.append(name)
    return " and ".join(names)


def is_site(loc: str) -> bool:
    """A place a dedicated link can end: a cloud region or an on-prem site (not the internet,
    a CDN, another zone of the same region, a NAT gateway, or an unknown place)."""
    return loc not in (INTERNET, CDN_EDGE, UNKNOWN) and "(" not in loc and not loc.endswith(")")


def measured_paths(flows: pl.DataFrame, currency: str = "USD") -> list[PathTraffic]:
    """Pairs of sites with traffic in `flows` (monthly_flows), averaged over its months.

    The busiest hour is the busiest day's GB over 24 (billing lines are daily or coarser),
    summed over the two directions: an upper bound of the pair's busiest hour.
    """
    months = flows["month"].n_unique() if flows.height else 0
    usd = flows.filter(pl.col("currency") == currency)
    pairs: dict[tuple[str, str], dict] = {}
    for row in usd.iter_rows(named=True):
        s, d = row["source"], row["destination"]
        if not (is_site(s) and is_site(d)) or s == d:
            continue
        if provider_key(s) is not None and provider_key(s) == provider_key(d):
            continue  # within one cloud: a dedicated link does not carry inter-region traffic
        key = tuple(sorted((s, d)))
        acc = pairs.setdefault(key, {"gb": Decimal(0), "cost": Decimal(0), "peak": {}, "out": {}})
        gb = Decimal(repr(float(row["gb"] or 0)))
        acc["gb"] += gb
        acc["cost"] += Decimal(row["cost"] or 0)
        acc["out"][s] = acc["out"].get(s, Decimal(0)) + gb
        acc["peak"][s] = max(acc["peak"].get(s, 0.0), float(row["peak_day_gb"] or 0))
    out = []
    for (a, b), acc in sorted(pairs.items()):
        n = Decimal(months)
        out.append(
            PathTraffic(
                a,
                b,
                acc["gb"] / n,
                acc["cost"] / n,
                sum(acc["peak"].values()) / 24,
                {k: v / n for k, v in acc["out"].items()},
            )
        )
    return sorted(out, key=lambda p: (-p.cost_per_month, p.a, p.b))
