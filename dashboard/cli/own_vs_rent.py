"""`finops own-vs-rent`: buy GPUs or keep renting, from the measured demand in gpu_hours."""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from typing import Any

import click

from dashboard.cli.finops import App
from dashboard.labels import words
from dashboard.queries.own_vs_rent import load_gpu_hours
from models.price_book import CURRENCY
from models.recommendation import OwnVsRentSettings, recommend, to_dict


def _settings(app: App) -> OwnVsRentSettings:
    origin = str(app.config_file) if app.config_file else "finops.toml"
    return OwnVsRentSettings.from_dict(app.settings.own_vs_rent, origin=origin)


@click.command("own-vs-rent")
@click.option("--gpu", metavar="MODEL", help="GPU model (H100, H200, A100). Default from settings.")
@click.option(
    "--price-per-gpu-hour",
    type=float,
    metavar="P",
    help="Rent price to burst at and compare against (default: measured cloud price).",
)
@click.option(
    "--months", type=click.IntRange(min=1), help="Months of history to measure (default 12)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def command(
    app: App, gpu: str | None, price_per_gpu_hour: float | None, months: int | None, fmt: str
) -> None:
    """Cost per useful GPU-hour owned vs each rent option, break-even utilisation, measured u
    and u_r, and the owned baseline that minimises cost, with its annual saving."""
    settings = _settings(app)
    gpu = gpu or settings.gpu
    months = months or settings.months
    book = settings.price_book()
    con = app.connect()
    frame, end = load_gpu_hours(con, gpu, months)
    result = recommend(
        frame,
        book,
        gpu=gpu,
        months=months,
        price_per_gpu_hour=price_per_gpu_hour,
        burst_option=settings.burst_option,
        end=end,
    )
    data = to_dict(result)
    if fmt == "json":
        sys.stdout.write(dumps(data) + "\n")
    else:
        _print_tables(app.console, data)


def dumps(data: Any) -> str:
    """JSON with Decimal money written as exact numbers, never through float."""
    marks: list[str] = []

    def mark(v: Any) -> Any:
        if isinstance(v, Decimal):
            marks.append(format(v, "f"))
            return f"\x00{len(marks) - 1}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(data), indent=2)
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: marks[int(m.group(1))], text)


def _pct(x: float | None) -> str:
    return "never" if x is None else f"{x:.1%}"


def _usd(x: Any) -> str:
    """A price-book amount: the book is in USD, shown in cents like every money cell."""
    from dashboard.cli.tables import money

    return "" if x is None else f"${money(x, CURRENCY)}"


