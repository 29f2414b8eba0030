"""One Delta table's own health: its log (commits readable and without gaps, checkpoint
readable) and the data files of its current version. Each problem comes with what to do.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from ingest.warehouse.location import open_delta
from models.alerts import ALERT_STATE
from models.rollups import ROLLUPS

BASE_TABLES = (
    "cost_lines", "gpu_util", "assets", "training_runs", "loads", "load_errors", "serving_usage"
)  # fmt: skip
# Rebuilt from the base tables (`finops classify`); "classifications" is their older name.
DERIVED_TABLES = (
    "classifications", "line_classes", "class_keys", "gpu_hours", "idle_episodes",
    "gpu_buckets", "gpu_demand", "gpu_owned_days", "telemetry_monthly",  # GPU rollups
    "unit_costs", "api_usage_parts",
    *(t.name for t in ROLLUPS),
)  # fmt: skip
# What `finops watch` has fired and delivered: neither exported data nor rebuilt from it.
WATCH_TABLES = (ALERT_STATE.name,)
TABLES = BASE_TABLES + DERIVED_TABLES + WATCH_TABLES

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d+\.\d+)?\.parquet$")
REBUILD = "delete the {table} folder and run `finops classify` (derived data is rebuilt)"
NO_BACKUP = "without a backup, ingest every export again into a new warehouse"
# Losing the watch's record costs repeats, never data: open alerts go out once more.
RESTART_WATCH = (
    "restore {what} from a backup; without one, delete the {table} folder: the next "
    "`finops watch` sends every alert that still holds once more (under its same alert id) "
    "and the Alerts page forgets the earlier ones"
)


@dataclass(frozen=True)
class Problem:
    table: str
    problem: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


def log_name(table: str, version: int) -> str:
    return f"{table}/_delta_log/{version:020d}.json"


def restore_hint(table: str, what: str) -> str:
    if table in DERIVED_TABLES:
        return REBUILD.format(table=table)
    if table in WATCH_TABLES:
        return RESTART_WATCH.format(table=table, what=what)
    return f"restore {what} from a backup; {NO_BACKUP}"


def has_data_files(folder: Path) -> bool:
    return any(p for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts)


def _json_problem(path: Path) -> str | None:
    """Why a commit file is not a Delta commit (None: it reads as one)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not text (byte {exc.start})"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "is empty (its actions are lost)"
    for n, line in enumerate(lines, start=1):
        try:
            action = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"is not valid JSON at line {n} ({exc.msg}): truncated or overwritten"
        if not isinstance(action, dict):
            return f"line {n} is not a Delta action"
    return None


def _checkpoint_problem(paths: list[Path]) -> str | None:
    for path in paths:
        try:
            pq.ParquetFile(path).read()  # not read_table: it imports pandas
        except (OSError, pa.ArrowException) as exc:
            return f"{path.name} cannot be read ({str(exc).splitlines()[0]})"
    return None


