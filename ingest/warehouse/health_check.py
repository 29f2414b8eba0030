"""Is the warehouse whole? Each table's Delta log, the files of its current version, the loads
it is said to hold, and whether derived data was built from the current version of its sources.

`inspect` is what `finops check` shows; `guard` is the quick form every command runs before it
reads or writes, so a damaged warehouse is refused with one message rather than a traceback,
and is never written to (a vacuum that trusted a broken log would delete live data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from ingest.warehouse.connection import location, snapshot_files
from ingest.warehouse.delta_log import (
    NO_BACKUP,
    TABLES,
    Problem,
    file_problems,
    log_name,
    log_problems,
    open_table,
    restore_hint,
)
from ingest.warehouse.loads_log import META_KEY as LOAD_META  # a load's record, in its own commit
from ingest.warehouse.location import is_remote
from models.errors import DamagedWarehouseError
from models.settings import Settings

LOADED = (
    "cost_lines",
    "gpu_util",
    "assets",
    "training_runs",
    "serving_usage",
)  # tables whose commits carry a loads record


@dataclass
class Health:
    """What `inspect` found: the tables present and every problem, with what to do."""

    root: Path
    tables: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # the tables Delta opened, at their current version: a reader reuses them (`guard`)
    opened: dict[str, DeltaTable] = field(default_factory=dict, repr=False)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def of(self, table: str) -> list[Problem]:
        return [p for p in self.problems if p.table == table]


def load_records(loads: DeltaTable | None) -> list[dict]:
    """The loads records, as much of them as the checks need."""
    if loads is None:
        return []
    columns = ["load_id", "dataset", "source", "billing_account", "billing_period", "status",
               "table_version", "files"]  # fmt: skip
    # the files themselves (a Delta scan of many small files is slow), as the file system
    # spells them: a warehouse folder with a space in its name is percent-encoded in the URIs
    files = snapshot_files(loads)
    return pl.read_parquet(files, columns=columns).to_dicts() if files else []


def _files_of(record: dict) -> str:
    """The files a load read, as its record names them (source and period when it does not)."""
    try:
        paths = [f["path"] for f in json.loads(record["files"] or "[]")]
    except (ValueError, TypeError, KeyError):
        paths = []
    if not paths:
        return f"source {record['source']}, period {record['billing_period']}"
    more = f" and {len(paths) - 1} more file(s)" if len(paths) > 1 else ""
    return f"{record['source']} {record['billing_period']} from {paths[0]}{more}"


def loads_problems(
    tables: dict[str, DeltaTable], records: list[dict], broken: set[str], deep: bool
) -> list[Problem]:
    """Every committed loads record's version exists in its table (and, `deep`, that version's
    commit is that load's). Tables already `broken` are not judged again."""
    problems = []
    held: dict[str, dict[int, str | None]] = {}  # version -> the load its commit carries
    for name in LOADED:
        if deep and name in tables:
            held[name] = {
                e["version"]: json.loads(e[LOAD_META])["load_id"] if e.get(LOAD_META) else None
                for e in tables[name].history()
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
            f"restore {log_name(r['dataset'], version)} from a backup; {NO_BACKUP} "
            f"(this load's export: {_files_of(r)})"
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
        elif deep and version in held.get(r["dataset"], {}):  # (a cleaned-up log drops old ones)
            holder = held[r["dataset"]][version]
            if holder != r["load_id"]:
                said = "no load" if holder is None else f"load {holder}"
                problems.append(
                    Problem(
                        r["dataset"],
                        f"{what} is listed at version {version}, but that commit holds {said}: "
                        "the load's own commit was lost and another took its number",
                        remedy,
                    )
                )
    return problems


def derived_problems(
    tables: dict[str, DeltaTable], settings: Settings | None = None, broken: Iterable[str] = ()
) -> list[Problem]:
    """Derived partitions that do not match the source version they record (ingest.derive.lineage).
    Derived data written before records were kept is not a problem: the next write rebuilds
    it. With a source table `broken`, nobody can tell: its own problem is the one to fix."""
    from ingest.derive.lineage import REPAIR, stale_of

    if set(broken) & set(LOADED):
        return []
    return [
        Problem(s.dataset, f"{s.part}: {s.why}" if s.part else s.why, REPAIR)
        for s in stale_of(tables.get, settings)
        if s.recorded
    ]


def inspect(
    root: Path | str,
    deep: bool = True,
    names: Iterable[str] = TABLES,
    settings: Settings | None = None,
) -> Health:
    """Every problem of the warehouse at `root`; `deep=False` is the quick form (`guard`).
    `settings` (the idle settings) tell whether GPU-hours were derived with the current ones."""
    root = location(root)
    # On object storage deltalake reads the log itself and says what it cannot open; the
    # local file checks (log files one by one, data file sizes) would download everything.
    remote = is_remote(root)
    health = Health(root)  # type: ignore[arg-type]
    tables: dict[str, DeltaTable] = {}
    unlogged: list[Problem] = []  # loaded tables with data files and no log: lost, or never made?
    for name in names:
        if not (root / name).is_dir():
            continue
        health.tables.append(name)
        found = [] if remote else log_problems(root, name, deep)
        if not (root / name / "_delta_log").is_dir():
            (unlogged if name in LOADED else health.problems).extend(found)
            continue
        table, broken = (None, None) if found else open_table(root, name)
        if found or broken:
            health.problems += found or [broken]  # type: ignore[list-item]
            continue
        assert table is not None
        tables[name] = health.opened[name] = table
        if not remote:
            health.problems += file_problems(root, name, table)
    try:
        records = load_records(tables.get("loads"))
    except Exception as exc:  # a loads file that cannot be read
        health.problems.append(
            Problem("loads", f"cannot be read: {str(exc).splitlines()[0][:300]}",
                    restore_hint("loads", "the loads table"))
        )  # fmt: skip
        records = []
    # A table whose first load was killed before its first commit has data files and no
    # log, and no load committed to it: leftovers (the next load commits beside them and
    # vacuum removes them), not damage. With loads itself unreadable, nobody can tell.
    committed = {r["dataset"] for r in records if r["status"] == "committed"}
    readable = "loads" in tables or not (root / "loads").exists()
    health.problems += [p for p in unlogged if p.table in committed or not readable]
    broken = {p.table for p in health.problems}
    health.problems += loads_problems(tables, records, broken, deep)
    if deep:
        broken = {p.table for p in health.problems}
        health.problems += derived_problems(tables, settings, broken)
    return health


def guard(root: Path | str) -> dict[str, DeltaTable]:
    """Refuse a damaged warehouse before a command reads or writes it, and one this process
    may not read (permissions) with one message. Returns the tables it opened (current
    versions, by name), so a reader need not open each again."""
    try:
        health = inspect(root, deep=False)
    except OSError as exc:
        from ingest.sources.input_path import os_error

        raise os_error(exc, warehouse=location(root), writing=False) from None
    if health.healthy:
        return health.opened
    first = health.problems[0]
    more = len(health.problems) - 1
    raise DamagedWarehouseError(
        f"the warehouse is damaged: {first}" + (f" (and {more} more problem(s))" if more else ""),
        file=str(root),
        hint="nothing was read or changed; run `finops check` to see every problem and what to do",
    )
