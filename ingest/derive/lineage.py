"""Which version of its sources each derived table was built from, and what is stale now.

A source partition's fingerprint is a short hash of the relative paths of its data files in
the current version, read from the Delta log (no data is read). Every commit of a cost_lines
partition moves in a file named after its load, so the fingerprint changes with every commit
of that partition and with nothing else.

Each derived commit records, in its own commit info (atomic with its data), what it was built
from under `finops.built_from`:

- line_classes: {partition "source/account/period" (stored values): cost_lines fingerprint},
  for every partition it holds; class_keys is whole and follows line_classes. Beside it,
  under `finops.gpu_lines`, {partition: {month: digest}}: the digest of the partition's GPU
  lines starting in each month (ingest.derive.gpu_digest; partitions without any left out).
- gpu_hours: {month: {"gpu_lines", "gpu_util", "assets", "idle": fingerprint}}, the month's
  GPU lines (the digests of every partition's GPU lines starting in it), its telemetry, the
  asset inventory and the idle settings. A load that changed no GPU line of a month leaves
  its record current: the month is not rebuilt. A partition whose cost lines changed since
  they were classified has unknown GPU lines: its period's month, and each month its GPU
  lines were in, count as changed until it is classified again.
- the GPU rollups (gpu_buckets, gpu_demand, gpu_owned_days) record what gpu_hours does;
  telemetry_monthly {month: gpu_util fingerprint}.
- the cost-line rollups (models/rollups.py): {partition: {"cost_lines", "line_classes":
  fingerprint}}, the partition's cost lines and the classes they were summed with.
- api_usage_parts: {partition: {"cost_lines", "meters": fingerprint}}, the partition's cost
  lines and the model catalogue's meter patterns it summed them with (ingest/derive/api_usage).
  unit_costs, rebuilt whole, records the data versions of UNIT_COST_INPUTS and the catalogue.
- idle_episodes records `finops.episodes_of` instead: the gpu_hours version and idle settings
  (and each start month's latest episode end, which months a monthly refresh must read).

`stale()` compares those records with the sources now. A table without a record (written
before records were kept) is `recorded=False`: writers rebuild it whole, readers serve it.
So is a line_classes without GPU line digests, and a gpu_hours (or GPU rollup) that recorded
whole cost_lines partitions instead of GPU lines (both written by an older finops): the next
ingest or vacuum classifies every partition once and rebuilds every GPU month once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from ingest.warehouse.store import Store
from models.settings import IdleSettings, Settings

BUILT_FROM = "finops.built_from"
EPISODES_OF = "finops.episodes_of"  # commit info of idle_episodes: the gpu_hours it came from
GPU_LINES = "finops.gpu_lines"  # commit info of line_classes: its partitions' GPU line digests
PART = ("x_PartSource", "x_PartAccount", "x_PartPeriod")
MONTH = ("x_PartMonth",)
SEP = "/"  # between a partition's values: safe_part never leaves one in a value
REPAIR = "run `finops vacuum` or ingest again; `finops classify` rebuilds everything"
# The GPU rollups (models.gpu_rollups) record what gpu_hours records; telemetry_monthly
# records {month: gpu_util fingerprint}.
GPU_ROLLUPS = ("gpu_buckets", "gpu_demand", "gpu_owned_days")
TELEMETRY_MONTHLY = "telemetry_monthly"
GPU_INPUTS = {
    "gpu_lines": "GPU cost lines",
    "gpu_util": "GPU telemetry",
    "assets": "the asset inventory",
    "idle": "the idle settings",
}

Tables = Callable[[str], DeltaTable | None]


@dataclass(frozen=True)
class Stale:
    """One derived partition (or month, or whole table: "") that does not match its sources."""

    dataset: str
    part: str
    why: str
    recorded: bool = True  # False: built before records were kept (not refused by readers)

    def __str__(self) -> str:
        where = f" {self.part}" if self.part else ""
        return f"{self.dataset}{where}: {self.why}"


# ---- fingerprints -------------------------------------------------------------------------


def fingerprint(items: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(items)).encode()).hexdigest()[:16]


def part_key(values: Sequence[str]) -> str:
    """A partition's name in the records: its stored values, e.g. `aws-cur2/4123/2026-09`."""
    return SEP.join(values)


def part_values(part: str) -> dict[str, str]:
    """A partition's name in the records back to its stored values by column."""
    return dict(zip(PART, part.split(SEP), strict=True))


