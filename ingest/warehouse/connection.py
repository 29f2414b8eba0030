"""Read-only access to the warehouse: an in-process DuckDB connection with views over a snapshot.

Each view reads the Parquet files of one Delta snapshot (DESIGN §5), so a reader sees either
the old or the new state of a load, never a mix, and never takes a lock a writer needs.
Further views (classified_costs, gpu_hours, ...) are registered by the layers that define
them through `register_view`.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingest.warehouse.location import Location, ObjectPath, fetch, is_remote, open_delta, parse
from models.errors import ConfigError, DamagedWarehouseError, InputError, WarehouseError
from models.schema import ASSETS, COST_LINES, GPU_UTIL, LOAD_ERRORS, LOADS, Table
from models.serving import SERVING_USAGE
from models.training_runs import TRAINING_RUNS

BASE_TABLES: tuple[Table, ...] = (
    COST_LINES, GPU_UTIL, ASSETS, TRAINING_RUNS, LOADS, LOAD_ERRORS, SERVING_USAGE
)  # fmt: skip

# Views built on top of the base tables: name -> function(connection) that creates it.
# Registered by importing modules that define them (see register_view), so this module
# does not depend on what is above it.
_DERIVED: dict[str, Callable[[duckdb.DuckDBPyConnection], None]] = {}


def register_view(name: str, create: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    _DERIVED[name] = create


# Derived datasets stored as Delta tables (classifications, gpu_hours, ...): exposed as views
# over the same snapshot rules as the base tables (under --as-of they follow cost_lines' time).
_TABLES: dict[str, Table] = {}


def register_table(table: Table) -> None:
    _TABLES[table.name] = table


@dataclass(frozen=True)
class Snapshot:
    """Which version of each table a connection reads."""

    versions: dict[str, int | None]


AsOf = int | datetime | None


def parse_as_of(text: str | None) -> AsOf:
    """`--as-of` accepts a cost_lines version number or an ISO timestamp."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            "--as-of is neither a version number nor a timestamp",
            expected="a version like 12 or a time like 2026-10-05T12:00:00Z",
            found=text,
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def damaged(root: Path, name: str, exc: Exception) -> DamagedWarehouseError:
    """A table Delta cannot open, as the one message every command shows."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return DamagedWarehouseError(
        f"the warehouse is damaged: {name}: Delta cannot open it: {first}",
        file=str(root),
        hint="nothing was read or changed; run `finops check` to see what to do",
    )


def _snapshot(
    root: Path, name: str, as_of: AsOf, opened: dict[str, DeltaTable] | None = None
) -> DeltaTable | None:
    if as_of is None and opened is not None and name in opened:
        return opened[name]  # opened by the guard a moment ago: its log is not read again
    path = root / name
    try:
        table = open_delta(path)
    except TableNotFoundError:
        return None
    except Exception as exc:  # DeltaError, DeltaProtocolError, OSError...
        raise damaged(root, name, exc) from None
    if as_of is None:
        return table
    try:
        if isinstance(as_of, int):
            # A version number refers to cost_lines; other tables follow its commit time.
            if name == "cost_lines":
                table.load_as_version(as_of)
                return table
            as_of = _version_time(root / "cost_lines", as_of)
        history = _commit_times(table)
        at = [v for v, when in history if when <= as_of]
        if not at:  # deltalake would give version 0, which did not exist yet
            if name == "cost_lines":
                first = min(when for _, when in history)
                raise InputError(
                    f"the warehouse has no cost_lines state at {as_of.isoformat()}: its "
                    f"first load was committed at {first.isoformat(timespec='seconds')}",
                    hint="give a later time, or a version from `finops loads`",
                )
            return None
        table.load_as_version(max(at))
    except InputError:
        raise
    except Exception as exc:  # deltalake raises several types for "no such version"
        if name == "cost_lines":
            raise InputError(
                f"the warehouse has no cost_lines state at {as_of}",
                hint="`finops loads` lists each load with the version it produced",
            ) from exc
        return None  # the table did not exist yet at that time
    return table


def _derived_as_of(root: Path, as_of: AsOf) -> AsOf:
    """Derived tables are committed just after the cost_lines commit they follow, so for
    cost_lines version N they are read as of just before version N+1 (or now)."""
    if not isinstance(as_of, int):
        return as_of
    try:
        return _version_time(root / "cost_lines", as_of + 1) - timedelta(milliseconds=1)
    except (InputError, TableNotFoundError):
        return None


def commit_time(millis: int) -> datetime:
    """A Delta commit's timestamp (ms since the epoch) as a UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _commit_times(table: DeltaTable) -> list[tuple[int, datetime]]:
    """Each version with its commit's own timestamp, the time a load's finished_at shows.
    A time is resolved here, not by deltalake, which uses the log files' modification
    times: those come a few milliseconds after the commit's timestamp, so `--as-of` a
    load's finished_at could read the version before it."""
    return [
        (e["version"], commit_time(e["timestamp"]))
        for e in table.history()
        if e.get("timestamp") is not None and e.get("version") is not None
    ]


