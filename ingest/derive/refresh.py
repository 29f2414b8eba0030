"""Datasets derived from what was loaded (classification, GPU-hours), refreshed after a load.

`refresh` is called by every ingest command once its loads are committed, with the results,
even when nothing changed: it re-classifies the cost_lines partitions the loads committed and
every partition `lineage.stale()` finds out of date (a refresh killed, a disk that filled up),
recording the digest of each one's GPU lines; then rebuilds gpu_hours for the months whose GPU
inputs now differ from what it was built from (GPU lines, telemetry, assets, idle settings),
then idle_episodes, then the rollups of the re-classified partitions and of those stale
themselves, then unit_costs when serving usage, GPU-hours or cost lines moved (its API side
from api_usage_parts, summed again only for the cost_lines partitions that moved). A load that
changed no GPU line (an Azure, GCP or SaaS period without GPU VMs, a restatement of other
lines) rebuilds no GPU month.
A warehouse whose derived data matches its sources costs a read of the Delta logs.
"""

from __future__ import annotations

from ingest.derive import lineage, unit_costs
from ingest.warehouse.cost_line_load import safe_part
from ingest.warehouse.load_contract import LoadResult
from ingest.warehouse.pause import pause_point
from ingest.warehouse.store import Store
from models.settings import EngineSettings, Settings


def refresh(store: Store, settings: Settings, results: list[LoadResult]) -> list[lineage.Stale]:
    """Bring derived datasets up to date with the loads in `results` and with their sources
    (no-op when nothing changed and nothing is stale). Returns what was found stale."""
    pause_point("refresh")
    committed = [r for r in results if r.status == "committed"]
    parts = {
        lineage.part_key([safe_part(r.source), safe_part(r.billing_account), r.billing_period])
        for r in committed
        if r.dataset == "cost_lines"
    }
    if not committed and not lineage.stale(store, settings):
        unit_costs.refresh(store)  # a no-op when its inputs did not move
        return []  # the common re-ingest of unchanged files: logs read, no lock taken
    with store.writer():
        found = lineage.stale(store, settings)
        _rebuild(store, settings, parts, found)
    unit_costs.refresh(store)  # after gpu_hours: it reads them
    return found


def _named(found: list[lineage.Stale], *datasets: str) -> set[str] | None:
    """The parts (or months) of `datasets` in `found`; None when one recorded nothing."""
    mine = [s for s in found if s.dataset in datasets]
    if any(not s.recorded for s in mine):
        return None
    return {s.part for s in mine}


def _rebuild(store: Store, settings: Settings, parts: set[str], found: list[lineage.Stale]) -> None:
    """Rebuild the `parts` and what `found` names, then the GPU months whose inputs differ
    from their record once those are classified; a table that recorded nothing is rebuilt
    whole (None), so that from now on it records every part. The caller holds the writer
    lock."""
    from ingest.derive import classified

    stale_parts = _named(found, "line_classes")
    want_parts = None if stale_parts is None else parts | stale_parts
    gpu = [s for s in found if s.dataset in (*GPU_MONTHLY, "idle_episodes")]
    if want_parts is None or want_parts:
        book = classified.rulebook(settings)
        wanted = None if want_parts is None else [_values(p) for p in sorted(want_parts)]
        classified.refresh_partitions(store, book, wanted)
        gpu = lineage.stale_gpu(store, settings)  # the GPU lines' digests are known now
    want_months = _named(gpu, *GPU_MONTHLY)
    episodes = any(s.dataset == "idle_episodes" for s in gpu)
    if want_months is None or want_months:
        classified.refresh_gpu_hours(
            store, settings, None if want_months is None else sorted(want_months)
        )
    elif episodes:
        classified.refresh_episodes(store, settings)
    _rebuild_rollups(store, want_parts, found, settings.engine)


def _rebuild_rollups(
    store: Store, classified: set[str] | None, found: list[lineage.Stale], engine: EngineSettings
) -> None:
    """The rollups of the partitions just classified and of those found stale (all when
    classification ran whole or a rollup recorded nothing)."""
    from ingest.derive import rollups
    from models.rollups import ROLLUPS

    mine = [s for s in found if s.dataset in {t.name for t in ROLLUPS}]
    if classified is None or any(not s.recorded for s in mine):
        rollups.refresh(store, None, engine)
    elif classified or mine:
        rollups.refresh(store, classified | {s.part for s in mine}, engine)


# rebuilt together, by month, from the same inputs (classified.refresh_gpu_hours)
GPU_MONTHLY = ("gpu_hours", *lineage.GPU_ROLLUPS, lineage.TELEMETRY_MONTHLY)


def _values(part: str) -> dict[str, str]:
    return dict(zip(lineage.PART, part.split(lineage.SEP), strict=True))
