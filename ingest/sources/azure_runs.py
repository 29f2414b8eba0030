"""Cost Management export runs: which files of an export folder make up each month.

Exports write `<root>/<export>/<YYYYMMDD-YYYYMMDD>/<runId>/part_*.csv|.csv.gz|.parquet` and,
last, a `manifest.json` in the run folder naming the run (`runInfo.runId`,
`runInfo.submittedTime`), the export (`exportConfig.exportName`, `.type`, `.resourceId`) and
its files (`blobs[].blobName`, `blobs[].byteCount`). With "overwrite" off every run of a month
stays beside the earlier ones, so a month is the newest COMPLETE run, never the sum of runs.

`plan` lists the runs and keeps exactly one per (export, date range): the newest by
`submittedTime` whose manifest is there and whose files are all present at their listed sizes.
Every other run is reported as Skipped (older, or incomplete) and never read. Reading is in
ingest/sources/azure_delivery.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ingest.sources.delivery import Skipped, once
from ingest.sources.detect import is_data_file
from models.errors import InputError

if TYPE_CHECKING:
    from ingest.warehouse.load_contract import PeriodLoad

MANIFEST = "manifest.json"
DATES = re.compile(r"^(?P<start>\d{8})-(?P<end>\d{8})$")
# exportConfig.type -> the view it holds ("Usage" is the legacy name of actual cost)
VIEWS = {
    "actualcost": "actual",
    "usage": "actual",
    "amortizedcost": "amortized",
    "focuscost": "focus",
}
_EXPORTS = "/providers/microsoft.costmanagement/exports/"


@dataclass(frozen=True)
class Manifest:
    """The fields of a run's manifest.json this reader relies on."""

    export: str
    export_type: str  # as written, e.g. "ActualCost"
    scope: str  # the export's scope, lower-case ("" when the manifest does not say)
    run_id: str
    submitted: datetime
    blobs: tuple[tuple[str, int | None], ...]  # (path below the run folder, byteCount)

    @property
    def view(self) -> str:
        return VIEWS.get(self.export_type.lower(), "other")


@dataclass(frozen=True)
class Run:
    """One run folder of one export and date range, as listed (locally or in a container)."""

    export: str
    dates: str  # YYYYMMDD-YYYYMMDD, the folder name
    run_id: str  # the folder name
    folder: Path  # where its files are (or will be, once fetched) on this machine
    path: str  # the folder relative to the listed root ("" when the root is the run)
    display: str  # what messages call the run folder
    manifest: Manifest | None
    present: dict[str, int]  # data files in the folder: path below the folder -> bytes

    @property
    def key(self) -> tuple[str, str]:
        return (self.export, self.dates)

    @property
    def names(self) -> list[str]:
        """The files to read, relative to the listed root: those the manifest names."""
        assert self.manifest is not None, "only a complete run is read"
        return [f"{self.path}/{rel}" if self.path else rel for rel, _ in self.manifest.blobs]

    @property
    def files(self) -> list[Path]:
        assert self.manifest is not None, "only a complete run is read"
        return [self.folder / rel for rel, _ in self.manifest.blobs]

    def shown(self, path: Path | str) -> str:
        rel = path.relative_to(self.folder).as_posix() if isinstance(path, Path) else path
        return f"{self.display}/{rel}"

    def missing(self) -> str | None:
        """Why the run is incomplete, or None when every listed file is there."""
        if self.manifest is None:
            return f"no {MANIFEST} (the run is still being written, or it failed)"
        if not self.manifest.blobs:
            return f"its {MANIFEST} lists no files"
        absent = [
            rel
            for rel, size in self.manifest.blobs
            if rel not in self.present or (size is not None and self.present[rel] != size)
        ]
        if absent:
            n = len(self.manifest.blobs)
            return f"{len(absent)} of {n} files its {MANIFEST} lists are missing or partial"
        return None