def _version_time(path: Path, version: int) -> datetime:
    table = open_delta(path)
    for entry in table.history():
        if entry["version"] == version:
            return commit_time(entry["timestamp"])
    raise InputError(f"cost_lines has no version {version}", found=str(version))


def _empty_select(table: Table) -> str:
    cols = ", ".join(f'CAST(NULL AS {c.sql_type}) AS "{c.name}"' for c in table.columns)
    return f"SELECT {cols} WHERE false"


def missing_columns(snap: DeltaTable, table: Table) -> list[str]:
    """The declared columns `snap` does not store: a derived table written before they were
    added reads them as NULL until it is rebuilt (`finops classify`, or the next refresh)."""
    stored = {f.name for f in snap.schema().fields}
    return [c.name for c in table.columns if c.name not in stored]


def local_path(uri: str) -> str:
    """A data file's location as the file system spells it. deltalake names local files
    percent-encoded (a space is %20), as `file://` URIs or bare paths, which DuckDB would
    take literally; a remote URI (s3://, az://) is kept as it is."""
    parts = urlsplit(uri)
    if parts.scheme in ("file", ""):
        return url2pathname(parts.path)  # decodes %XX
    if is_remote(uri):  # object storage: a local copy, read through the cache
        return fetch(uri)
    return uri


def readable(files: list[str]) -> list[str]:
    """`files` as DuckDB can open them: a data file on object storage by its local copy."""
    return [local_path(f) if is_remote(f) else f for f in files]


def logged_rows(snap: DeltaTable) -> int | None:
    """The rows of a snapshot as its Delta log counts them (None: a file's count is not
    logged): whether a table holds rows is known without opening any of its files."""
    counts = snap.get_add_actions(flatten=False).column("num_records").to_pylist()
    return None if any(n is None for n in counts) else sum(counts)


def snapshot_files(snap: DeltaTable) -> list[str]:
    """The data files of one snapshot, as paths DuckDB can open."""
    return [local_path(u) for u in snap.file_uris()]


