"""`finops placement`: what each GPU workload would cost a year placed elsewhere."""

from __future__ import annotations

import sys
from typing import Any

import click

from dashboard.cli.finops import App
from dashboard.cli.own_vs_rent import _settings as own_vs_rent_settings
from dashboard.cli.own_vs_rent import dumps
from dashboard.queries.placement import placement
from models.placement import ASSUMPTIONS, Alternative, best_per_workload


@click.command("placement")
@click.option(
    "--months", type=click.IntRange(min=1), default=12, show_default=True,
    help="Months of GPU-hours to measure.",
)  # fmt: skip
@click.option("--all", "every", is_flag=True, help="Every alternative, not the best of each.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def command(app: App, months: int, every: bool, fmt: str) -> None:
    """For each workload (team x GPU model x where it runs): its annual cost today and on
    owned GPUs or each cloud's on-demand and committed rates, with the one-off cost of moving
    its datasets; ranked by first-year saving."""
    book = own_vs_rent_settings(app).price_book()
    ranked = placement(app.connect(), book, app.settings.flows, months)
    shown = ranked if every else best_per_workload(ranked)
    data = {
        "currency": "USD",
        "assumptions": list(ASSUMPTIONS),
        "placements": [to_dict(a) for a in shown],
    }
    if fmt == "json":
        sys.stdout.write(dumps(data) + "\n")
    else:
        _print(app.console, data)


def to_dict(a: Alternative) -> dict[str, Any]:
    w = a.workload
    return {
        "team": w.team,
        "gpu_model": w.gpu_model,
        "runs_on": w.provider,
        "paid_gpu_hours": w.paid_gpu_hours,
        "useful_gpu_hours": w.useful_gpu_hours,
        "annual_cost_today": a.annual_today,
        "alternative": a.option,
        "place": a.place,
        "pricing": a.pricing,
        "annual_cost": a.annual_cost,
        "one_off_data_movement": a.one_off,
        "first_year_saving": a.first_year_saving,
        "price_as_of": a.as_of,
    }


def _print(console, data: dict) -> None:
    from dashboard.cli.tables import Column, money, show
    from dashboard.labels import words

    rows = [
        (
            f"{p['team']} · {p['gpu_model']} · {p['runs_on']}",
            money(p["annual_cost_today"], "USD"),
            f"{p['place']} ({words(p['pricing'])})",
            money(p["annual_cost"], "USD"),
            "dataset size not set" if p["one_off_data_movement"] is None
            else money(p["one_off_data_movement"], "USD"),
            money(p["first_year_saving"], "USD"),
        )
        for p in data["placements"]
    ]  # fmt: skip
    show(
        console,
        ["workload", Column("USD a year today", True), "placed on",
         Column("USD a year there", True), Column("moving data, once", True),
         Column("first-year saving", True)],
        rows,
        title="Workload placement, best alternative first (USD)",
    )  # fmt: skip
    for line in data["assumptions"]:
        console.print(f"- {line}")
