"""One ingest pipeline for every source: read -> stage -> validate -> reconcile -> commit ->
refresh derived data -> results for the summary.

A reader only reads: it returns a load package (ingest/warehouse/load_contract.py) — the PeriodLoads
of the periods it found (their files, frames and source totals), an HourlyLoad or an
AssetsLoad — and the writer (ingest/warehouse/store.py) stages, validates, reconciles and commits
them. This is the one place where a failure is recorded in `load_errors` and the one place
derived data is refreshed after an ingest, whatever the source.

Adding a source: write a reader module whose `open_export(...)` (or any function) yields its
PeriodLoads, and a command that calls `run` with it (dashboard/cli/ingest.py does this
for the cost-line sources).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingest.derive import refresh as derived
from ingest.sources.delivery import Skipped, skipped_of
from ingest.sources.input_path import os_error
from ingest.warehouse import commit_race
from ingest.warehouse.load_contract import (
    AssetsLoad,
    HourlyLoad,
    LoadResult,
    PeriodLoad,
    Progress,
    RunsLoad,
    ServingLoad,
)
from ingest.warehouse.store import Store
from models.settings import Settings
from models.urls import redact

# What a reader yields: cost lines by period, GPU-hours, an inventory's servers (any mix).
Package = Iterable[PeriodLoad | HourlyLoad | ServingLoad | AssetsLoad | RunsLoad]
Reader = Callable[[], contextlib.AbstractContextManager[Package]]


@dataclass
class Outcome:
    """What an ingest did, for its summary."""

    results: list[LoadResult]
    skipped: list[Skipped] = field(default_factory=list)  # deliveries left unread, and why

    def of(self, dataset: str) -> list[LoadResult]:
        return [r for r in self.results if r.dataset == dataset]


def run(
    store: Store,
    settings: Settings,
    source: str,
    target: str,
    read: Reader,
    *,
    dataset: str = "cost_lines",
    progress: Progress | None = None,
    allow_shrink: bool = False,
) -> Outcome:
    """Ingest what `read()` yields (a context manager: it may download files first and clean
    up after) into `store`, then refresh derived data — even when nothing changed, which is
    when stale derived data left by an earlier kill is repaired.

    Cost lines are committed all or nothing (ingest/warehouse/cost_line_load.py), then GPU-hours,
    then assets. A FinopsError is recorded once in `load_errors` under `dataset`, `source` and the
    redacted `target`, and re-raised; an OSError becomes one message (ingest/sources/input_path.py)
    and a bug is recorded too before the command line's boundary shows it; nothing else is written.
    """
    target = redact(target)  # shown on the terminal and kept in load_errors
    try:
        with read() as package, contextlib.ExitStack() as staged:
            items = list(package)
            outcome = Outcome([], skipped_of(package))
            periods = [i for i in items if isinstance(i, PeriodLoad)]
            if settings.engine.name == "spark" and periods:  # the files normalised on Spark
                from ingest.engines import spark_sources

                periods = staged.enter_context(
                    spark_sources.normalised(settings.engine, periods, store.staging_dir())
                )
            if periods or dataset == "cost_lines":
                outcome.results += store.load_cost_lines(
                    periods,
                    progress,
                    allow_shrink=allow_shrink,
                    max_shrink=settings.warehouse.max_shrink,
                )
            for item in items:
                if isinstance(item, HourlyLoad):
                    outcome.results += store.load_gpu_util(item)
            for item in items:
                if isinstance(item, ServingLoad):
                    outcome.results += store.load_serving_usage(item)
            for item in items:
                if isinstance(item, AssetsLoad):
                    outcome.results.append(store.load_assets(item))
            for item in items:
                if isinstance(item, RunsLoad) and (runs := store.load_training_runs(item)):
                    outcome.results.append(runs)
    except Exception as exc:  # kept for the Data health page, then shown by the command line
        error = os_error(exc, warehouse=store.root) if isinstance(exc, OSError) else exc
        store.record_error(dataset, source, target, error)
        if error is exc:  # a FinopsError, or a bug the command line's boundary shows
            raise
        raise error from None  # a file we may not read, a warehouse we may not write
    # on object storage another writer's refresh may win a commit: rebuilt again, not failed
    commit_race.retried(lambda: derived.refresh(store, settings, outcome.results))
    return outcome