def files_view(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> str:
    """Create on `con` the view `name` over the Parquet `files` and return its quoted name.

    The paths go to DuckDB as values, never spliced into SQL text, so a warehouse folder
    with a quote, a space or `']--` in its name reads like any other."""
    rel = con.read_parquet(readable(files), hive_partitioning=False, union_by_name=True)
    rel.create_view(name)
    return quote(name)


def typed_files_view(
    con: duckdb.DuckDBPyConnection, name: str, files: list[str], table: Table, stored: list[str]
) -> str:
    """Like `files_view`, but typed from the contract rather than from the files' footers:
    creating the view opens no file, so a reader pays for a table's files only when a query
    reads them (the dashboard's first request reads rollups, not cost lines). `stored` are the
    declared columns the snapshot holds; files are matched by column name. The paths go to
    DuckDB as values, as in `files_view`."""
    schema = ", ".join(  # our contract's names and types, never a user's text
        f"'{c.name}': {{name: '{c.name}', type: '{c.sql_type}', default_value: NULL}}"
        for c in table.columns
        if c.name in stored
    )
    rel = con.sql(
        f"SELECT * FROM read_parquet($files, hive_partitioning = false, schema = map {{{schema}}})",
        params={"files": readable(files)},
    )
    rel.create_view(name)
    return quote(name)


def arrow_view(con: duckdb.DuckDBPyConnection, name: str, snap: DeltaTable) -> str:
    """Register on `con` the snapshot's files as an Arrow dataset named `name`: read by
    pyarrow, so DuckDB itself needs no access to any file (see `connect(untrusted=True)`)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema = pa.schema(snap.schema().to_arrow())
    con.register(name, ds.dataset(snapshot_files(snap), format="parquet", schema=schema))
    return quote(name)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files_select(table: Table, source: str, missing: list[str] | None = None) -> str:
    cols = ", ".join(
        f'CAST(NULL AS {c.sql_type}) AS "{c.name}"' if c.name in (missing or ()) else f'"{c.name}"'
        for c in table.columns
    )
    return f"SELECT {cols} FROM {source}"


def files_select(
    con: duckdb.DuckDBPyConnection, name: str, files: list[str], table: Table, snap: DeltaTable
) -> str:
    """SELECT of `table`'s columns over some of the snapshot's data `files` (e.g. a few
    partitions'), readable on `con`: for writers that need less than the whole table."""
    if not files:
        return _empty_select(table)
    source = files_view(con, name, files)
    return _files_select(table, source, missing_columns(snap, table))


def table_select(con: duckdb.DuckDBPyConnection, path: Path, table: Table) -> str | None:
    """SELECT of `table`'s columns over the current files of the Delta table at `path`
    (None when there is no table), readable on `con`: for writers reading what they just
    committed."""
    try:
        snap = open_delta(path)
    except TableNotFoundError:
        return None
    files = snapshot_files(snap)
    if not files:
        return _empty_select(table)
    source = files_view(con, f"_files_{table.name}", files)
    return _files_select(table, source, missing_columns(snap, table))


def spill_directory() -> Path:
    """A private folder under the system temp directory (TMPDIR) for one reader's spill
    files. DuckDB creates it when it first spills and removes it on close; its default,
    `.tmp` in the working directory, may be read-only or shared by several dashboards."""
    return Path(tempfile.gettempdir()) / f"finops-duckdb-{uuid.uuid4().hex}"


# Extensions are never fetched or loaded by a reader: what it runs is what was installed.
_NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(
    root: Path | str,
    as_of: AsOf = None,
    *,
    derived: bool = True,
    memory_limit: str | None = None,
    untrusted: bool = False,
    checked: dict[str, DeltaTable] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the warehouse views, pinned to one snapshot.

    `untrusted` (for SQL a user typed, `finops query`): the data files are read by pyarrow and
    DuckDB may open no file at all, so even a statement that slipped past every check could
    write nothing, the warehouse included (DuckDB may write to a file it is allowed to
    read). Scans are several times slower than DuckDB's own Parquet reader.

    Once the views exist the connection is sealed: external access is off, the only files it
    may open are the snapshot's data files (and its private spill folder), and the
    configuration is locked so SQL cannot undo that. `memory_limit` (e.g. "2GB",
    `[warehouse] memory_limit`) bounds what DuckDB holds; None leaves DuckDB's default.
    Beyond it DuckDB spills to `spill_directory()`.

    `checked`: the tables `health_check.guard(root)` returned, when the caller has guarded
    this snapshot already (the dashboard, once a snapshot); else it is guarded here.
    """
    root = location(root)
    if checked is None:
        from ingest.warehouse.health_check import guard

        # a damaged table is refused by name, not read as empty or a traceback
        checked = guard(root)
    config: dict[str, str | bool] = {**_NO_EXTENSIONS, "temp_directory": str(spill_directory())}
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # never write to a command's stdout
    versions: dict[str, int | None] = {}
    rows: dict[str, int | None] = {}
    readable: list[str] = []
    derived_as_of = _derived_as_of(root, as_of) if _TABLES else as_of
    for table in (*BASE_TABLES, *_TABLES.values()):
        when = derived_as_of if table.name in _TABLES else as_of
        snap = _snapshot(root, table.name, when, checked)
        files = snapshot_files(snap) if snap is not None else []
        versions[table.name] = snap.version() if snap is not None else None
        body = _empty_select(table)
        rows[table.name] = 0
        if snap is not None and files:
            missing = missing_columns(snap, table)
            # a declared column the files lack reads as NULL: its rows are not counted
            rows[table.name] = None if missing else logged_rows(snap)
            if untrusted:
                source = arrow_view(con, f"_files_{table.name}", snap)
            else:
                stored = [c.name for c in table.columns if c.name not in missing]
                source = typed_files_view(con, f"_files_{table.name}", files, table, stored)
                readable.extend(files)
            body = _files_select(table, source, missing)
        con.execute(f'CREATE VIEW "{table.name}" AS {body}')
    if derived:
        for create in _DERIVED.values():
            create(con)
    con.execute(  # `rows`: as the Delta log counts them, NULL when it does not (logged_rows)
        "CREATE MACRO finops_snapshot() AS TABLE SELECT * FROM (VALUES "
        + ", ".join(f"('{k}', {_sql_int(v)}, {_sql_int(rows[k])})" for k, v in versions.items())
        + ") AS t(dataset, version, rows)"
    )
    seal(con, readable)
    return con


def _sql_int(value: int | None) -> str:
    return "CAST(NULL AS BIGINT)" if value is None else f"CAST({int(value)} AS BIGINT)"


def seal(con: duckdb.DuckDBPyConnection, readable: list[str]) -> None:
    """Let `con` open only the files `readable` from now on, for good (DESIGN §5)."""
    con.execute("SET allowed_paths = $1", [readable])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def versions(root: Path | str) -> dict[str, int | None]:
    """Current version of each table: cheap, for deciding whether cached answers are stale."""
    root = location(root)
    if isinstance(root, ObjectPath):
        found = remote_versions(root)
        return {table.name: found.get(table.name) for table in BASE_TABLES}
    out: dict[str, int | None] = {}
    for table in BASE_TABLES:
        try:
            out[table.name] = open_delta(location(root) / table.name).version()
        except TableNotFoundError:
            out[table.name] = None
        except Exception as exc:  # DeltaError, DeltaProtocolError, OSError...
            raise damaged(location(root), table.name, exc) from None
    return out


def remote_versions(root: ObjectPath) -> dict[str, int | None]:
    """Current version of every table under an object storage prefix (each a folder holding
    a `_delta_log`), base and derived alike: the newest commit file's number, one listing a
    table, where opening each table would read its log (a dashboard asks on every page)."""
    from pyarrow import fs

    remote, prefix = root.filesystem()
    out: dict[str, int | None] = {}
    for info in remote.get_file_info(fs.FileSelector(prefix, allow_not_found=True)):
        if info.type != fs.FileType.Directory:
            continue
        log = fs.FileSelector(f"{info.path}/_delta_log", allow_not_found=True)
        commits = [
            int(name[:-5])
            for f in remote.get_file_info(log)
            if (name := f.path.rpartition("/")[2]).endswith(".json") and name[:-5].isdigit()
        ]
        if commits:
            out[info.path.rpartition("/")[2]] = max(commits)
    return out


# deltalake (delta-rs 1.6) turns a local path into a URL: it panics on [ ] | ^, loses the
# history after # or ?, and decodes %XX (a folder "%41" is written as "A"), so no table
# can live under them.
_UNSTORABLE = re.compile(r"[\[\]|^\\#?]|%[0-9A-Fa-f]{2}")


def location(root: Location | str) -> Location:
    """The warehouse folder (or object storage prefix, ingest/warehouse/location.py), refused
    whole when Delta tables cannot be stored under it."""
    root = parse(root)
    if isinstance(root, ObjectPath):
        return root
    bad = _UNSTORABLE.search(str(root.absolute()))
    if bad:
        raise ConfigError(
            f"the warehouse folder's path contains {bad.group()!r}, under which the Delta "
            "Lake library cannot store tables",
            file=str(root),
            expected="a path without [ ] | ^ \\ # ? or %XX",
            hint="choose another folder with --warehouse or [warehouse] path",
        )
    return root


def require(root: Location | str) -> Location:
    root = location(root)
    if not root.exists():
        raise WarehouseError(
            "no warehouse here yet",
            file=str(root),
            hint="ingest something first, e.g. `finops ingest aws PATH` or `finops demo`",
        )
    return root
