"""`finops sample`: write the sample enterprise (native exports + planted truth)."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.progress import progress_bar


def parse_scale(text: str) -> str | int:
    if text in ("small", "medium"):
        return text
    if text.replace("_", "").isdigit():
        return int(text.replace("_", ""))
    raise click.BadParameter("expected small, medium or a number of lines", param_hint="--scale")


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Same seed, same bytes.")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 60))
@click.option("--scale", default="small", show_default=True, help="small, medium or LINES.")
@click.pass_obj
def command(app: App, out: Path, seed: int, months: int, scale: str) -> None:
    """Write a hybrid AI enterprise's exports in their native formats, with truth.json."""
    from ingest.sample.generator import generate

    with progress_bar(app.err_console, "sample") as progress:
        generate(out, seed=seed, months=months, scale=parse_scale(scale), progress=progress)
    app.console.print(f"Wrote the sample enterprise to {out} (truth: {out / 'truth.json'})")
