"""The finance pack: one month of AI spend, reconciled to the invoices, as XLSX, PDF and CSV.

Public entry point (used by `finops report` and the dashboard's Reports page):

    build_pack(source, month, formats=("xlsx", "pdf", "csv"), out_dir=None,
               currency=None, settings=None, generated_at=None, basis="amortised") -> Pack

- `source`: a warehouse folder (opened read-only) or a connection from
  `ingest.warehouse.connection.connect` (its views, derived ones included, are used as they are).
- `month`: "YYYY-MM" or a `Month`.
- `out_dir`: where files go (created if needed); None computes the sections only.
- `currency`: the currency reported (default `[report] currency`, else USD); lines in other
  currencies are listed in the notes, never added in.
- `settings`: the parsed finops.toml (`[report]` invoices and `[budgets]` are read from it).
- `generated_at`: the stamp printed on the cover (default now); everything else in the files
  depends only on the warehouse snapshot and the settings.
- `basis`: the cost basis of the spend sections (summary by provider, AI class and team;
  budgets, trend, chargeback, egress, tools): "amortised" (EffectiveCost, the default) or
  "billed" (BilledCost). Reconciliation is always billed (it reconciles to the invoices);
  idle GPU and on-prem parts are always amortised. Each section names its basis in its
  title (`Section.basis`), so do the sheets, the PDF headings and the CSV files.

`Pack.sections` maps a name (summary, budgets, trend, reconciliation, onprem_parts,
chargeback, idle_gpu, egress, tools, commitments, training_runs, unit_costs, notes) to a
`Section` whose `frame` holds exact Decimal money; `Pack.files` maps each format to the files
written; `Pack.reconciled` says whether every source account matched. Raises InputError for an
unknown month or currency and ConfigError for a bad `[report]`/`[budgets]` section.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from dashboard.report import data as report_data
from dashboard.report import runs as report_runs
from dashboard.report import sections as report_sections
from dashboard.report import usage as report_usage
from dashboard.report.config import ReportSettings, report_settings
from dashboard.report.model import FORMATS, Month, Pack, Section
from models.cost_basis import CostBasis, parse_basis
from models.errors import InputError
from models.settings import Settings


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise InputError(
            "unknown report format",
            location="--format",
            expected="a comma-separated list of " + ", ".join(FORMATS),
            found=", ".join(bad) or "nothing",
        )
    return out


def build_pack(
    source: Path | str | duckdb.DuckDBPyConnection,
    month: str | Month,
    formats: str | Iterable[str] = FORMATS,
    out_dir: Path | str | None = None,
    currency: str | None = None,
    settings: Settings | None = None,
    generated_at: datetime | None = None,
    basis: str | CostBasis | None = None,
) -> Pack:
    """Compute the month's sections and write the requested files (see the module doc)."""
    month = month if isinstance(month, Month) else Month.parse(month)
    basis = parse_basis(basis)
    wanted = parse_formats(formats)
    cfg = report_settings(settings or Settings())
    currency = (currency or cfg.currency).upper()
    if isinstance(source, duckdb.DuckDBPyConnection):
        con = source.cursor()  # own temp tables and results; the caller's connection is untouched
    else:
        from ingest.warehouse import connection as warehouse
        from ingest.warehouse import views

        settings = settings or Settings()
        views.register_all(settings)  # classified_costs, gpu_hours, ...
        con = warehouse.connect(
            warehouse.require(source), memory_limit=settings.warehouse.memory_limit
        )
    sections, totals = compute(con, month, currency, cfg, basis)
    if currency == "USD":  # the price book is in USD
        placed = report_usage.placement(con, settings or Settings())
        if placed is not None:
            sections[placed.name] = placed
    stamp = (generated_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    un = cfg.allocation.unallocated
    cover = headline(sections, totals, un, basis)
    pack = Pack(month, currency, stamp, sections, headline=cover, basis=basis)
    if out_dir is not None:
        write(pack, Path(out_dir), wanted)
    return pack


def compute(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    currency: str,
    cfg: ReportSettings,
    basis: CostBasis = CostBasis.AMORTISED,
) -> tuple[dict[str, Section], dict[str, Decimal]]:
    """The sections (spend ones on `basis`) and the month's totals on both bases."""
    sources = report_data.Sources.of(con)
    report_data.stage(con, month, sources)
    try:
        report_data.check_month(con, month, currency)
        gaps = []
        if not sources.classified:
            gaps.append(
                "classification (classified_costs) is not available: AI class, egress and "
                "tool families are unknown and team comes from tags only"
            )
        idle, why = report_usage.idle(con, month, sources, currency)
        if why:
            gaps.append(why)
        rec = report_sections.reconciliation(con, month, cfg)
        totals = report_sections.totals(con, month, currency)
        parts: list[Section | None] = [
            report_sections.summary(con, month, currency, cfg.allocation.unallocated, basis),
            report_sections.budgets(con, month, currency, cfg, basis),
            report_sections.trend(con, month, currency, basis),
            rec,
            report_sections.onprem_parts(con, month, currency),
            report_sections.chargeback(con, month, currency, cfg, basis),
            idle,
            report_usage.egress(con, month, currency, basis),
            report_usage.tools(con, month, currency, basis),
            report_usage.commitments(con, month, currency),
            report_runs.training_runs(con, month, currency, cfg.idle_below),
            report_usage.unit_costs(con, month, currency) if sources.unit_costs else None,
            report_usage.notes(con, month, currency, cfg, gaps, idle, rec),
        ]
    finally:
        con.execute(f"drop table if exists {report_data.LINES}")
    return {s.name: s for s in parts if s is not None}, totals


def headline(
    sections: dict[str, Section],
    totals: dict[str, Decimal],
    unallocated: str,
    basis: CostBasis = CostBasis.AMORTISED,
) -> dict[str, Decimal]:
    """The figures on the cover: what a CFO reads first, each naming its basis (idle GPU
    waste is amortised and unused commitments are what the commitments section says)."""
    chargeback = sections["chargeback"].frame.filter(pl.col("team") == unallocated)
    b = basis.value
    out = {
        "Total billed": totals["billed"],
        "Total amortised": totals["amortised"],
        f"Previous month {b}": totals[f"previous_{b}"],
        f"Change on previous month ({b})": totals[b] - totals[f"previous_{b}"],
        "Idle GPU waste": sections["idle_gpu"].total("idle_cost"),
        "Unused commitments": sections["commitments"].total("unused_cost"),
        f"Data egress ({b})": sections["egress"].total(f"{b}_cost"),
        f"Unallocated (no team, {b})": sum(
            (Decimal(v) for v in chargeback["total_cost"]), Decimal(0)
        ),
    }
    return out


def stem(pack: Pack) -> str:
    """finops-2026-10 (amortised, USD), finops-2026-10-billed-EUR: the file names say what
    differs from the defaults, so packs of both bases sit side by side."""
    suffix = "" if pack.basis == CostBasis.AMORTISED else f"-{pack.basis.value}"
    suffix += "" if pack.currency == "USD" else f"-{pack.currency}"
    return f"finops-{pack.month}{suffix}"


def write(pack: Pack, out_dir: Path, formats: Iterable[str]) -> None:
    from dashboard.report import csv_files as report_csv
    from dashboard.report import pdf as report_pdf
    from dashboard.report import xlsx as report_xlsx

    check_out_dir(out_dir, make=True)
    name = stem(pack)
    try:
        for fmt in formats:
            if fmt == "xlsx":
                pack.files["xlsx"] = [report_xlsx.write(pack, out_dir / f"{name}.xlsx")]
            elif fmt == "pdf":
                pack.files["pdf"] = [report_pdf.write(pack, out_dir / f"{name}.pdf")]
            elif fmt == "csv":
                pack.files["csv"] = report_csv.write(pack, out_dir, name)
    except OSError as exc:  # the disk filled up, the folder went away mid-write
        raise _cannot_write(Path(str(exc.filename or out_dir)), exc) from None


def check_out_dir(out_dir: Path, make: bool = False) -> None:
    """The pack's folder is a folder that takes a new file, or can be made where it is missing
    (`make` makes it); else one message. Without `make` nothing is left behind."""
    import errno
    import tempfile

    from ingest.sources.input_path import kind_of

    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(
                "not a folder",
                file=str(out_dir),
                location="--out",
                expected="a folder for the pack's files (made if missing)",
                found=kind_of(out_dir.stat().st_mode),
                hint="the pack is several files: give a folder",
            )
        if make:
            out_dir.mkdir(parents=True, exist_ok=True)
        existing = next(p for p in (out_dir, *out_dir.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        tempfile.TemporaryFile(dir=existing).close()  # the folder, or where it will be made
    except OSError as exc:
        raise _cannot_write(out_dir, exc) from None


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(
        "cannot write the report",
        file=str(path),
        location="--out",
        expected="a folder this user can write",
        found=(exc.strerror or type(exc).__name__).lower(),
        hint="choose another --out folder, or give this one write access; nothing was written",
    )
