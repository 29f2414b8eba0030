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

# The writer: the only modules that change the warehouse's loaded tables (all but the
# pipeline live in ingest/warehouse/).
WRITER = {
    "warehouse/store.py", "warehouse/cost_line_load.py", "warehouse/scoped_load.py",
    "warehouse/delta_commit.py", "warehouse/loads_log.py", "warehouse/vacuum.py", "pipeline.py",
    "warehouse/alert_log.py",
}  # fmt: skip
# Derived data (rebuilt from what was loaded): its DuckDB SQL and its commits through
# Store.replace_derived.
DERIVED = {
    "derive/refresh.py", "derive/classified.py", "derive/lineage.py", "derive/gpu_hours.py",
    "derive/billed_hours.py", "derive/line_classes.py", "derive/gpu_rollups.py",
    "derive/month_inputs.py", "derive/rollups.py", "derive/unit_costs.py", "derive/api_usage.py",
}  # fmt: skip
# No module of ours passes this; a longer one is split by concern (domain-noun modules).
MAX_LINES = 500
PACKAGES = ("models", "ingest", "dashboard")

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
        r"\.(?:load_cost_lines|load_gpu_util|load_serving_usage|load_assets|replace_rows|"
        r"replace_derived)\(|"
        r"\.writer\(\)"
    ),
}
# What only the pipeline does after an ingest.
PIPELINE_ONLY = re.compile(r"derived\.refresh\(|\.record_error\(|\.load_cost_lines\(")


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _readers() -> list[Path]:
    return [
        p
        for p in sorted(INGEST.rglob("*.py"))
        if p.relative_to(INGEST).as_posix() not in WRITER | DERIVED
    ]


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


def test_no_module_is_over_500_lines() -> None:
    sizes = {
        p.relative_to(REPO).as_posix(): _lines(p)
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
    }
    assert len([name for name in sizes if name.startswith("dashboard/")]) > 40  # all were seen
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert over == {}, "split these by concern (see ingest/warehouse/store.py for an example)"


def test_writer_and_derived_modules_exist() -> None:
    """The sets above name real files: a move or a split that forgets them fails here."""
    assert sorted(name for name in WRITER | DERIVED if not (INGEST / name).is_file()) == []


def test_pages_name_their_queries_by_function() -> None:
    """A page asks `session.ask(queries_gpu.ranking, ...)`, never a module or function name in
    a string: a renamed or moved query then fails at import, and lint sees every use."""
    by_name = re.compile(r"""\bask\(\s*["']|\bmodule\s*=\s*["']|import_module\(""")
    app = REPO / "dashboard" / "app"
    found = [
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for path in sorted(app.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for m in by_name.finditer(text)
    ]
    assert found == []
    assert by_name.search('session.ask("ranking", f, module="queries_gpu")')
    assert by_name.search('session.ask(\n    "anomaly_drivers",')
