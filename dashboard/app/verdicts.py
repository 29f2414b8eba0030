"""The pages' answers in one sentence each, where more than one page tells them (the Overview's
tiles repeat a page's verdict): one definition per verdict, with the page's figures."""

from __future__ import annotations

from decimal import Decimal

from dashboard.app import session
from models.own_vs_rent import OwnedNode

# where the Own vs rent page leaves its verdict (at its defaults) for the Overview's tile
OWN_VS_RENT_KEY = "own_vs_rent_verdict"


def own_vs_rent(data: dict, node: OwnedNode) -> str:
    """The recommendation in one sentence, every figure as the tiles below show it."""
    r, m = data["recommendation"], data["measured"]
    gpu, per_node = data["gpu"], data["owned"]["gpus_per_node"]
    own, today = r["owned_baseline_gpus"], m["owned_gpus"]
    more = own - today
    if more > 0:
        capex = session.money(Decimal(str(node.capex)) * more / per_node, "USD")
        change = f"{more:,} more than today, capex {capex}"
    elif more < 0:
        change = f"{-more:,} fewer than today's {today:,}"
    else:
        change = "as many as today"
    price = f"USD {float(r['burst_price_per_gpu_hour']):,.2f}/GPU-hour"
    at = (
        f"your measured {price}"
        if r["burst_price_source"].startswith("measured")
        else f"{price} ({r['burst_price_source']})"
    )
    u_star, u = r["break_even_utilisation"], m["u"]
    tail = (
        f"break-even {'never' if u_star is None else f'{u_star:.1%}'}, your utilisation "
        f"{'not measured' if u is None else f'{u:.1%}'}"
    )
    saving = session.money(r["annual_saving"], "USD")
    if own == 0:
        return f"**Rent all {gpu}**: owning saves nothing against renting at {at}; {tail}."
    return (
        f"**Own {own:,} {gpu}** ({change}): saves {saving} a year against renting at {at}; {tail}."
    )
