"""Derived warehouse views (classified_costs, gpu_hours, idle_episodes, ...).

Materialised derived datasets are registered as tables (read like the base tables, from the
same snapshot; under `--as-of` they follow cost_lines' commit time, i.e. the classification
that was current then). Views over them are registered as SQL.
"""

from __future__ import annotations

from models.settings import Settings

VIEW_MODULES: tuple[str, ...] = ()

# Joined through the line's key first, so a scan holds two integers a line in its hash table
# and the classes of the few combinations, not thirteen strings a line.
CLASSIFIED_COSTS = """
CREATE VIEW classified_costs AS
SELECT c.*, {cols}
FROM cost_lines c
LEFT JOIN line_classes l ON l.x_LineId = c.x_LineId
LEFT JOIN class_keys k ON k.x_ClassKey = l.x_ClassKey
"""


CLASSIFICATIONS_VIEW = """
CREATE VIEW classifications AS
SELECT l.x_LineId, {cols}
FROM line_classes l JOIN class_keys k ON k.x_ClassKey = l.x_ClassKey
"""


def _classifications(con) -> None:
    from models.classify import CLASSIFICATIONS

    cols = ", ".join(f'k."{n}"' for n in CLASSIFICATIONS.names if n != "x_LineId")
    con.execute(CLASSIFICATIONS_VIEW.format(cols=cols))


def _classified_costs(con) -> None:
    from models.classify import CLASSIFICATIONS

    cols = ", ".join(f'k."{n}"' for n in CLASSIFICATIONS.names if n != "x_LineId")
    con.execute(CLASSIFIED_COSTS.format(cols=cols))


def _gpu_hourly(con) -> None:
    """Per resource-hour: too many rows to keep as a rollup (a GPU-hour row per GPU of the
    hour), and read one resource at a time, so a view whose filters DuckDB pushes down."""
    from models.gpu_rollups import GPU_HOURLY_SQL

    con.execute(f"CREATE VIEW gpu_hourly AS {GPU_HOURLY_SQL}")


def _top_lines(con) -> None:
    """The costliest lines overall: the top of each partition's costliest (`top_lines_parts`)
    holds them all. The count is read when the view is made, so it follows `TOP_LINES`."""
    from models import rollups

    n = int(rollups.TOP_LINES)
    # the N-th largest cost first (one column), so the rows are read only above it
    con.execute(
        f"""CREATE VIEW top_lines AS
        WITH cut AS (SELECT min(EffectiveCost) AS floor FROM (
            SELECT EffectiveCost FROM top_lines_parts ORDER BY EffectiveCost DESC LIMIT {n}))
        SELECT * FROM top_lines_parts WHERE EffectiveCost >= (SELECT floor FROM cut)
        ORDER BY EffectiveCost DESC NULLS LAST, x_LineId LIMIT {n}"""
    )


def register_all(settings: Settings) -> None:
    """Register every derived table and view with the reader, configured by `settings`."""
    import importlib

    from ingest.warehouse import connection as warehouse
    from models.alerts import ALERT_STATE
    from models.classify import CLASS_KEYS, LINE_CLASSES
    from models.gpu_rollups import GPU_ROLLUPS, TELEMETRY_MONTHLY
    from models.idle import GPU_HOURS, IDLE_EPISODES
    from models.rollups import ROLLUPS
    from models.unit_costs import UNIT_COSTS

    for table in (LINE_CLASSES, CLASS_KEYS, GPU_HOURS, IDLE_EPISODES, *ROLLUPS):
        warehouse.register_table(table)
    for table in (*GPU_ROLLUPS, TELEMETRY_MONTHLY):  # derived at ingest, by month
        warehouse.register_table(table)
    warehouse.register_table(UNIT_COSTS)  # derived at ingest, whole
    warehouse.register_table(ALERT_STATE)  # written by `finops watch`
    warehouse.register_view("gpu_hourly", _gpu_hourly)
    warehouse.register_view("top_lines", _top_lines)
    warehouse.register_view("classifications", _classifications)  # before classified_costs
    warehouse.register_view("classified_costs", _classified_costs)
    for name in VIEW_MODULES:
        importlib.import_module(name).register(settings)