def partition_fingerprints(table: DeltaTable | None, keys: Sequence[str]) -> dict[str, str]:
    """{partition: fingerprint of its data file paths} of the table's current version."""
    if table is None:
        return {}
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if not actions.height:
        return {}
    cols = [f"partition.{k}" for k in keys]
    grouped = actions.group_by(cols).agg(pl.col("path"))
    return {
        part_key([str(v) for v in row[:-1]]): fingerprint(row[-1]) for row in grouped.iter_rows()
    }


def table_fingerprint(table: DeltaTable | None) -> str:
    """The whole table's file set ("" when it does not exist)."""
    if table is None:
        return ""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    return fingerprint(actions["path"].to_list() if actions.height else [])


def idle_record(idle: IdleSettings) -> dict:
    """The idle settings as a record keeps them (JSON values)."""
    return json.loads(json.dumps(dataclasses.asdict(idle), sort_keys=True, default=str))


def idle_fingerprint(idle: IdleSettings) -> str:
    return fingerprint([json.dumps(idle_record(idle), sort_keys=True)])


def line_inputs(tables: Tables) -> dict[str, str]:
    """What line_classes is built from now: every cost_lines partition's fingerprint."""
    return partition_fingerprints(tables("cost_lines"), PART)


def rollup_inputs(tables: Tables) -> dict[str, dict[str, str]]:
    """What each partition of a rollup is built from now: its cost lines and their classes."""
    classes = partition_fingerprints(tables("line_classes"), PART)
    return {
        part: {"cost_lines": fp, "line_classes": classes.get(part, "")}
        for part, fp in line_inputs(tables).items()
    }


def gpu_line_inputs(tables: Tables) -> dict[str, list[str]]:
    """{month: its GPU lines now, one item a partition}: the digest line_classes recorded
    when it classified the partition's current files; a partition whose files changed since
    is unknown, in its period's month and in each month its GPU lines were in."""
    now = line_inputs(tables)
    entry = None if (table := tables("line_classes")) is None else last_commit(table)
    classified = json.loads(entry.get(BUILT_FROM) or "{}") if entry else {}
    digests = json.loads(entry.get(GPU_LINES) or "{}") if entry else {}
    known = entry is not None and bool(entry.get(GPU_LINES))
    out: dict[str, list[str]] = {}
    for part, fp in now.items():
        months = digests.get(part, {})
        if known and classified.get(part) == fp:
            for month, digest in months.items():
                out.setdefault(month, []).append(f"{part}={digest}")
        else:
            for month in {part.rsplit(SEP, 1)[-1], *months}:
                out.setdefault(month, []).append(f"{part}=not classified since {fp}")
    return out


def gpu_inputs(tables: Tables, idle: IdleSettings | None) -> dict[str, dict[str, str]]:
    """What each month of gpu_hours is built from now (months with GPU lines, or lines not
    classified yet, or telemetry). Without `idle`, the idle settings are left out (a reader
    that has none)."""
    lines = gpu_line_inputs(tables)
    util = partition_fingerprints(tables("gpu_util"), MONTH)
    assets = table_fingerprint(tables("assets"))
    out = {}
    for month in sorted(set(lines) | set(util)):
        entry = {
            "gpu_lines": fingerprint(lines.get(month, [])),
            "gpu_util": util.get(month, ""),
            "assets": assets,
        }
        if idle is not None:
            entry["idle"] = idle_fingerprint(idle)
        out[month] = entry
    return out


# ---- what a table recorded ----------------------------------------------------------------


def last_commit(table: DeltaTable) -> dict | None:
    """The newest commit info that changed data: vacuum's own commits are skipped (up to 50).
    The newest commit alone is read first: reading 50 costs a file a commit, on every check."""
    for limit in (1, 50):
        entries = table.history(limit)  # newest first
        for entry in entries:
            if not str(entry.get("operation", "")).upper().startswith("VACUUM"):
                return entry
        if len(entries) < limit:
            return None
    return None


def recorded(table: DeltaTable | None, key: str = BUILT_FROM) -> dict | None:
    """The record `key` of the table's newest data commit (None: not recorded)."""
    if table is None:
        return None
    entry = last_commit(table)
    raw = entry.get(key) if entry else None
    return json.loads(raw) if raw else None


def gpu_record(table: DeltaTable | None) -> dict | None:
    """What gpu_hours or a GPU rollup recorded; None also when it recorded whole cost_lines
    partitions rather than GPU lines (an older finops): rebuilt whole, as if unrecorded."""
    record = recorded(table)
    return record if record is not None and _of_gpu_lines(record) else None


def _of_gpu_lines(record: dict) -> bool:
    return all("gpu_lines" in entry for entry in record.values())


