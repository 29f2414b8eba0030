"""`finops check`: is every table of the warehouse whole, and what to do when it is not."""

from __future__ import annotations

import click

from dashboard.cli.finops import App


@click.command()
@click.pass_obj
def command(app: App) -> None:
    """Check every table (`finops watch`'s `alert_state` too): its Delta log (readable
    commits, no gap, checkpoint), the data files of its current version (present, logged
    size), the loads it is said to hold, and derived data built from the current version of
    its sources. Exit 0 when healthy, 4 (warehouse) otherwise."""
    from dashboard.cli.tables import show
    from ingest.warehouse import connection as warehouse
    from ingest.warehouse.health_check import inspect
    from models.errors import DamagedWarehouseError, WarehouseError

    root = warehouse.require(app.warehouse)
    health = inspect(root, settings=app.settings)
    if not health.tables:
        raise WarehouseError(
            "not a finops warehouse: it holds none of the warehouse's tables",
            file=str(root),
            hint="give the warehouse folder with --warehouse (or $FINOPS_WAREHOUSE)",
        )
    rows = []
    for name in health.tables:
        found = health.of(name)
        rows.append((name, "; ".join(p.problem for p in found) if found else "healthy"))
    show(app.console, ["table", "state"], rows, title=f"Warehouse {root}")
    if health.healthy:
        app.console.print(f"All {len(health.tables)} tables are healthy.")
        return
    app.console.print("What to do:")
    for problem in health.problems:
        app.console.print(f"- {problem.table}: {problem.problem}")
        app.console.print(f"  {problem.remedy}")
    raise DamagedWarehouseError(
        f"{len(health.problems)} problem(s) in "
        f"{len({p.table for p in health.problems})} table(s), listed above",
        file=str(root),
        hint="commands refuse this warehouse until it is repaired as said above",
    )
