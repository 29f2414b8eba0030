"""Where a CUR's files are: listing (never reading) the layouts AWS delivers a CUR in.

A file; a legacy CUR manifest (`reportKeys`) or a period folder holding one; a folder of
period folders; or an AWS Data Exports folder, read by its newest manifests (data_exports.py).
Each billing period found becomes a Period (its label and files); older deliveries a Data
Export keeps are reported as Skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.sources import data_exports
from ingest.sources.delivery import Skipped, once
from ingest.sources.detect import is_data_file
from models.errors import InputError

Display = Callable[[Path], str]


@dataclass
class Period:
    """The files of one billing period as listed (before anything is read)."""

    label: str
    files: list[Path]


def _is_manifest(path: Path) -> bool:
    return path.name.endswith("Manifest.json") or path.name == "manifest.json"


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_data_file(p))


def _manifest_doc(manifest: Path, display: Display) -> dict:
    expected = 'JSON with "reportKeys" (legacy CUR) or "dataFiles" (Data Exports)'
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        found = "bytes that are not UTF-8 text"
    except ValueError as exc:
        found = f"text that is not JSON ({exc})"
    else:
        if isinstance(doc, dict) and ("reportKeys" in doc or data_exports.is_manifest_doc(doc)):
            return doc
        if isinstance(doc, dict):
            found = "a JSON object with keys " + (", ".join(sorted(map(str, doc))[:8]) or "none")
        else:
            found = f"JSON {type(doc).__name__}"
    raise InputError("not a CUR manifest", file=display(manifest), expected=expected, found=found)


def _manifest_files(manifest: Path, display: Display) -> list[Path]:
    """Data files named by a legacy CUR manifest (`reportKeys`, S3 keys) found beside it."""
    doc = _manifest_doc(manifest, display)
    keys = doc["reportKeys"]
    if not isinstance(keys, list):
        raise InputError(
            "not a CUR manifest",
            file=display(manifest),
            location="field reportKeys",
            expected="a list of S3 keys",
            found=json.dumps(keys)[:80],
        )
    keys = [str(k) for k in keys]
    files = []
    for key in keys:
        parts = key.strip("/").split("/")
        hit = None
        for n in range(len(parts), 0, -1):  # longest key suffix that exists under the folder
            candidate = manifest.parent.joinpath(*parts[-n:])
            if candidate.is_file():
                hit = candidate
                break
        if hit is None:
            matches = [p for p in manifest.parent.rglob(parts[-1]) if p.is_file()]
            hit = matches[0] if len(matches) == 1 else None
        if hit is None:
            raise InputError(
                "a file named by the manifest is missing",
                file=display(manifest),
                expected=key,
                found="no such file beside the manifest",
                hint="download the whole period folder, including its assembly subfolder",
            )
        files.append(hit)
    return once(files)


@dataclass
class Plan:
    """The billing periods to read, and the delivered files left unread (older deliveries)."""

    periods: list[Period]
    skipped: list[Skipped]


def survey(target: Path, display: Display = str) -> Plan:
    """The billing periods under `target`, each a list of files; raises if there are none.

    A Data Exports folder (an export, a prefix holding several, or one BILLING_PERIOD=
    folder of one) is read by its newest manifests; anything else as CUR files, legacy
    manifests or period folders.
    """
    if not target.exists():
        raise InputError("no such file or folder", file=display(target))
    if target.is_file():
        if not _is_manifest(target):
            return Plan([Period(display(target), [target])], [])
        if data_exports.is_manifest_doc(_manifest_doc(target, display)):
            return _of_layout(data_exports.read_manifest_target(target, display))
        return Plan([Period(display(target), _manifest_files(target, display))], [])
    periods: list[Period] = []
    skipped: list[Skipped] = []

    def walk(folder: Path) -> None:
        in_export = data_exports.period_of(folder)
        if in_export is not None or data_exports.is_export(folder):
            root, only = in_export or (folder, None)
            found = _of_layout(data_exports.read_export(root, display, only))
            periods.extend(found.periods)
            skipped.extend(found.skipped)
            return
        manifests = sorted(p for p in folder.iterdir() if p.is_file() and _is_manifest(p))
        if manifests:
            files = once(f for m in manifests for f in _manifest_files(m, display))
            periods.append(Period(display(folder), files))
            named = set(files)
            older = [p for p in sorted(folder.rglob("*")) if p.is_file() and is_data_file(p)]
            older = [p for p in older if p not in named]
            if older:  # assemblies of earlier refreshes, kept beside the current one
                why = f"older CUR assembly in {display(folder)}, not in {manifests[-1].name}"
                skipped.append(Skipped(why, tuple(display(p) for p in older)))
            return
        data = _data_files(folder)
        if data:
            periods.append(Period(display(folder), data))
            return
        _refuse_unmanifested_executions(folder, display)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not sub.name.startswith((".", "_")):
                walk(sub)

    walk(target)
    if not periods and not skipped:
        raise InputError(
            "no billing export files found",
            file=display(target),
            expected="CUR files (CSV, CSV.gz, Parquet) or a manifest, or period subfolders",
            found="an empty folder",
        )
    return Plan(periods, skipped)


def _refuse_unmanifested_executions(folder: Path, display: Display) -> None:
    """A Data Exports month copied without its export's metadata/: with the "create new file"
    preference each delivery is an execution folder, and only the manifest says which one is
    the month; reading them all would count it several times."""
    if not folder.name.startswith(data_exports.PERIOD_PREFIX):
        return
    executions = [
        sub.name
        for sub in sorted(p for p in folder.iterdir() if p.is_dir())
        if any(is_data_file(f) for f in sub.rglob("*") if f.is_file())
    ]
    if len(executions) > 1:
        raise InputError(
            "several deliveries of one month and no manifest to say which is the month",
            file=display(folder),
            expected=f"<export>/{data_exports.DATA}/ beside <export>/{data_exports.METADATA}/, "
            "whose manifest names the month's files",
            found=f"{len(executions)} execution folders ({', '.join(executions[:3])}) and no "
            f"{data_exports.METADATA}/ folder",
            hint=f"download the export's {data_exports.METADATA}/ folder too and point at the "
            "export, or point at one execution folder",
        )


def _of_layout(layout: data_exports.Layout) -> Plan:
    return Plan([Period(d.label, d.files) for d in layout.deliveries], layout.skipped)


def plan(target: Path, display: Display = str) -> list[Period]:
    """The billing periods under `target` (see `survey`, which also says what it skipped)."""
    return survey(target, display).periods