def data_version(table: DeltaTable | None) -> int | None:
    """The version of the table's newest data commit (not moved on by a vacuum)."""
    if table is None:
        return None
    entry = last_commit(table)
    return int(entry["version"]) if entry and "version" in entry else table.version()


def carried(old: dict | None, now: dict, rebuilt: Iterable[str] | None) -> dict:
    """The record after rebuilding `rebuilt` (None: everything) from sources `now`: the old
    record carried forward, the rebuilt entries as they are now (dropped when gone)."""
    if rebuilt is None or old is None:
        return dict(now)
    out = dict(old)
    for key in rebuilt:
        out.pop(key, None)
        if key in now:
            out[key] = now[key]
    return out


def json_record(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def metadata(record: dict) -> dict[str, str]:
    return {BUILT_FROM: json_record(record)}


# ---- stale --------------------------------------------------------------------------------


def stale(where: Store | Path | str, settings: Settings | None = None) -> list[Stale]:
    """Every derived partition that does not match its sources now (read-only; logs only).

    Without `settings` the idle settings are not compared."""
    store = where if isinstance(where, Store) else Store(where)
    # each table's log read once: several checks read cost_lines' and line_classes' files
    return stale_of(functools.cache(store.table), settings)


def stale_of(tables: Tables, settings: Settings | None = None) -> list[Stale]:
    """`stale()` over tables already opened (`tables(name)` -> the table or None)."""
    return [
        *_stale_lines(tables),
        *gpu_stale_of(tables, settings),
        *_stale_rollups(tables),
        *_stale_unit_costs(tables),
    ]


def stale_gpu(store: Store, settings: Settings | None = None) -> list[Stale]:
    """`stale()` of the GPU data alone (gpu_hours, its rollups, telemetry_monthly, episodes)."""
    return gpu_stale_of(functools.cache(store.table), settings)


def gpu_stale_of(tables: Tables, settings: Settings | None = None) -> list[Stale]:
    idle = settings.idle if settings is not None else None
    found: list[Stale] = []
    inputs = functools.cache(lambda: gpu_inputs(tables, idle))  # once, for all four
    hours = _stale_hours(tables, inputs)
    found += hours
    said = {s.part for s in hours}
    whole = any(not s.recorded for s in hours)  # rebuilt whole, rollups with it
    for name in GPU_ROLLUPS if not whole else ():  # said apart only where they lag behind it
        found += [s for s in _stale_hours(tables, inputs, name) if s.part not in said]
    found += _stale_telemetry(tables)
    found += _stale_episodes(tables, idle)
    return found


def _unrecorded(dataset: str, what: str = "which source version it was built from") -> Stale:
    return Stale(
        dataset, "", f"does not record {what} (written by an older finops); it is rebuilt at "
        "the next ingest or vacuum", recorded=False,
    )  # fmt: skip


def _not_built(dataset: str) -> Stale:
    return Stale(
        dataset, "", "is not built yet although there are cost lines (the refresh of the first "
        "load did not run); it is built at the next ingest or vacuum", recorded=False,
    )  # fmt: skip


# what unit_costs is built from (data versions; its model catalogue is recorded beside them)
UNIT_COST_INPUTS = ("serving_usage", "gpu_hours", "gpu_util", "cost_lines")


def _stale_unit_costs(tables: Tables) -> list[Stale]:
    """unit_costs (rebuilt whole) when an input moved after it was built: a refresh killed
    before it ran. A warehouse that never built it is not flagged: its next ingest builds it."""
    table = tables("unit_costs")
    if table is None:
        return []
    record = recorded(table)
    if record is None:
        return [_unrecorded("unit_costs")]
    moved = [n for n in UNIT_COST_INPUTS if record.get(n) != data_version(tables(n))]
    if not moved:
        return []
    why = f"was built before {', '.join(moved)} changed; it is rebuilt at the next ingest or vacuum"
    return [Stale("unit_costs", "", why)]


def _stale_lines(tables: Tables) -> list[Stale]:
    table = tables("line_classes")
    now = line_inputs(tables)
    if table is None:
        return [_not_built("line_classes")] if now else []
    record = recorded(table)
    if record is None:
        return [_unrecorded("line_classes")]
    if recorded(table, GPU_LINES) is None:
        return [_unrecorded("line_classes", "the digests of its GPU lines")]
    out = []
    for part in sorted(set(now) | set(record)):
        if part not in record:
            why = "its cost lines were loaded after the last classification"
        elif part not in now:
            why = "holds classes of cost lines that are no longer loaded"
        elif record[part] != now[part]:
            why = "its cost lines were replaced after they were classified"
        else:
            continue
        out.append(Stale("line_classes", part, why))
    return out


def _stale_hours(
    tables: Tables, inputs: Callable[[], dict], dataset: str = "gpu_hours"
) -> list[Stale]:
    """`dataset` (gpu_hours or a GPU rollup) against `inputs()`, what it is built from now."""
    table = tables(dataset)
    if table is None:
        return [_not_built(dataset)] if tables("cost_lines") is not None else []
    record = recorded(table)
    if record is None:
        return [_unrecorded(dataset)]
    if not _of_gpu_lines(record):
        return [_unrecorded(dataset, "the GPU lines it was built from")]
    now = inputs()
    out = []
    for month in sorted(set(now) | set(record)):
        if month not in record:
            why = "cost lines or telemetry of this month were loaded after it was built"
        elif month not in now:
            why = "holds GPU-hours of a month whose GPU cost lines and telemetry are gone"
        else:
            changed = [
                words
                for name, words in GPU_INPUTS.items()
                if name in now[month] and now[month][name] != record[month].get(name)
            ]
            if not changed:
                continue
            why = f"{' and '.join(changed)} changed after it was built"
        out.append(Stale(dataset, month, why))
    return out


def _stale_telemetry(tables: Tables) -> list[Stale]:
    """telemetry_monthly records each gpu_util month's fingerprint."""
    table, util = tables(TELEMETRY_MONTHLY), tables("gpu_util")
    if table is None:
        return [_not_built(TELEMETRY_MONTHLY)] if util is not None else []
    record = recorded(table)
    if record is None:
        return [_unrecorded(TELEMETRY_MONTHLY)]
    now = partition_fingerprints(util, MONTH)
    return [
        Stale(TELEMETRY_MONTHLY, month, "GPU telemetry of this month changed after it was built")
        for month in sorted(set(now) | set(record))
        if now.get(month) != record.get(month)
    ]


def _stale_episodes(tables: Tables, idle: IdleSettings | None) -> list[Stale]:
    table, hours = tables("idle_episodes"), tables("gpu_hours")
    if table is None or hours is None:
        return []
    basis = recorded(table, EPISODES_OF)
    if basis is None:
        return [_unrecorded("idle_episodes")]
    version = data_version(hours)
    if basis.get("gpu_hours") != version:
        why = (
            f"was derived from gpu_hours version {basis.get('gpu_hours')}, but gpu_hours is "
            f"at version {version}"
        )
        return [Stale("idle_episodes", "", why)]
    if idle is not None and basis.get("idle") != idle_record(idle):
        return [Stale("idle_episodes", "", "was derived with other idle settings")]
    return []


def _stale_rollups(tables: Tables) -> list[Stale]:
    from models.rollups import ROLLUPS

    now: dict[str, dict[str, str]] | None = None
    out = []
    for decl in ROLLUPS:
        table = tables(decl.name)
        if table is None:
            out += [_not_built(decl.name)] if line_inputs(tables) else []
            continue
        record = recorded(table)
        if record is None:
            out.append(_unrecorded(decl.name))
            continue
        now = rollup_inputs(tables) if now is None else now
        for part in sorted(set(now) | set(record)):
            if part not in record:
                why = "its cost lines were loaded after it was built"
            elif part not in now:
                why = "holds sums of cost lines that are no longer loaded"
            elif record[part].get("cost_lines") != now[part]["cost_lines"]:
                why = "its cost lines were replaced after it was built"
            elif record[part].get("line_classes") != now[part]["line_classes"]:
                why = "its cost lines were classified again after it was built"
            else:
                continue
            out.append(Stale(decl.name, part, why))
    return out


def explain(found: list[Stale], limit: int = 3) -> str:
    """`found` in one line: the first few, and how many more."""
    shown = "; ".join(str(s) for s in found[:limit])
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return shown + more


def refuse_stale(root: Path | str, settings: Settings | None, reader: str) -> None:
    """A reader that would print figures from stale derived data stops with one message
    (derived data written before records were kept is served: nothing says it is wrong)."""
    from models.errors import WarehouseError

    found = [s for s in stale(root, settings) if s.recorded]
    if found:
        raise WarehouseError(
            f"derived data is out of date, so the {reader} would show wrong figures: "
            + explain(found),
            file=str(root),
            hint=f"nothing was written; {REPAIR}",
        )


def warn_stale(root: Path | str, settings: Settings | None) -> str | None:
    """One line for a raw reader (`finops query`) that answers anyway; None when current."""
    found = [s for s in stale(root, settings) if s.recorded]
    if not found:
        return None
    return (
        f"warning: derived data is out of date ({explain(found, 1)}): classifications and "
        f"GPU-hours may be wrong; {REPAIR}"
    )
