"""Is the warehouse whole? Each table's Delta log, the files of its current version, the loads
it is said to hold, and whether derived data is as new as what it derives from.

`inspect` is what `finops check` shows; `guard` is the quick form every command runs before it
reads or writes, so a damaged warehouse is refused with one message rather than a traceback,
and is never written to (a vacuum that trusted a broken log would delete live data).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from models.errors import DamagedWarehouseError

BASE_TABLES = ("cost_lines", "gpu_util", "assets", "loads", "load_errors")
# Rebuilt from the base tables (`finops classify`); "classifications" is their older name.
DERIVED_TABLES = ("classifications", "line_classes", "class_keys", "gpu_hours", "idle_episodes")
TABLES = BASE_TABLES + DERIVED_TABLES
LOADED = ("cost_lines", "gpu_util", "assets")  # tables whose commits carry a loads record
LOAD_META = "finops.load"  # as ingest/store.py writes it into a load's commit
EPISODES_OF = "finops.episodes_of"  # as ingest/classified.py writes it into idle_episodes

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d+\.\d+)?\.parquet$")
REBUILD = "delete the {table} folder and run `finops classify` (derived data is rebuilt)"
NO_BACKUP = "without a backup, ingest every export again into a new warehouse"


@dataclass(frozen=True)
class Problem:
    table: str
    problem: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


@dataclass
class Health:
    """What `inspect` found: the tables present and every problem, with what to do."""

    root: Path
    tables: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def of(self, table: str) -> list[Problem]:
        return [p for p in self.problems if p.table == table]


def _log_name(table: str, version: int) -> str:
    return f"{table}/_delta_log/{version:020d}.json"


def _restore(table: str, what: str) -> str:
    if table in DERIVED_TABLES:
        return REBUILD.format(table=table)
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
                    _restore(name, f"{name}/_delta_log"),
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
            Problem(name, "its _delta_log holds no commit", _restore(name, f"{name}/_delta_log"))
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
            remedy = _restore(name, files)
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
                    _restore(name, _log_name(name, version)),
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
                    _restore(name, _log_name(name, version)),
                )
            )
    return problems


def open_table(root: Path, name: str) -> tuple[DeltaTable | None, Problem | None]:
    """The table's current version, or why Delta cannot open it."""
    try:
        return DeltaTable(str(root / name)), None
    except Exception as exc:  # DeltaError, DeltaProtocolError, TableNotFoundError, OSError...
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return None, Problem(
            name, f"Delta cannot open it: {first}", _restore(name, f"{name}/_delta_log")
        )


def file_problems(root: Path, name: str, table: DeltaTable, deep: bool) -> list[Problem]:
    """Every data file of the current version exists (and, `deep`, has the logged size)."""
    folder = root / name
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    if any(not (folder / unquote(a["path"])).exists() for a in actions):
        # a commit since the table was opened may have replaced (and a vacuum removed) them
        table.update_incremental()
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
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
        if deep and action.get("size_bytes") is not None and size != action["size_bytes"]:
            resized.append(f"{rel} ({size} bytes, the log says {action['size_bytes']})")
    problems = []
    if missing:
        problems.append(
            Problem(
                name,
                f"{len(missing)} data file(s) of the current version are missing, e.g. "
                f"{name}/{missing[0]}",
                _restore(name, "the missing file(s)"),
            )
        )
    if resized:
        problems.append(
            Problem(
                name,
                f"{len(resized)} data file(s) differ in size from the log, e.g. "
                f"{name}/{resized[0]}",
                _restore(name, "the file(s)"),
            )
        )
    return problems


