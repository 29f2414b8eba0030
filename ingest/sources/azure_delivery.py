"""An Azure export folder, in whichever layout it came, read into PeriodLoads once.

A local folder, or a storage container's prefix (`read_container`). Two layouts: export runs
with manifests (ingest/sources/azure_runs.py: the newest complete run of each export and date range
is read, the rest reported as skipped) and plain files (a file, a folder of files, `actual/`
+ `amortized/` folders: every file is read). Cost-details files go to ingest/sources/azure.py,
Azure's FOCUS export (FocusCost) to ingest/sources/focus.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from ingest.sources import azure, focus
from ingest.sources import azure_runs as runs
from ingest.sources.azure_blob import Container, inside, no_exports
from ingest.sources.azure_export import ExportFile, discover, is_focus_export
from ingest.sources.delivery import Loads, Skipped
from ingest.warehouse.load_contract import PeriodLoad
from models.errors import InputError


def read(root: Path, label: str, work: Path, shown: str | None = None) -> Loads:
    """Every period under `root`; `shown` names the root in messages, `label` the batch.

    The loads' lines read staging files in `work`, which must outlive the store's load.
    """
    shown = shown or label
    if runs.is_run_layout(root):
        plan = runs.plan(root, shown)
        return _of_runs(plan, label, work)
    exports = discover(root, shown)
    if is_focus_export(exports):
        by_path = {e.path: e.display for e in exports}
        return Loads(focus.read(root, work, lambda p: by_path.get(p, str(p))))
    return Loads(azure.period_loads(exports, label, work))


def read_container(container: Container, label: str, work: Path) -> Loads:
    """A storage container's export prefix: list it, fetch only what will be read, read it.

    For export runs, the manifests are fetched first, the plan picks one run per export and
    date range from the listing (names and sizes), and only those runs' files are fetched:
    older runs, kept forever with overwrite off, are never downloaded.
    """
    target = container.target
    listing = container.listing()
    if not listing:
        raise no_exports(target)
    # mirror the prefix, so a prefix that names a run or date-range folder reads as one
    prefix = target.prefix.strip("/")
    root = inside(work / "blobs", prefix, target) if prefix else work / "blobs"
    root.mkdir(parents=True)
    if not runs.is_run_layout(root, listing):
        container.fetch(list(listing), root)
        return read(root, label, work, target.uri)
    container.fetch([n for n in listing if PurePosixPath(n).name == runs.MANIFEST], root)
    plan = runs.plan(root, target.uri, listing)
    container.fetch([n for run in plan.runs.values() for n in run.names], root)
    return _of_runs(plan, label, work)


def _of_runs(plan: runs.Plan, label: str, work: Path) -> Loads:
    """The chosen runs read, with what was skipped, and each newest run that held no charge
    rows said so: nothing replaces what an earlier run stored for its days, and a summary that
    said only "nothing to load" would pass the older figures off as the newest delivery's."""
    chosen = list(plan.runs.values())
    loads = read_runs(chosen, label, work)
    # A run's month is read when some load covers it: an amortized run is read together
    # with its actual-cost run, into the actual run's load (which names only those files).
    months = {load.billing_period for load in loads}
    empty = [
        Skipped(
            f"the newest run {run.run_id} of export {run.export} for {run.dates} holds no "
            "charge rows; what an earlier load stored for these days is kept, unchanged",
            tuple(run.shown(p) for p in run.files),
        )
        for run in chosen
        if f"{run.dates[:4]}-{run.dates[4:6]}" not in months
    ]
    return Loads(loads, plan.skipped + empty)


def read_runs(chosen: list[runs.Run], label: str, work: Path) -> list[PeriodLoad]:
    """The PeriodLoads of the given complete runs; refuses two runs of one export in a period."""
    owner: dict[str, runs.Run] = {}
    paths: list[tuple[Path, str, str]] = []  # (file, what messages call it, view)
    for run in chosen:
        assert run.manifest is not None, "only complete runs are read"
        view = run.manifest.view
        if view == "other":
            raise InputError(
                f"export type {run.manifest.export_type} is not cost data",
                file=f"{run.display}/{runs.MANIFEST}",
                location="exportConfig.type",
                expected="ActualCost, AmortizedCost or FocusCost",
                found=run.manifest.export_type,
                hint="point at the folder of a cost export",
            )
        for path in run.files:
            owner[run.shown(path)] = run
            paths.append((path, run.shown(path), view))
    if all(view == "focus" for _, _, view in paths):  # the plan never mixes FOCUS in
        loads = _read_focus(paths, work)
    else:
        exports = [ExportFile(path, shown, view) for path, shown, view in paths]
        loads = azure.period_loads(exports, label, work)
    runs.one_run_per_period(loads, owner, label)
    return loads


def _read_focus(paths: list[tuple[Path, str, str]], work: Path) -> list[PeriodLoad]:
    """The FOCUS reader lists a folder: give it one holding only the chosen runs' files."""
    base = work / "focus-runs"
    shown_of: dict[Path, str] = {}
    for i, (path, shown, _) in enumerate(paths):
        link = base / f"{i:05d}" / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(path.resolve(), link)
        except OSError:  # a file system without symbolic links
            shutil.copyfile(path, link)
        shown_of[link] = shown
    return focus.read(base, work, lambda p: shown_of.get(p, str(p)))
