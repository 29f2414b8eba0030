"""Datasets derived from what was loaded (classification, GPU-hours), refreshed after a load.

`refresh` is called by every ingest command once its loads are committed, with the results,
so derived tables never lag the lines they are derived from.
"""

from __future__ import annotations

from ingest.store import LoadResult, Store
from models.settings import Settings


def refresh(store: Store, settings: Settings, results: list[LoadResult]) -> None:
    """Bring derived datasets up to date with the loads in `results` (no-op when unchanged)."""
    if not any(r.status == "committed" for r in results):
        return