@dataclass
class Plan:
    """Exactly one run per (export, date range), and the runs left unread."""

    runs: dict[tuple[str, str], Run] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


Listing = dict[str, int]  # file path relative to the export root (posix) -> bytes


def local_listing(root: Path) -> Listing:
    """The data files and manifests under a local folder, as a container listing names them."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and (p.name == MANIFEST or is_data_file(p))
    }


def _run_path(name: str, root: Path) -> str | None:
    """The run folder (relative to the root) a listed file belongs to, if any.

    A run folder is the folder below a YYYYMMDD-YYYYMMDD folder; the root itself may be one,
    or a date-range folder, or any folder above.
    """
    lead = (root.parent.name, root.name)
    parts = PurePosixPath(name).parts
    full = (*lead, *parts)
    for j in range(1, len(full) - 1):
        if DATES.match(full[j - 1]):
            return "/".join(parts[: j + 1 - len(lead)])
    return None


def is_run_layout(root: Path, listing: Listing | None = None) -> bool:
    """True when `root` holds export runs (a manifest.json, or <dates>/<runId>/ folders)."""
    listing = local_listing(root) if listing is None else listing
    return any(PurePosixPath(n).name == MANIFEST or _run_path(n, root) is not None for n in listing)


def holds_runs(folder: Path) -> bool:
    """`folder` is an export's folder, one of its date ranges or one of its runs.

    For a reader walking a tree that may hold other layouts too: the folders above an
    export are not runs' (is_run_layout answers for a whole tree).
    """
    if (folder / MANIFEST).is_file() or DATES.match(folder.name) or DATES.match(folder.parent.name):
        return True
    return any(DATES.match(p.name) and p.is_dir() for p in folder.iterdir())


def find_runs(root: Path, display: str, listing: Listing | None = None) -> list[Run]:
    """Every run folder in the listing, sorted by path; manifests are read from `root`."""
    listing = local_listing(root) if listing is None else listing
    folders: dict[str, dict[str, int]] = {}
    for name, size in listing.items():
        run = _run_path(name, root)
        if run is None:
            continue
        files = folders.setdefault(run, {})
        rel = name[len(run) :].lstrip("/")
        if rel != MANIFEST:
            files[rel] = size
    base = display.rstrip("/")
    runs = []
    for path, files in sorted(folders.items()):
        folder = root / path if path else root
        shown = f"{base}/{path}" if path else base
        manifest_path = folder / MANIFEST
        manifest = (
            read_manifest(manifest_path, f"{shown}/{MANIFEST}", folder.name)
            if manifest_path.is_file()
            else None
        )
        export = manifest.export if manifest else folder.parent.parent.name
        runs.append(
            Run(export, folder.parent.name, folder.name, folder, path, shown, manifest, files)
        )
    return runs


def plan(root: Path, display: str, listing: Listing | None = None) -> Plan:
    """The newest complete run of each (export, date range); the others as Skipped.

    `listing` says which files exist and their sizes (a container's listing, before its
    data files are fetched); by default the files under `root`. Manifests are read from root.
    """
    listing = local_listing(root) if listing is None else listing
    runs = find_runs(root, display, listing)
    out = Plan()
    incomplete: list[tuple[Run, str]] = []
    by_key: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        why = run.missing()
        if why is None:
            by_key.setdefault(run.key, []).append(run)
        else:
            incomplete.append((run, why))
    for key, group in sorted(by_key.items()):
        group.sort(key=lambda r: (r.manifest.submitted, r.run_id))  # type: ignore[union-attr]
        newest = group[-1]
        out.runs[key] = newest
        for old in reversed(group[:-1]):
            out.skipped.append(
                Skipped(
                    f"older run {old.run_id} of export {old.export} for {old.dates} "
                    f"(submitted {_when(old)}; the newest run {newest.run_id} was read)",
                    tuple(old.shown(p) for p in old.present),
                )
            )
    for run, why in incomplete:
        out.skipped.append(
            Skipped(
                f"incomplete run {run.run_id} of export {run.export} for {run.dates}: {why}",
                tuple(run.shown(p) for p in run.present),
            )
        )
    stray = [n for n in listing if _run_path(n, root) is None and PurePosixPath(n).name != MANIFEST]
    if stray:
        base = display.rstrip("/")
        out.skipped.append(
            Skipped(
                "not inside an export run folder (<export>/<YYYYMMDD-YYYYMMDD>/<runId>/)",
                tuple(f"{base}/{n}" for n in stray),
            )
        )
    if not out.runs:
        run, why = incomplete[0] if incomplete else (None, "no run folders")
        raise InputError(
            "no complete export run to read",
            file=display,
            location=f"run folder {run.display}" if run else None,
            expected=f"a run folder with its {MANIFEST} and every file the manifest lists",
            found=why,
            hint="Cost Management writes manifest.json last: wait for the run to finish, or "
            "run the export again",
        )
    _refuse_overlaps(list(out.runs.values()), display)
    return out


def one_run_per_period(loads: list[PeriodLoad], owner: dict[str, Run], label: str) -> None:
    """A period's files come from at most one run of each export, or nothing is loaded.

    The plan keeps one run per export and date range; this holds whatever a caller passes,
    so two deliveries of a month can never be summed into one period. `owner` maps a file,
    as the loads name it, to its run.
    """
    for load in loads:
        seen: dict[str, Run] = {}
        for source_file in load.files:
            run = owner.get(source_file.path)
            if run is None:
                continue
            first = seen.setdefault(run.export, run)
            if first.folder != run.folder:
                raise InputError(
                    f"two runs of export {run.export} in one billing period",
                    file=label,
                    location=f"billing account {load.billing_account}, {load.billing_period}",
                    expected="exactly one run of each export per period (the newest complete)",
                    found=f"runs {first.run_id} and {run.run_id}",
                    hint="summing two deliveries of a month would count it twice; read the "
                    "export folder, which picks the newest run",
                )


def _when(run: Run) -> str:
    assert run.manifest is not None
    return run.manifest.submitted.strftime("%Y-%m-%d %H:%M:%SZ")


def _span(run: Run) -> tuple[str, str]:
    match = DATES.match(run.dates)
    assert match is not None
    return match["start"], match["end"]


def _refuse_overlaps(runs: list[Run], display: str) -> None:
    """Two exports of one view and scope covering the same days would be summed: refuse.

    Actual and amortized exports of one scope are two views of the same charges (combined
    line by line, ingest/sources/azure.py), FOCUS is read on its own; but two ActualCost exports of
    one subscription (say a daily and a monthly one) hold the same charges twice.
    """
    views = {r.manifest.view for r in runs if r.manifest}
    if "focus" in views and views - {"focus"}:
        focus = next(r for r in runs if r.manifest and r.manifest.view == "focus")
        other = next(r for r in runs if r.manifest and r.manifest.view != "focus")
        raise InputError(
            "Azure's FOCUS export mixed with cost-details exports",
            file=display,
            location=f"exports {focus.export} (FocusCost) and {other.export} "
            f"({other.manifest.export_type if other.manifest else '?'})",
            expected="FocusCost exports, or ActualCost/AmortizedCost exports, in one folder",
            hint="ingest each kind from its own folder; loading both would count the same "
            "charges twice",
        )
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            ma, mb = a.manifest, b.manifest
            if ma is None or mb is None or (ma.view, ma.scope) != (mb.view, mb.scope):
                continue
            (a0, a1), (b0, b1) = _span(a), _span(b)
            if a0 <= b1 and b0 <= a1:
                scope = ma.scope or "the same scope"
                raise InputError(
                    f"two {ma.export_type} exports cover the same days for {scope}: "
                    f"{a.export} and {b.export}",
                    file=display,
                    location=f"{a.display} and {b.display}",
                    expected=f"one {ma.export_type} export per scope and period",
                    found=f"{a.export} {a.dates} and {b.export} {b.dates}",
                    hint="their charges would be summed twice; point at one export's folder "
                    "or remove the duplicate export",
                )


# ---- manifest.json -----------------------------------------------------------------------


def read_manifest(path: Path, display: str, run_folder: str) -> Manifest:
    """Parse a run's manifest; anything but the documented shape is one InputError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            "the export run's manifest is not JSON",
            file=display,
            expected="the manifest.json Cost Management writes with each run",
            found=str(exc).splitlines()[0],
            hint="the run may have been cut short: run the export again, or delete the run folder",
        ) from None
    if not isinstance(doc, dict):
        raise _bad_field(display, "the manifest", "a JSON object", type(doc).__name__)
    config = _object(doc, "exportConfig", display)
    info = _object(doc, "runInfo", display)
    export = _text(config, "exportConfig.exportName", display)
    resource = str(config.get("resourceId") or "").lower()
    scope = resource.split(_EXPORTS)[0] if _EXPORTS in resource else ""
    submitted_text = _text(info, "runInfo.submittedTime", display)
    try:
        submitted = _timestamp(submitted_text)
    except ValueError:
        raise _bad_field(
            display, "runInfo.submittedTime", "an ISO 8601 time", repr(submitted_text)
        ) from None
    run_id = str(info.get("runId") or run_folder)
    blobs = doc.get("blobs")
    if not isinstance(blobs, list):
        raise _bad_field(display, "blobs", "a list of the run's files", repr(blobs))
    listed = []
    for i, blob in enumerate(blobs):
        name = blob.get("blobName") if isinstance(blob, dict) else None
        if not isinstance(name, str) or not name:
            raise _bad_field(display, f"blobs[{i}].blobName", "a blob name", repr(blob))
        size = blob.get("byteCount")
        listed.append(
            (_below_run(name, run_folder, display), size if isinstance(size, int) else None)
        )
    return Manifest(
        export=export,
        export_type=_text(config, "exportConfig.type", display),
        scope=scope,
        run_id=run_id,
        submitted=submitted,
        blobs=tuple(once(listed)),
    )


