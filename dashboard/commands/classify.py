"""`finops classify`: re-classify every cost line (e.g. after the rules changed)."""

from __future__ import annotations

import click

from dashboard.cli import App


@click.command()
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    metavar="FILE",
    help="Extra rule file(s), applied over the shipped rules and [classify] rules.",
)
@click.pass_obj
def command(app: App, rule_files: tuple[str, ...]) -> None:
    """Classify every cost line, then rebuild gpu_hours and idle_episodes."""
    from ingest import classified, warehouse

    warehouse.require(app.warehouse)
    counts = classified.reclassify_all(app.store(), app.settings, rule_files)
    con = app.connect()
    rows = con.execute(
        "select x_AiClass, count(*), sum(EffectiveCost) from classified_costs "
        "group by 1 order by 3 desc nulls last"
    ).fetchall()
    from dashboard.commands.tables import Column, show

    show(
        app.console,
        ["class", Column("lines", number=True), Column("effective cost", number=True)],
        [(str(c), f"{n:,}", "" if cost is None else f"{cost:,.2f}") for c, n, cost in rows],
        title="Classified cost lines",
    )
    app.console.print(
        f"{counts['lines']:,} line(s) classified; {counts['gpu_hours']:,} GPU-hour row(s)."
    )
