"""Datasets derived from what was loaded (classification, GPU-hours), refreshed after a load.

`refresh` is called by every ingest command once its loads are committed, with the results,
even when nothing changed: it re-classifies the cost_lines partitions the loads committed and
every partition `lineage.stale()` finds out of date (a refresh killed, a disk that filled up),
then rebuilds gpu_hours for those months and the months stale themselves, then idle_episodes,
then the rollups of the re-classified partitions and of those stale themselves.
A warehouse whose derived data matches its sources costs a read of the Delta logs.
"""

from __future__ import annotations

from ingest.derive import lineage
from ingest.warehouse.cost_line_load import safe_part
from ingest.warehouse.load_contract import LoadResult
from ingest.warehouse.pause import pause_point
from ingest.warehouse.store import Store
from models.settings import Settings


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
    months = {r.billing_period for r in committed if r.dataset in ("cost_lines", "gpu_util")}
    if not committed and not lineage.stale(store, settings):
        return []  # the common re-ingest of unchanged files: logs read, no lock taken
    with store.writer():
        found = lineage.stale(store, settings)
        _rebuild(store, settings, parts, months, found)
    return found


def _rebuild(
    store: Store, settings: Settings, parts: set[str], months: set[str], found: list[lineage.Stale]
) -> None:
    """Rebuild the `parts`/`months` and what `found` names; a table that recorded nothing is
    rebuilt whole (None), so that from now on it records every part. The caller holds the
    writer lock."""
    from ingest.derive import classified

    def named(dataset: str) -> set[str] | None:
        mine = [s for s in found if s.dataset == dataset]
        if any(not s.recorded for s in mine):
            return None
        return {s.part for s in mine}

    stale_parts = named("line_classes")
    want_parts = None if stale_parts is None else parts | stale_parts
    stale_months = named("gpu_hours")
    for name in (*lineage.GPU_ROLLUPS, lineage.TELEMETRY_MONTHLY):  # rebuilt with gpu_hours
        lagging = named(name)
        stale_months = None if stale_months is None or lagging is None else stale_months | lagging
    if want_parts is None or stale_months is None:
        want_months = None
    else:  # re-classified lines change their month's GPU-hours
        want_months = months | stale_months | {p.rsplit(lineage.SEP, 1)[-1] for p in want_parts}
    episodes = any(s.dataset == "idle_episodes" for s in found)
    if want_parts is None or want_parts:
        book = classified.rulebook(settings)
        wanted = None if want_parts is None else [_values(p) for p in sorted(want_parts)]
        classified.refresh_partitions(store, book, wanted)
    if want_months is None or want_months:
        classified.refresh_gpu_hours(
            store, settings, None if want_months is None else sorted(want_months)
        )
    elif episodes:
        classified.refresh_episodes(store, settings)
    _rebuild_rollups(store, want_parts, found)


def _rebuild_rollups(store: Store, classified: set[str] | None, found: list[lineage.Stale]) -> None:
    """The rollups of the partitions just classified and of those found stale (all when
    classification ran whole or a rollup recorded nothing)."""
    from ingest.derive import rollups
    from models.rollups import ROLLUPS

    mine = [s for s in found if s.dataset in {t.name for t in ROLLUPS}]
    if classified is None or any(not s.recorded for s in mine):
        rollups.refresh(store, None)
    elif classified or mine:
        rollups.refresh(store, classified | {s.part for s in mine})


def _values(part: str) -> dict[str, str]:
    return dict(zip(lineage.PART, part.split(lineage.SEP), strict=True))
