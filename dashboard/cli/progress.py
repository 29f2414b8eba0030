"""Terminal progress and load summaries shared by the ingest commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dashboard.cli.tables import Column, money, money_with_code, show
from ingest.warehouse.load_contract import LoadResult
from ingest.warehouse.load_contract import Progress as ProgressFn


@contextlib.contextmanager
def progress_bar(console: Console, title: str) -> Iterator[ProgressFn]:
    """A callback `(stage, done, total)` drawing one bar; silent when not on a terminal."""
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(title, total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{title}: {stage}", completed=done, total=total or None)

        yield update


def show_summary(console: Console, results: list[LoadResult]) -> None:
    """Closing summary: per billing period and currency, rows and both totals (at the
    currency's minor units; `finops loads --format csv` has them exactly)."""
    show(
        console,
        [
            "source", "account", "period", "currency", Column("rows", number=True),
            Column("source total", number=True), Column("warehouse total", number=True),
            Column("difference", number=True), "status",
        ],
        [
            (
                r.source, r.billing_account, r.billing_period, r.currency or "", f"{r.rows:,}",
                money(r.source_total, r.currency), money(r.warehouse_total, r.currency),
                money(r.difference, r.currency),
                r.status if r.table_version is None else f"{r.status} (v{r.table_version})",
            )
            for r in results
        ],
        title="Loaded",
    )  # fmt: skip


def _span(periods: list[str]) -> str:
    first, last = min(periods), max(periods)
    return first if first == last else f"{first} .. {last}"


def _statuses(results: list[LoadResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def show_brief(console: Console, results: list[LoadResult], unit: str = "rows") -> None:
    """One line per source, account and currency: periods, rows and the reconciled total
    (what `finops demo` prints; `finops loads` has every period to the last digit)."""
    groups: dict[tuple[str, str, str | None], list[LoadResult]] = {}
    for r in results:
        key = (r.source, r.billing_account, r.currency) if unit == "rows" else (r.source, "", None)
        groups.setdefault(key, []).append(r)
    for (source, account, currency), group in groups.items():
        periods = sorted({r.billing_period for r in group})
        count = len(periods)
        text = (
            f"{source}{' ' + account if account else ''}: {count} "
            f"{'period' if unit == 'rows' else 'month'}{'s' * (count != 1)} ({_span(periods)}), "
            f"{sum(r.rows for r in group):,} {unit}"
        )
        totals = [r for r in group if r.source_total is not None]
        if totals:
            source_total = sum((r.source_total for r in totals), Decimal(0))
            warehouse_total = sum((r.warehouse_total or Decimal(0) for r in totals), Decimal(0))
            if source_total == warehouse_total:
                text += f", {money_with_code(source_total, currency)} in source and warehouse"
            else:  # a committed load reconciles; kept readable should that ever change
                text += (
                    f", source {money_with_code(source_total, currency)}, "
                    f"warehouse {money_with_code(warehouse_total, currency)}"
                )
        console.print(f"{text}: {_statuses(group)}")
