"""`finops unit-costs`: cost per 1M tokens and per 1k requests, per model and month,
self-hosted beside the API, with the break-even volume."""

from __future__ import annotations

import sys

import click

from dashboard.cli.finops import App


@click.command()
@click.option("--model", help="One model, as its server or the model catalogue names it.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def command(app: App, model: str | None, fmt: str) -> None:
    """Cost per unit served per model and month. Self-hosted: the cost of the GPU-hours of the
    hosts serving the model (idle included, shown apart; a host serving several models split
    by requests each hour) over its requests and tokens (`finops ingest serving`). API: the
    billed cost (EffectiveCost) over the tokens of the lines the model catalogue names.
    SageMaker endpoint: the cost lines of the endpoint's ARN over its Invocations
    (`finops ingest serving sagemaker`); no tokens, idle share not known.
    A self-hosted model with a comparable API price shows what the API would cost at the
    same volume and the monthly tokens at which both cost the same."""
    from dashboard.cli.own_vs_rent import dumps
    from dashboard.queries.unit_costs import records, unit_costs

    frame = unit_costs(app.connect(), model)
    if fmt == "json":
        sys.stdout.write(dumps(records(frame)) + "\n")
        return
    if frame.height == 0:
        app.console.print(
            "No unit costs yet: ingest serving metrics (finops ingest serving prometheus ...) "
            "or bills with token meters."
        )
        return
    _print(app, frame)


def _count(x: float | None) -> str:
    if x is None:
        return ""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{suffix}"
    return f"{x:,.0f}"


def _print(app: App, frame) -> None:
    from dashboard.cli.tables import Column, money, show
    from models.sagemaker import IDLE_UNKNOWN
    from models.sagemaker import KIND as SAGEMAKER_KIND
    from models.sagemaker import LABEL as SAGEMAKER_LABEL

    def cur(v, c):
        return "" if v is None else f"{c} {money(v, c)}" if c else ""

    def unit(v, c):
        return "" if v is None else f"{c} {v:,.4f}" if c else ""

    show(
        app.console,
        ["month", "model", "served by", Column("cost", True), Column("idle", True),
         Column("requests", True), Column("tokens", True), Column("per 1k requests", True),
         Column("per 1M tokens", True), Column("per 1M output tokens", True)],
        [
            (r["month"], r["model"], r["where_served"], cur(r["cost"], r["currency"]),
             cur(r["idle_cost"], r["currency"]), _count(r["requests"]),
             _count((r["input_tokens"] or 0) + (r["output_tokens"] or 0)
                    if r["input_tokens"] is not None or r["output_tokens"] is not None else None),
             unit(r["cost_per_1k_requests"], r["currency"]),
             unit(r["cost_per_1m_tokens"], r["currency"]),
             unit(r["cost_per_1m_output_tokens"], r["currency"]))
            for r in frame.iter_rows(named=True)
        ],
        title="Cost per unit served (EffectiveCost basis)",
    )  # fmt: skip
    if frame.filter(frame["kind"] == SAGEMAKER_KIND).height:
        app.console.print(
            f"{SAGEMAKER_LABEL}s: the cost lines of the endpoint's ARN over its Invocations; "
            f"tokens not counted; {IDLE_UNKNOWN}. One with no cost lines or no invocations "
            "read says so and has no cost per 1k requests."
        )
    compared = frame.filter(frame["api_model"].is_not_null())
    if compared.height:
        show(
            app.console,
            ["month", "model", "API", Column("self-hosted", True),
             Column("API at this volume", True), Column("tokens served", True),
             Column("break-even tokens/month", True), "cheaper"],
            [
                (r["month"], r["model"], r["api_model"], cur(r["cost"], r["currency"]),
                 cur(r["api_cost"], r["currency"]),
                 _count((r["input_tokens"] or 0) + (r["output_tokens"] or 0)),
                 _count(r["break_even_tokens"]),
                 "self-hosted" if r["cost"] <= r["api_cost"] else "API")
                for r in compared.iter_rows(named=True)
            ],
            title="Serve it yourself or call the API",
        )  # fmt: skip
