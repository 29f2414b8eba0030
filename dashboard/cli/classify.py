"""`finops classify`: re-classify every cost line (e.g. after the rules changed)."""

from __future__ import annotations

import click

from dashboard.cli.finops import App


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
    """Classify every cost line, then rebuild gpu_hours, idle_episodes, the rollups and the
    unit costs."""
    from dashboard.cli.progress import progress_bar
    from ingest.derive import classified, rollups, unit_costs
    from ingest.warehouse import connection as warehouse

    warehouse.require(app.warehouse)
    with progress_bar(app.err_console, "classify") as progress:
        counts = classified.reclassify_all(app.store(), app.settings, rule_files, progress)
        progress("summing the rollups the dashboard reads", 2, 3)
        rollups.rebuild_all(app.store(), app.settings.engine)
        unit_costs.refresh(app.store(), whole=True)  # it reads the GPU-hours just rebuilt
    con = app.connect()
    rows = con.execute(  # one row per class and currency: amounts in two currencies never add
        "select x_AiClass, BillingCurrency, count(*), sum(EffectiveCost) from classified_costs "
        "group by 1, 2 order by 2, 4 desc nulls last, 1"
    ).fetchall()
    from dashboard.cli.tables import Column, money_with_code, show
    from dashboard.labels import value_words

    show(
        app.console,
        ["AI class", Column("lines", number=True), Column("amortised cost", number=True)],
        [(str(value_words(c)), f"{n:,}", money_with_code(cost, cur)) for c, cur, n, cost in rows],
        title="Classified cost lines",
    )
    app.console.print(
        f"{counts['lines']:,} line(s) classified; {counts['gpu_hours']:,} GPU-hour row(s)."
    )