def _input(x: float) -> str:
    """A sensitivity bound as a person writes it: 258,000 rather than 2.58e+05."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _assumption(key: str) -> str:
    """A price-book key in words: 'finance.life_years' -> 'Life years (finance)',
    'node.H100.server_capex' -> 'Server capex (node H100)'."""
    *scope, name = key.split(".")
    return f"{words(name)} ({' '.join(scope)})" if scope else words(name)


def _print_tables(console, d: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    from dashboard.cli.tables import Column, money, show

    m, dem, own, rec = d["measured"], d["demand"], d["owned"], d["recommendation"]
    w = d["window"]
    console.print(
        Text.assemble(
            (f"Own vs rent: {d['gpu']}", "bold"),
            f"  {w['start'][:10]} to {w['end'][:10]} ({w['hours']:,} hours)",
        )
    )
    t = Table("measure", "value", title="Measured from the GPU-hours")
    t.add_row(
        "measured utilisation, owned: useful share of monitored owned GPU-hours",
        _pct(m["u"]) if m["u"] else "n/a",
    )
    t.add_row(
        "measured utilisation, cloud: useful share of monitored cloud GPU-hours",
        _pct(m["u_r"]) if m["u_r"] else "n/a",
    )
    t.add_row(
        "unmonitored GPU-hours (in neither share)",
        f"{m['unmonitored_gpu_hours']:,} ({m['unmonitored_share']:.1%})",
    )
    t.add_row(
        "demand estimated from billing alone",
        f"{dem['estimated_from_billing_gpu_hours']:,} GPU-hours "
        f"({dem['estimated_from_billing_share']:.1%})",
    )
    t.add_row("peak / mean GPUs in use", f"{dem['peak_gpus']} / {dem['mean_gpus']:.1f}")
    t.add_row("cloud cost per paid GPU-hour", _usd(m["cloud_cost_per_gpu_hour"]))
    other = m["cloud_unpriced_gpu_hours"]
    if other:  # the price book is in USD: another currency's cost is no price to compare
        t.add_row(
            f"cloud GPU-hours billed in another currency than {CURRENCY}",
            f"{other:,} (not in the cost per GPU-hour)",
        )
    console.print(t)

    rows = [("own (fixed + energy)", "owned", "", _usd(own["cost_per_useful_gpu_hour"]),
             "", "", "", "")]  # fmt: skip
    for o in d["options"]:
        rows.append(
            (
                f"{o['provider']} {o['sku']}".strip(),
                words(o["pricing_model"]),
                money(o["price_per_gpu_hour"], CURRENCY),
                _usd(o["cost_per_useful_gpu_hour"]),
                "by annual cost" if o["committed"] else _pct(o["break_even_utilisation"]),
                _usd(o["annual_cost_per_node"]),
                o["as_of"],
                o["confidence"],
            )
        )
    show(
        console,
        ["option", "model", Column("$/GPU-h", True), Column("$/useful GPU-h", True),
         "break-even utilisation", Column("per node-year", True), "as of", "conf."],
        rows,
        title=f"Owned: {_usd(own['cost_per_useful_gpu_hour'])} per useful GPU-hour at "
        f"utilisation {own['u']:.1%} owned ({own['u_source']}), "
        f"{d['rent_useful_fraction']['u_r']:.1%} cloud ({d['rent_useful_fraction']['source']})",
    )  # fmt: skip

    t = Table("recommendation", "value", title="Hybrid: own the baseline, burst on demand")
    t.add_row(
        "owned baseline",
        f"{rec['owned_baseline_nodes']} node(s) = {rec['owned_baseline_gpus']} GPUs "
        f"(used {rec['owned_utilisation']:.1%})",
    )
    t.add_row(
        "burst price",
        f"{_usd(rec['burst_price_per_gpu_hour'])} ({rec['burst_price_source']})",
    )
    t.add_row("break-even utilisation at that price", _pct(rec["break_even_utilisation"]))
    t.add_row(
        "rent at which owning breaks even at these utilisations",
        _usd(own["break_even_rent_per_gpu_hour"]) + " per GPU-hour",
    )
    t.add_row("annual cost, hybrid", _usd(rec["annual_cost"]))
    t.add_row("annual cost, all rented", _usd(rec["all_rent_annual_cost"]))
    t.add_row(
        f"annual cost, all owned ({rec['all_own_nodes']} nodes)", _usd(rec["all_own_annual_cost"])
    )
    t.add_row(Text("annual saving vs all rented", style="bold"), _usd(rec["annual_saving"]))
    console.print(t)

    t = Table(
        "input", "low → high", "break-even at low", "break-even at high",
        title="What moves the break-even utilisation most",
    )  # fmt: skip
    for b in d["sensitivity"][:6]:
        t.add_row(
            words(b["parameter"]),
            f"{_input(b['low'])} → {_input(b['high'])}",
            _pct(b["u_star_low"]),
            _pct(b["u_star_high"]),
        )
    console.print(t)

    show(
        console,
        ["assumption", Column("value", True), "unit", "as of", "conf.", "source"],
        [
            (
                _assumption(key),
                f"{a['value']:,.6g}",
                a["unit"],
                a["as_of"],
                a["confidence"],
                a["source"],
            )
            for key, a in d["assumptions"].items()
        ],
        title="Assumptions",
    )