def loads_problems(tables: dict[str, DeltaTable], broken: set[str], deep: bool) -> list[Problem]:
    """Every committed loads record's version exists in its table (and, `deep`, that version's
    commit is that load's). Tables already `broken` are not judged again."""
    loads = tables.get("loads")
    if loads is None:
        return []
    columns = ["load_id", "dataset", "source", "billing_account", "billing_period", "status",
               "table_version"]  # fmt: skip
    files = loads.file_uris()  # the files themselves: a Delta scan of many small files is slow
    records = pl.read_parquet(files, columns=columns).to_dicts() if files else []
    problems = []
    held: dict[str, dict[int, str]] = {}
    for name in LOADED:
        if deep and name in tables:
            held[name] = {
                e["version"]: json.loads(e[LOAD_META])["load_id"]
                for e in tables[name].history()
                if e.get(LOAD_META)
            }
    for r in sorted(records, key=lambda r: (r["dataset"], r["table_version"] or -1)):
        version = r["table_version"]
        if r["status"] != "committed" or version is None or r["dataset"] not in LOADED:
            continue
        if r["dataset"] in broken:
            continue
        table = tables.get(r["dataset"])
        what = (
            f"load {r['load_id']} ({r['source']}, account {r['billing_account']}, period "
            f"{r['billing_period']})"
        )
        remedy = (
            f"restore {_log_name(r['dataset'], version)} from a backup; {NO_BACKUP} "
            f"(this load's export: source {r['source']}, period {r['billing_period']})"
        )
        if table is not None and version > table.version():
            table.update_incremental()  # loads was read after the table: a commit since?
        if table is None or version > table.version():
            ends = "does not exist" if table is None else f"ends at version {table.version()}"
            problems.append(
                Problem(
                    r["dataset"],
                    f"{what} is listed at version {version}, but the table {ends}: "
                    "that commit is gone",
                    remedy,
                )
            )
        elif deep:
            holder = held.get(r["dataset"], {}).get(version)
            if holder is not None and holder != r["load_id"]:
                problems.append(
                    Problem(
                        r["dataset"],
                        f"{what} is listed at version {version}, but that commit holds "
                        f"load {holder}",
                        remedy,
                    )
                )
    return problems


def _loaded_at(table: DeltaTable | None) -> int | None:
    """When the table last changed by a load (ms): not by a vacuum or an optimise."""
    if table is None:
        return None
    return max((e["timestamp"] for e in table.history() if e.get(LOAD_META)), default=None)


def _changed_at(table: DeltaTable | None) -> int | None:
    if table is None:
        return None
    return max((e["timestamp"] for e in table.history()), default=None)


def derived_problems(tables: dict[str, DeltaTable]) -> list[Problem]:
    """Derived data older than what it is derived from, as far as the commits record it."""
    problems = []
    lines = _loaded_at(tables.get("cost_lines"))
    util = _loaded_at(tables.get("gpu_util"))
    sources = {
        "line_classes": [("cost_lines", lines)],
        "class_keys": [("cost_lines", lines)],
        "gpu_hours": [("cost_lines", lines), ("gpu_util", util)],
    }
    for name, inputs in sources.items():
        built = _changed_at(tables.get(name))
        if built is None:
            continue
        newer = [src for src, at in inputs if at is not None and at > built]
        if newer:
            problems.append(
                Problem(
                    name,
                    f"is older than the last load into {' and '.join(newer)} (its refresh did "
                    "not finish)",
                    "run `finops classify` to rebuild it",
                )
            )
    episodes, hours = tables.get("idle_episodes"), tables.get("gpu_hours")
    if episodes is not None and hours is not None:
        last = episodes.history(1)
        basis = last[0].get(EPISODES_OF) if last else None
        if basis:
            built_from = json.loads(basis).get("gpu_hours")
            if built_from is not None and built_from != hours.version():
                problems.append(
                    Problem(
                        "idle_episodes",
                        f"was derived from gpu_hours version {built_from}, but gpu_hours is at "
                        f"version {hours.version()}",
                        "run `finops classify` to rebuild it",
                    )
                )
    return problems


def inspect(root: Path | str, deep: bool = True, names: Iterable[str] = TABLES) -> Health:
    """Every problem of the warehouse at `root`; `deep=False` is the quick form (`guard`)."""
    root = Path(root)
    health = Health(root)
    tables: dict[str, DeltaTable] = {}
    for name in names:
        if not (root / name).is_dir():
            continue
        health.tables.append(name)
        found = log_problems(root, name, deep)
        if not (root / name / "_delta_log").is_dir():
            health.problems += found
            continue
        table, broken = (None, None) if found else open_table(root, name)
        if found or broken:
            health.problems += found or [broken]  # type: ignore[list-item]
            continue
        assert table is not None
        tables[name] = table
        health.problems += file_problems(root, name, table, deep)
    try:
        broken = {p.table for p in health.problems}
        health.problems += loads_problems(tables, broken, deep)
    except Exception as exc:  # a loads file that cannot be read
        health.problems.append(
            Problem("loads", f"cannot be read: {str(exc).splitlines()[0][:300]}",
                    _restore("loads", "the loads table"))
        )  # fmt: skip
    if deep:
        health.problems += derived_problems(tables)
    return health


def guard(root: Path | str) -> None:
    """Refuse a damaged warehouse before a command reads or writes it."""
    health = inspect(root, deep=False)
    if health.healthy:
        return
    first = health.problems[0]
    more = len(health.problems) - 1
    raise DamagedWarehouseError(
        f"the warehouse is damaged: {first}" + (f" (and {more} more problem(s))" if more else ""),
        file=str(root),
        hint="nothing was read or changed; run `finops check` to see every problem and what to do",
    )