def _below_run(name: str, run_folder: str, display: str) -> str:
    """A blob name (the full path in the container) as a path inside its run folder."""
    parts = PurePosixPath(name).parts
    if run_folder in parts:
        rel = parts[len(parts) - parts[::-1].index(run_folder) :]
    elif len(parts) == 1:
        rel = parts
    else:
        rel = ()
    if not rel or any(p in ("..", ".", "") or "\\" in p for p in rel) or name.startswith("/"):
        raise InputError(
            "the manifest names a file outside its run folder",
            file=display,
            location="blobs[].blobName",
            expected=f"a blob under .../{run_folder}/",
            found=repr(name),
            hint="a manifest only names the files of its own run; re-run the export",
        )
    return "/".join(rel)


def _timestamp(text: str) -> datetime:
    # Cost Management writes seven fractional digits ("2024-06-19T04:59:15.8855108Z").
    head, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(head + (f".{frac[:6]}" if frac else ""))
    return stamp.replace(tzinfo=None)


def _object(doc: dict, name: str, display: str) -> dict:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise _bad_field(display, name, "an object", repr(value))
    return value


def _text(doc: dict, name: str, display: str) -> str:
    value = doc.get(name.rsplit(".", 1)[-1])
    if not isinstance(value, str) or not value.strip():
        raise _bad_field(display, name, "a text value", repr(value))
    return value.strip()


def _bad_field(display: str, name: str, expected: str, found: str) -> InputError:
    return InputError(
        f"the export run's manifest lacks {name}",
        file=display,
        location=name,
        expected=expected,
        found=found,
        hint="point at a Cost Management export folder; re-run the export if the manifest "
        "was cut short",
    )