def log_problems(root: Path, name: str, deep: bool) -> list[Problem]:
    """The Delta log of one table: present when the table has data, commits readable and
    without gaps, the checkpoint readable. `deep` also reads the commits a checkpoint covers."""
    folder = root / name
    log = folder / "_delta_log"
    if not log.is_dir():
        if folder.is_dir() and has_data_files(folder):
            return [
                Problem(
                    name,
                    "has data files but no _delta_log: its history is gone, so it would read "
                    "as empty and every data file would look unused",
                    restore_hint(name, f"{name}/_delta_log"),
                )
            ]
        return []
    commits: dict[int, Path] = {}
    checkpoints: dict[int, list[Path]] = {}
    for entry in log.iterdir():
        if m := _COMMIT.match(entry.name):
            commits[int(m.group(1))] = entry
        elif m := _CHECKPOINT.match(entry.name):
            checkpoints.setdefault(int(m.group(1)), []).append(entry)
    if not commits and not checkpoints:
        return [
            Problem(
                name, "its _delta_log holds no commit", restore_hint(name, f"{name}/_delta_log")
            )
        ]
    problems: list[Problem] = []
    hint = log / "_last_checkpoint"
    if hint.exists():
        try:
            json.loads(hint.read_text(encoding="utf-8").splitlines()[0])
        except (ValueError, IndexError, UnicodeDecodeError):
            problems.append(
                Problem(
                    name,
                    "_delta_log/_last_checkpoint is not valid JSON",
                    f"delete {name}/_delta_log/_last_checkpoint (Delta finds the checkpoint "
                    "without it)",
                )
            )
    base = max(checkpoints, default=-1)
    for version in sorted(checkpoints, reverse=True):
        if not deep and version != base:
            continue
        why = _checkpoint_problem(checkpoints[version])
        if why is None:
            continue
        files = " and ".join(f"{name}/_delta_log/{p.name}" for p in checkpoints[version])
        if all(v in commits for v in range(version + 1)):  # the commits still say it all
            remedy = f"delete {files} (every commit up to version {version} is still there)"
        else:
            remedy = restore_hint(name, files)
        problems.append(Problem(name, f"checkpoint of version {version}: {why}", remedy))
    last = max(commits, default=base)
    first = min(commits, default=base + 1)
    start = 0 if base < 0 else min(first, base + 1)
    for version in range(start, last + 1):
        if version not in commits and (version > base or (deep and version >= first)):
            problems.append(
                Problem(
                    name,
                    f"commit version {version} is missing (versions {version + 1}..{last} "
                    "cannot be read without it)"
                    if version < last
                    else f"commit version {version} is missing",
                    restore_hint(name, log_name(name, version)),
                )
            )
    for version in sorted(commits):
        if version <= base and not deep:
            continue
        why = _json_problem(commits[version])
        if why is not None:
            problems.append(
                Problem(
                    name,
                    f"commit version {version} ({commits[version].name}) {why}",
                    restore_hint(name, log_name(name, version)),
                )
            )
    return problems


def open_table(root: Path, name: str) -> tuple[DeltaTable | None, Problem | None]:
    """The table's current version, or why Delta cannot open it."""
    try:
        return open_delta(root / name), None
    except Exception as exc:  # DeltaError, DeltaProtocolError, TableNotFoundError, OSError...
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return None, Problem(
            name, f"Delta cannot open it: {first}", restore_hint(name, f"{name}/_delta_log")
        )


def file_problems(root: Path, name: str, table: DeltaTable) -> list[Problem]:
    """Every data file of the current version exists and has the size its commit logged (a
    truncated or overwritten file; the stat is taken anyway)."""
    folder = root / name

    def files() -> list[dict]:  # path and size only: the statistics columns are most of it
        # read from the log's own Arrow table: `pa.table()` of it would import pandas first
        # (a second of every command's start, the dashboard's cold load included)
        actions = table.get_add_actions()
        paths, sizes = (actions.column(c).to_pylist() for c in ("path", "size_bytes"))
        return [{"path": p, "size_bytes": n} for p, n in zip(paths, sizes, strict=True)]

    actions = files()
    if any(not (folder / unquote(a["path"])).exists() for a in actions):
        # a commit since the table was opened may have replaced (and a vacuum removed) them
        table.update_incremental()
        actions = files()
    missing: list[str] = []
    resized: list[str] = []
    for action in actions:
        rel = unquote(action["path"])
        path = Path(rel) if os.path.isabs(rel) else folder / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            missing.append(rel)
            continue
        if action.get("size_bytes") is not None and size != action["size_bytes"]:
            resized.append(f"{rel} ({size} bytes, the log says {action['size_bytes']})")
    problems = []
    if missing:
        problems.append(
            Problem(
                name,
                f"{len(missing)} data file(s) of the current version are missing, e.g. "
                f"{name}/{missing[0]}",
                restore_hint(name, "the missing file(s)"),
            )
        )
    if resized:
        problems.append(
            Problem(
                name,
                f"{len(resized)} data file(s) differ in size from the log, e.g. "
                f"{name}/{resized[0]}",
                restore_hint(name, "the file(s)"),
            )
        )
    return problems
