"""Terminal progress and load summaries shared by the ingest commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dashboard.commands.tables import Column, show
from ingest.store import LoadResult
from ingest.store import Progress as ProgressFn


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


def money(value) -> str:
    return "" if value is None else f"{value:,.12f}".rstrip("0").rstrip(".")


def show_summary(console: Console, results: list[LoadResult]) -> None:
    """Closing summary: per billing period and currency, rows and both totals."""
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
                money(r.source_total), money(r.warehouse_total), money(r.difference),
                r.status if r.table_version is None else f"{r.status} (v{r.table_version})",
            )
            for r in results
        ],
        title="Loaded",
    )  # fmt: skip
