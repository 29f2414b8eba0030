"""The `unit_costs` table (models.unit_costs.UNIT_COSTS): cost per unit served, per model and
month, self-hosted beside the API. A few rows a model and month, so the dashboard's
Overview, the Unit costs page and `finops unit-costs` read it instead of GPU-hours or lines.

Rebuilt whole after a refresh whenever one of its inputs — serving_usage, gpu_hours,
cost_lines (data versions) or the model catalogue — differs from what it was built from
(recorded in the commit, as every derived table records its sources). The API side is read
from `api_usage_parts` (ingest/derive/api_usage.py), brought up to date first: the sums of the
catalogue's token and request lines per cost_lines partition, so a rebuild reads the cost lines
of the partitions a load changed, never every cost line.
"""

from __future__ import annotations

import hashlib
import json
import logging

import polars as pl

from ingest.derive import api_usage as usage_parts
from ingest.derive import lineage, scratch
from ingest.warehouse.connection import files_select, snapshot_files
from ingest.warehouse.load_contract import new_load_id
from ingest.warehouse.store import Store
from models.errors import InputError
from models.idle import GPU_HOURS
from models.model_catalogue import Catalogue, default_catalogue
from models.sagemaker import ENDPOINT_COSTS_SQL, endpoint_usage
from models.schema import GPU_UTIL
from models.serving import SERVING_USAGE
from models.unit_costs import API_USAGE_PARTS, SELF_HOSTED_SQL, UNIT_COSTS, api_usage, unit_costs

log = logging.getLogger(__name__)


def _record(store: Store, catalogue: Catalogue) -> dict:
    now: dict[str, object] = {
        name: lineage.data_version(store.table(name)) for name in lineage.UNIT_COST_INPUTS
    }
    now["catalogue"] = hashlib.sha256(repr(catalogue).encode()).hexdigest()[:16]
    return now


def refresh(store: Store, catalogue: Catalogue | None = None, whole: bool = False) -> bool:
    """Rebuild unit_costs when its inputs moved (`whole`: always, and every partition of
    api_usage_parts summed again, as `finops classify` does); True when it was rebuilt."""
    catalogue = catalogue or default_catalogue()
    now = _record(store, catalogue)
    table = store.table(UNIT_COSTS.name)
    if not whole and table is not None and lineage.recorded(table) == json.loads(json.dumps(now)):
        return False
    if table is None and now["serving_usage"] is None and now["cost_lines"] is None:
        return False  # an empty warehouse: nothing to cost
    with store.writer():
        usage_parts.refresh(store, catalogue, whole)
        frame = build(store, catalogue)
        staged = store.staging_dir() / f"{UNIT_COSTS.name}-{new_load_id()}.parquet"
        try:
            frame.write_parquet(staged)
            store.replace_derived(
                UNIT_COSTS.name, UNIT_COSTS, staged, None, metadata=lineage.metadata(now)
            )
        finally:
            staged.unlink(missing_ok=True)
    return True


def build(store: Store, catalogue: Catalogue) -> pl.DataFrame:
    """The unit_costs rows from the current snapshot of the inputs (api_usage_parts current)."""
    with scratch.connect(store.staging_dir()) as con:
        sources = {}
        for name, decl in (
            ("serving_usage", SERVING_USAGE),
            ("gpu_hours", GPU_HOURS),
            ("gpu_util", GPU_UTIL),
            (API_USAGE_PARTS.name, API_USAGE_PARTS),
        ):
            snap = store.table(name)
            files = snapshot_files(snap) if snap is not None else []
            sources[name] = files_select(con, f"_{name}", files, decl, snap)  # type: ignore[arg-type]
        con.execute(f"CREATE VIEW serving_usage AS {sources['serving_usage']}")
        con.execute(f"CREATE VIEW gpu_hours AS {sources['gpu_hours']}")
        con.execute(f"CREATE VIEW gpu_util AS {sources['gpu_util']}")
        self_hosted = con.sql(SELF_HOSTED_SQL).pl()
        # the lines summed per meter text, unit, period, currency and file (api_usage reads
        # each group as one line of its sums), and per SageMaker endpoint ARN
        con.execute(f"CREATE VIEW api_usage_parts AS {sources[API_USAGE_PARTS.name]}")
        endpoints = endpoint_usage(con.sql(ENDPOINT_COSTS_SQL).pl(), catalogue)
        sums = con.sql("SELECT * FROM api_usage_parts WHERE ResourceId IS NULL").pl()
    skipped: list[InputError] = []
    api = api_usage(sums, catalogue, skipped)
    for refused in skipped:  # stored lines: said, never a stop to the refresh
        log.warning("unit costs leave out lines: %s", refused.render())
    return unit_costs(self_hosted, api, catalogue, endpoints)
