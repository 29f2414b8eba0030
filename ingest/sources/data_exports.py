"""AWS Data Exports delivery layout (CUR 2.0 and FOCUS 1.2 exports): which files are the month.

An export writes its data under `<export>/data/BILLING_PERIOD=YYYY-MM/` (with the "create new
file" preference each refresh adds an `<executionId>/` folder and the older ones stay) and,
after the data, `<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` naming the
delivery's files as `s3://` URIs in `dataFiles`. A billing period is exactly the files of its
newest manifest; every other data file of the period is an older (or unfinished) delivery,
reported as skipped and never read.

"Newest": AWS overwrites the one manifest of a period on every refresh, so there is normally
one. Where a copy holds several (one per execution, in subfolders), the newest is the one
whose object was written last — S3's LastModified, kept as the file's mtime by the download —
and, at equal times, the last by path. The manifest itself carries no delivery time.

Listing only: nothing here reads a data file.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.sources.delivery import Skipped, once
from ingest.sources.detect import is_data_file
from models.errors import InputError

PERIOD_PREFIX = "BILLING_PERIOD="
DATA, METADATA = "data", "metadata"
Display = Callable[[Path], str]


@dataclass(frozen=True)
class Manifest:
    path: Path
    execution_id: str
    data_files: tuple[str, ...]  # s3:// URIs as the manifest names them


@dataclass(frozen=True)
class Delivery:
    """The files of one billing period of one export, as its newest manifest names them."""

    label: str  # the period's data folder, as shown to the user
    period: str  # YYYY-MM
    files: list[Path]


@dataclass
class Layout:
    deliveries: list[Delivery]
    skipped: list[Skipped]


# ---- recognising the layout -----------------------------------------------------------------


def _periods_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PERIOD_PREFIX))


def is_export(folder: Path) -> bool:
    """`folder` is an export root: its metadata/ holds BILLING_PERIOD= folders."""
    return bool(_periods_in(folder / METADATA))


def period_of(folder: Path) -> tuple[Path, str] | None:
    """(export root, YYYY-MM) when `folder` is one BILLING_PERIOD= folder of an export."""
    if not folder.name.startswith(PERIOD_PREFIX) or folder.parent.name not in (DATA, METADATA):
        return None
    root = folder.parent.parent
    return (root, folder.name[len(PERIOD_PREFIX) :]) if is_export(root) else None


def is_manifest_doc(doc: object) -> bool:
    """A parsed JSON document that is a Data Exports manifest (not a legacy CUR one)."""
    return isinstance(doc, dict) and "dataFiles" in doc and "reportKeys" not in doc


# ---- manifests ------------------------------------------------------------------------------


def _found(doc: object) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
        return f"a JSON object with keys {keys}"
    return f"JSON {type(doc).__name__}"


def read_manifest(path: Path, display: Display) -> Manifest:
    """The manifest's execution and data files; one clear InputError when it is not one."""
    expected = 'a Data Exports manifest: JSON with "executionId" and a "dataFiles" list'
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(
            "not a Data Exports manifest",
            file=display(path),
            expected=expected,
            found="bytes that are not UTF-8 text",
            hint="download the manifest again; AWS writes it after the data files",
        ) from None
    except ValueError as exc:
        raise InputError(
            "not a Data Exports manifest",
            file=display(path),
            expected=expected,
            found=f"text that is not JSON ({exc})",
            hint="download the manifest again; AWS writes it after the data files",
        ) from None
    files = doc.get("dataFiles") if isinstance(doc, dict) else None
    execution = doc.get("executionId") if isinstance(doc, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError(
            "not a Data Exports manifest",
            file=display(path),
            location="field dataFiles",
            expected=expected,
            found=_found(doc) if files is None else f"dataFiles = {json.dumps(files)[:80]}",
        )
    if not isinstance(execution, str) or not execution:
        raise InputError(
            "not a Data Exports manifest",
            file=display(path),
            location="field executionId",
            expected=expected,
            found=_found(doc) if execution is None else f"executionId = {execution!r}",
        )
    return Manifest(path, execution, tuple(files))


def _newest(manifests: list[Path], root: Path) -> Path:
    return max(manifests, key=lambda p: (p.stat().st_mtime_ns, p.relative_to(root).as_posix()))


def _key_below_export(uri: str, root: Path, display: Display) -> str | None:
    """The part of a `dataFiles` URI below `<export>/data/`, or None if it is not in the export.

    On S3 the export's own key is known and the object's key must sit under it (the bucket
    may differ: a replicated bucket keeps the keys). A local copy knows only the export's
    name: the key must run `.../<export>/data/...`.
    Keys with `.` or `..` segments are never resolved.
    """
    if not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[len("s3://") :].partition("/")
    parts = key.split("/")
    if not bucket or not key or any(p in ("", ".", "..") for p in parts):
        return None
    if posixpath.normpath(key) != key:
        return None
    export_uri = display(root).rstrip("/")
    if export_uri.startswith("s3://"):  # a replica in another bucket keeps the keys
        base = export_uri[len("s3://") :].partition("/")[2] + f"/{DATA}/"
        return key[len(base) :] if key.startswith(base) else None
    for i in range(len(parts) - 2, 0, -1):  # the last `<export>/data/` pair in the key
        if parts[i - 1] == root.name and parts[i] == DATA:
            return "/".join(parts[i + 1 :])
    return None


def _manifest_files(manifest: Manifest, root: Path, period: str, display: Display) -> list[Path]:
    files = []
    for uri in once(manifest.data_files):
        rel = _key_below_export(uri, root, display)
        if rel is None or not rel.startswith(f"{PERIOD_PREFIX}{period}/"):
            raise InputError(
                "the manifest names a file outside its export and billing period",
                file=display(manifest.path),
                expected=f"objects under {display(root)}/{DATA}/{PERIOD_PREFIX}{period}/",
                found=uri,
                hint="a manifest may only name its own export's files; check that the export "
                "folder was not renamed or mixed with another export",
            )
        local = root.joinpath(DATA, *rel.split("/"))
        if not local.is_file():
            raise InputError(
                "a file named by the manifest is missing",
                file=display(manifest.path),
                expected=f"{display(root)}/{DATA}/{rel}",
                found="no such file",
                hint="download or sync the whole export folder (data/ and metadata/) again",
            )
        files.append(local)
    if not files:
        raise InputError(
            "the manifest names no data files",
            file=display(manifest.path),
            expected="at least one entry in dataFiles",
            found="an empty list",
            hint="AWS writes an empty delivery before the first charges; wait for the next one",
        )
    return files


# ---- an export, period by period ------------------------------------------------------------


def _group_skipped(
    files: list[Path], period_dir: Path, reason: str, display: Display
) -> list[Skipped]:
    """Unread files, one note per delivery folder (execution) of the period."""
    by_folder: dict[Path, list[str]] = {}
    for f in files:
        by_folder.setdefault(f.parent, []).append(display(f))
    out = []
    for folder, shown in by_folder.items():
        execution = "" if folder == period_dir else f" (execution {folder.name})"
        out.append(Skipped(reason + execution, tuple(shown)))
    return out


def read_export(root: Path, display: Display, only: str | None = None) -> Layout:
    """Every billing period of the export at `root` (or just `only`, YYYY-MM)."""
    name = display(root).rstrip("/").rsplit("/", 1)[-1]  # a download's folder is not named
    deliveries: list[Delivery] = []
    skipped: list[Skipped] = []
    metas = {p.name[len(PERIOD_PREFIX) :]: p for p in _periods_in(root / METADATA)}
    datas = {p.name[len(PERIOD_PREFIX) :]: p for p in _periods_in(root / DATA)}
    for period in sorted(set(metas) | set(datas)):
        if only is not None and period != only:
            continue
        data_dir = datas.get(period, root / DATA / f"{PERIOD_PREFIX}{period}")
        present = sorted(p for p in data_dir.rglob("*") if p.is_file() and is_data_file(p))
        manifests = sorted(
            p for p in metas[period].rglob("*") if p.is_file() and p.name.endswith("Manifest.json")
        ) if period in metas else []  # fmt: skip
        if not manifests:
            if present:
                why = (
                    f"{name} {PERIOD_PREFIX}{period} has no manifest yet (the delivery is "
                    "incomplete; ingest again once AWS has written metadata/)"
                )
                skipped += _group_skipped(present, data_dir, why, display)
            continue
        parsed = {m: read_manifest(m, display) for m in manifests}
        newest = parsed[_newest(manifests, root)]
        files = _manifest_files(newest, root, period, display)
        deliveries.append(Delivery(display(data_dir), period, files))
        chosen = set(files)
        unnamed = [p for p in present if p not in chosen]
        # a file in the newest execution's own folder that its manifest does not name is a
        # leftover of that execution, not an older delivery
        leftover = [p for p in unnamed if p.parent.name == newest.execution_id]
        older = [p for p in unnamed if p not in leftover]
        if older:
            why = (
                f"older delivery of {name} {PERIOD_PREFIX}{period}, replaced by execution "
                f"{newest.execution_id}"
            )
            skipped += _group_skipped(older, data_dir, why, display)
        if leftover:
            why = (
                f"not in the manifest of {name} {PERIOD_PREFIX}{period} (a leftover beside "
                f"the files of execution {newest.execution_id})"
            )
            skipped.append(Skipped(why, tuple(display(p) for p in leftover)))
    return Layout(deliveries, skipped)


def read_manifest_target(path: Path, display: Display) -> Layout:
    """A Data Exports manifest given as the target: exactly the files it names."""
    meta_period = next((p for p in path.parents if p.name.startswith(PERIOD_PREFIX)), None)
    found = period_of(meta_period) if meta_period is not None else None
    if found is None:
        raise InputError(
            "a Data Exports manifest outside its export folder",
            file=display(path),
            expected=f"<export>/{METADATA}/{PERIOD_PREFIX}YYYY-MM/<export>-Manifest.json "
            f"beside <export>/{DATA}/",
            found="no export folder around it",
            hint="point the command at the export folder instead",
        )
    root, period = found
    manifest = read_manifest(path, display)
    files = _manifest_files(manifest, root, period, display)
    label = display(root / DATA / f"{PERIOD_PREFIX}{period}")
    return Layout([Delivery(label, period, files)], [])
