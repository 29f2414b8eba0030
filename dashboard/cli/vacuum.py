"""`finops vacuum`: remove files no version of the warehouse needs."""

from __future__ import annotations

import click

from dashboard.cli.finops import App


@click.command()
@click.option(
    "--older-than",
    "days",
    type=float,
    default=None,
    help="Also drop history older than DAYS (time travel stops there). Default: keep all.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
@click.pass_obj
def command(app: App, days: float | None, dry_run: bool) -> None:
    """Remove staging leftovers and data files that no committed version references, then
    rebuild derived data (classifications, GPU-hours) not built from the current version of
    its sources, as after an ingest killed before its refresh."""
    from ingest.derive import lineage
    from ingest.derive import refresh as derived

    store = app.store()
    removed = store.vacuum(older_than_days=days, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    app.console.print(f"{verb} {len(removed)} file(s).")
    for path in removed:
        app.console.print(f"  {path}")
    if dry_run:
        found = lineage.stale(store, app.settings)
    else:
        found = derived.refresh(store, app.settings, [])
        store.drop_empty_staging()
    if found:
        verb = "Would rebuild" if dry_run else "Rebuilt"
        app.console.print(f"{verb} derived data not built from the current sources:")
        for item in found:
            app.console.print(f"  {item}", markup=False, highlight=False)
