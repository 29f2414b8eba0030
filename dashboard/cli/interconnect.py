"""`finops interconnect`: would a dedicated link between two places pay for itself?"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

import click

from dashboard.cli.finops import App
from dashboard.cli.own_vs_rent import dumps
from dashboard.queries import flows as queries_flows
from dashboard.queries.filters import Filters
from models.errors import InputError
from models.interconnect import PathVerdict
from models.link_prices import default_link_prices


@click.command("interconnect")
@click.option("--from", "src", metavar="L", help='One end, e.g. "AWS us-east-1".')
@click.option("--to", "dst", metavar="L", help='The other end, e.g. "Acme Colo IAD1".')
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def command(app: App, src: str | None, dst: str | None, fmt: str) -> None:
    """For each pair of places with measured traffic: the egress billed today against a
    dedicated link (port-hours, transfer over the link, fees), the saving a month, the
    break-even GB a month, the link the busiest hour needs, and the payback."""
    settings = app.settings.flows
    verdicts = queries_flows.interconnect(app.connect(), Filters(), settings)
    chosen = _select(verdicts, src, dst)
    data = {
        "prices_as_of": default_link_prices().as_of.isoformat(),
        "link_gbps": settings.link_gbps,
        "paths": [to_dict(v) for v in chosen],
    }
    if fmt == "json":
        sys.stdout.write(dumps(data) + "\n")
    else:
        _print(app.console, chosen, data)


def _select(verdicts: list[PathVerdict], src: str | None, dst: str | None) -> list[PathVerdict]:
    places = sorted({p for v in verdicts for p in (v.path.a, v.path.b)})
    for given in (src, dst):
        if given is not None and given not in places:
            raise InputError(
                f"no measured traffic to or from {given!r}",
                expected=f"one of {places}" if places else "a warehouse with egress between sites",
                found=given,
                hint='locations are "<cloud> <region>" or a site\'s name; map resources to '
                "sites in finops.toml [flows.addresses]",
            )
    wanted = {x for x in (src, dst) if x}
    return [v for v in verdicts if wanted <= {v.path.a, v.path.b}]


def to_dict(v: PathVerdict) -> dict[str, Any]:
    p = v.path
    return {
        "between": [p.a, p.b],
        "gb_per_month": _round(p.gb_per_month, "1"),
        "cost_per_month_today": _round(p.cost_per_month, "0.01"),
        "busiest_hour_gb": round(p.peak_hour_gb, 1),
        "needed_gbps": round(v.needed_gbps, 2),
        "verdict": v.sentence(),
        "links": [
            {
                "gbps": c.gbps,
                "products": [x.label for x in c.links],
                "fixed_per_month": c.fixed_per_month,
                "transfer_per_month": c.transfer_per_month,
                "link_per_month": c.link_per_month,
                "saving_per_month": c.saving_per_month,
                "break_even_gb_per_month": c.break_even_gb,
                "payback_months": c.payback_months,
                "pays_off": c.pays_off,
                "prices": [{"url": x.url, "as_of": x.as_of.isoformat()} for x in c.links],
            }
            for c in v.cases
        ],
    }


def _round(x: Decimal, step: str) -> Decimal:
    return x.quantize(Decimal(step))


def _print(console, verdicts: list[PathVerdict], data: dict) -> None:
    from dashboard.cli.tables import Column, money, show

    if not verdicts:
        console.print(
            "No traffic between two sites was measured: egress to the internet or a CDN needs "
            "no link. Map resources to sites in finops.toml [flows.addresses]."
        )
        return
    for v, d in zip(verdicts, data["paths"], strict=True):
        rows = [
            (
                f"{c['gbps']} Gbps",
                money(c["link_per_month"], "USD"),
                money(c["saving_per_month"], "USD"),
                "never" if c["break_even_gb_per_month"] is None
                else f"{c['break_even_gb_per_month']:,.0f}",
                "no saving" if c["payback_months"] is None else f"{c['payback_months']}",
            )
            for c in d["links"]
        ]  # fmt: skip
        show(
            console,
            ["link", Column("link USD/month", True), Column("saving USD/month", True),
             Column("break-even GB/month", True), Column("payback months", True)],
            rows,
            title=f"{v.path.a} ↔ {v.path.b}: {d['gb_per_month']:,} GB and "
            f"USD {money(d['cost_per_month_today'], 'USD')} a month today; busiest hour "
            f"{d['busiest_hour_gb']:,} GB ({d['needed_gbps']} Gbps)",
        )  # fmt: skip
        console.print(v.sentence())
    console.print(
        f"Link prices as of {data['prices_as_of']} (providers' pricing pages; "
        "`finops interconnect --format json` lists each URL)."
    )
