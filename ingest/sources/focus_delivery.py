"""Which files of a FOCUS target are read, whatever layout the provider delivered them in.

- AWS Data Exports (FOCUS 1.2 with AWS columns): each billing period is the files of its
  newest manifest (ingest/sources/data_exports.py).
- Azure Cost Management FocusCost export runs (`<export>/<YYYYMMDD-YYYYMMDD>/<runId>/` with a
  manifest.json): each export and date range is its newest complete run, planned by
  ingest/sources/azure_runs.py exactly as `finops ingest azure` plans it. Cost-details runs
  (ActualCost, AmortizedCost) are not FOCUS and are refused.
- Anything else: every data file.

A folder may gather several layouts (one provider per subfolder); each keeps its rule. What a
layout leaves unread is reported as Skipped. Listing only: nothing here reads a data file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.sources import azure_runs, data_exports
from ingest.sources.delivery import Skipped
from ingest.sources.detect import is_data_file
from models.errors import InputError

Display = Callable[[Path], str]


@dataclass
class Listed:
    """The files to read, the delivered files left unread, and the Azure run of each file."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    runs: dict[str, azure_runs.Run] = field(default_factory=dict)  # display(file) -> its run


def list_files(target: Path, display: Display) -> Listed:
    """The FOCUS files to read under `target` (a file or a folder)."""
    if not target.exists():
        raise InputError("no such file or folder", file=display(target))
    if target.is_file():
        if target.name.endswith("Manifest.json"):
            layout = data_exports.read_manifest_target(target, display)
            return Listed([f for d in layout.deliveries for f in d.files])
        if target.name == azure_runs.MANIFEST:  # one run: its folder
            return _export_runs(target.parent, [target.parent], display)
        return Listed([target])
    listed = Listed()
    run_folders: list[Path] = []

    def walk(folder: Path, in_cur: bool = False) -> None:
        in_export = data_exports.period_of(folder)
        if in_export is not None or data_exports.is_export(folder):
            root, only = in_export or (folder, None)
            layout = data_exports.read_export(root, display, only)
            listed.files.extend(f for d in layout.deliveries for f in d.files)
            listed.skipped.extend(layout.skipped)
            return
        if not in_cur and azure_runs.holds_runs(folder):
            in_cur = _is_legacy_cur(folder)
            if not in_cur:
                run_folders.append(folder)
                return
        for p in sorted(folder.iterdir()):
            if p.name.startswith((".", "_")):
                continue
            if p.is_dir():
                walk(p, in_cur)
            elif p.is_file() and is_data_file(p):
                listed.files.append(p)

    walk(target)
    if run_folders:
        runs = _export_runs(target, run_folders, display)
        listed.files.extend(runs.files)
        listed.skipped.extend(runs.skipped)
        listed.runs.update(runs.runs)
    if not listed.files and not listed.skipped:
        raise InputError(
            "no FOCUS files found", file=display(target), expected="CSV, CSV.gz or Parquet files"
        )
    return listed


def _is_legacy_cur(folder: Path) -> bool:
    """AWS's legacy CUR has the shape of Azure export runs (<report>/<YYYYMMDD-YYYYMMDD>/
    <assemblyId>/) but `<report>-Manifest.json` manifests beside the assemblies: it is left to
    the plain listing, which says it is not FOCUS."""
    names = {p.name for p in folder.rglob("*.json") if p.is_file()}
    if azure_runs.DATES.match(folder.parent.name):  # an assembly folder itself
        names |= {p.name for p in folder.parent.glob("*.json") if p.is_file()}
    return azure_runs.MANIFEST not in names and any(n.endswith("-Manifest.json") for n in names)


def _export_runs(root: Path, folders: list[Path], display: Display) -> Listed:
    """The newest complete run of each export and date range in `folders` (all under `root`).

    One plan for all of them, so two exports covering the same days are refused together.
    """
    listing: azure_runs.Listing = {}
    for folder in folders:
        below = folder.relative_to(root).as_posix()
        for name, size in azure_runs.local_listing(folder).items():
            listing[name if below == "." else f"{below}/{name}"] = size
    plan = azure_runs.plan(root, display(root), listing)
    listed = Listed(skipped=list(plan.skipped))
    for run in plan.runs.values():
        _refuse_other_than_focus(run)
        listed.files.extend(run.files)
        listed.runs.update({display(f): run for f in run.files})
    return listed


def _refuse_other_than_focus(run: azure_runs.Run) -> None:
    assert run.manifest is not None, "the plan keeps complete runs only"
    if run.manifest.view == "focus":
        return
    cost_details = run.manifest.view in ("actual", "amortized")
    raise InputError(
        "Azure cost-details export runs are not FOCUS"
        if cost_details
        else f"export type {run.manifest.export_type} is not FOCUS cost data",
        file=f"{run.display}/{azure_runs.MANIFEST}",
        location="exportConfig.type",
        expected="FocusCost export runs",
        found=f"{run.manifest.export_type} export {run.export}",
        hint="use `finops ingest azure PATH`, which reads ActualCost and AmortizedCost runs"
        if cost_details
        else "point at the folder of a FocusCost export",
    )
