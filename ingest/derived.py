"""Datasets derived from what was loaded (classification, GPU-hours), refreshed after a load.

`refresh` is called by every ingest command once its loads are committed, with the results,
so derived tables never lag the lines they are derived from: the committed cost_lines
partitions are re-classified, then gpu_hours is rebuilt for the months touched by those
partitions or by telemetry loads, then idle_episodes.
"""

from __future__ import annotations

from ingest.pause import pause_point
from ingest.store import LoadResult, Store
from models.settings import Settings


def refresh(store: Store, settings: Settings, results: list[LoadResult]) -> None:
    """Bring derived datasets up to date with the loads in `results` (no-op when unchanged)."""
    pause_point("refresh")
    committed = [r for r in results if r.status == "committed"]
    if not committed:
        return
    from ingest import classified

    parts = sorted(
        {
            (r.source, r.billing_account, r.billing_period)
            for r in committed
            if r.dataset == "cost_lines"
        }
    )
    months = sorted(
        {r.billing_period for r in committed if r.dataset in ("cost_lines", "gpu_util")}
    )
    book = classified.rulebook(settings) if parts else None
    with store.writer():
        if parts and book is not None:
            classified.refresh_classifications(store, book, parts)
        if months:
            classified.refresh_gpu_hours(store, settings, months)
