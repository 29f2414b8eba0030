"""`finops runs`: training runs, costliest first — GPU-hours, cost, activity, idle GPU-hours."""

from __future__ import annotations

import click

from dashboard.cli.finops import App
from dashboard.cli.tables import Column, format_option, money, show

FIELDS = (
    "job_id", "name", "cluster", "team", "start", "end", "gpus", "gpu_hours", "cost",
    "currency", "mean_active", "idle_gpu_hours",
)  # fmt: skip


@click.command()
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the N costliest runs.")
@format_option("csv and json give every value exactly (cost to 12 decimals).")
@click.pass_obj
def command(app: App, top: int | None, fmt: str) -> None:
    """Training runs (Slurm jobs, Kubernetes jobs) costliest first: job id, name, cluster,
    team, start, end, GPUs, GPU-hours, cost, currency, mean GPU activity, idle GPU-hours."""
    import sys

    from dashboard.cli.query import to_csv, to_json
    from dashboard.queries.training_runs import runs

    frame = runs(app.connect(), app.settings.idle.idle_below, top)
    if fmt != "table":
        rows = frame.select(FIELDS).rows()
        sys.stdout.write(
            to_csv(list(FIELDS), rows) if fmt == "csv" else to_json(list(FIELDS), rows) + "\n"
        )
        return
    if not frame.height:
        app.console.print(
            "No training runs yet: load them with `finops ingest jobs slurm FILE --tz ZONE` "
            "or `finops ingest jobs kubernetes ANSWERS --cluster NAME`."
        )
        return
    show(
        app.console,
        [
            "job", "name", "cluster", "team", "start (UTC)", "end (UTC)", Column("GPUs", True),
            Column("GPU-hours", True), Column("cost", True), "currency",
            Column("mean activity", True), Column("idle GPU-hours", True),
        ],
        [
            (
                r["job_id"], r["name"], r["cluster"], r["team"] or "",
                f"{r['start']:%Y-%m-%d %H:%M}",
                "running" if r["end"] is None else f"{r['end']:%Y-%m-%d %H:%M}",
                f"{r['gpus']:g}", f"{r['gpu_hours']:,.1f}", money(r["cost"], r["currency"]),
                r["currency"] or "not billed",
                "" if r["mean_active"] is None else f"{r['mean_active']:.0%}",
                f"{r['idle_gpu_hours']:,.1f}",
            )
            for r in frame.iter_rows(named=True)
        ],
        title="Training runs, costliest first",
    )  # fmt: skip
