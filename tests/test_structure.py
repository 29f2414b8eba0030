"""Issue 20's structure rules, by reading the source: readers only read, the writer is split
by concern into small modules, and one pipeline runs every ingest.

Readers hand the writer load packages (ingest/warehouse/load_contract.py); only the writer's modules
commit, build a committed LoadResult or spell a Delta predicate, and only the pipeline
records an ingest's failure and refreshes derived data after it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INGEST = REPO / "ingest"

# The writer: the only modules that change the warehouse's loaded tables.
WRITER = {
    "store.py", "cost_line_load.py", "scoped_load.py", "delta_commit.py", "loads_log.py",
    "vacuum.py", "pipeline.py",
}  # fmt: skip
# Derived data (rebuilt from what was loaded): its DuckDB SQL and its commits through
# Store.replace_derived.
DERIVED = {"derived.py", "classified.py", "lineage.py", "gpu_hours.py", "line_classes.py"}
# Modules over the limit today, with why; the list may only shrink (a test below fails when
# an entry is no longer needed, so it is removed then).
MAX_LINES = 500
KNOWN_LARGE = {
    "gpu_hours.py": "the GPU-hours and idle-episode SQL, one statement per derived table",
    "gcp.py": "the GCP billing export's nested columns, credits and FOCUS mapping together",
}

# What commits, or quotes a Delta predicate, in Python source.
WRITES = {
    "a committed LoadResult": re.compile(r"""status\s*=\s*["']committed["']"""),
    "a Delta predicate": re.compile(
        r"predicate|partition_filters|\bx_Part\w+\s*=\s*'|\b_quote\(|"
        r"replace\(\"'\", \"''\"\)"
    ),
    "a Delta write": re.compile(
        r"write_deltalake|create_write_transaction|create_table_with_add_actions"
    ),
    "a Store commit": re.compile(
        r"\.(?:load_cost_lines|load_gpu_util|load_assets|replace_rows|replace_derived)\(|"
        r"\.writer\(\)"
    ),
}
# What only the pipeline does after an ingest.
PIPELINE_ONLY = re.compile(r"derived\.refresh\(|\.record_error\(|\.load_cost_lines\(")


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _readers() -> list[Path]:
    return [p for p in sorted(INGEST.rglob("*.py")) if p.name not in WRITER | DERIVED]


def test_readers_only_read() -> None:
    """No reader commits, builds a committed LoadResult or quotes a Delta predicate."""
    found = [
        f"{path.relative_to(REPO)}:{n}: {what}: {line.strip()}"
        for path in _readers()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, pattern in WRITES.items()
        if pattern.search(line)
    ]
    assert found == [], (
        "readers must return load packages (ingest/warehouse/load_contract.py):\n"
        + ("\n".join(found))
    )


def test_the_checks_see_a_writing_reader() -> None:
    """The patterns catch what the telemetry and on-prem readers did before the split."""
    old = [
        'status="committed",',
        "predicate = (",
        'f"x_PartMonth = {_quote(str(month))} AND source = {_quote(load.source)} "',
        'store.replace_rows("assets", ASSETS, staged, f"site IN ({sites})", result)',
        """sites = ", ".join("'" + s.replace("'", "''") + "'" for s in inv.sites)""",
        "with store.writer():",
        "write_deltalake(path, frame)",
    ]
    assert all(any(p.search(line) for p in WRITES.values()) for line in old)


def test_readers_take_the_contract_from_its_own_module() -> None:
    """Readers import PeriodLoad, SourceFile, LoadResult... from ingest.warehouse.load_contract."""
    found = [
        str(path.relative_to(REPO))
        for path in _readers()
        if re.search(r"^\s*from ingest\.store import", path.read_text(encoding="utf-8"), re.M)
    ]
    assert found == []


def test_only_the_pipeline_refreshes_and_records_after_an_ingest() -> None:
    commands = sorted((REPO / "dashboard" / "cli").glob("ingest*.py"))
    assert len(commands) >= 7  # ingest.py and one module per source
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in [*commands, *_readers()]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PIPELINE_ONLY.search(line)
    ]
    assert found == []
    pipeline = (INGEST / "pipeline.py").read_text(encoding="utf-8")
    assert pipeline.count("derived.refresh(") == 1
    assert pipeline.count(".record_error(") == 1


def test_no_ingest_module_is_over_500_lines() -> None:
    sizes = {str(p.relative_to(INGEST)): _lines(p) for p in INGEST.rglob("*.py")}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in KNOWN_LARGE}
    assert over == {}, "split these by concern (see ingest/warehouse/store.py for an example)"
    shrunk = [name for name in KNOWN_LARGE if sizes.get(name, 0) <= MAX_LINES]
    assert shrunk == [], "no longer over the limit: remove them from KNOWN_LARGE"
    assert {name: sizes[name] for name in WRITER if sizes[name] > MAX_LINES} == {}
