"""`finops ingest SOURCE ...`: each source's command lives in its own module."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import click

from dashboard.cli.finops import App, LazyGroup
from dashboard.cli.progress import progress_bar, show_brief, show_summary
from ingest.sources.input_path import check_input
from ingest.warehouse.load_contract import LoadResult, PeriodLoad
from models.urls import redact

SOURCES = {
    "aws": "dashboard.cli.ingest_aws:command",
    "focus": "dashboard.cli.ingest_focus:command",
    "azure": "dashboard.cli.ingest_azure:command",
    "gcp": "dashboard.cli.ingest_gcp:command",
    "onprem": "dashboard.cli.ingest_onprem:command",
    "telemetry": "dashboard.cli.ingest_telemetry:group",
    "jobs": "dashboard.cli.ingest_jobs:group",
    "serving": "dashboard.cli.ingest_serving:group",
    "saas": "dashboard.cli.ingest_saas:command",
}


@click.group(cls=LazyGroup, lazy=SOURCES)
def group() -> None:
    """Load billing exports, inventories, telemetry and invoices into the warehouse."""


def allow_shrink_option(command: Callable) -> Callable:
    """`--allow-shrink` for every cost-line ingest command (read by `load_cost_lines`)."""

    def remember(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
        ctx.meta["allow_shrink"] = value
        return value

    return click.option(
        "--allow-shrink",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Load even if a billing period already stored would shrink by more than "
        "[warehouse] max_shrink (a provider's real restatement, not a truncated export).",
    )(command)


def load_cost_lines(
    app: App,
    source: str,
    target: str,
    open_batches: Callable[[], contextlib.AbstractContextManager[Iterable[PeriodLoad]]],
) -> list[LoadResult]:
    """Run one cost-line ingest through the pipeline (ingest/pipeline.py) with a progress
    bar, then show the closing summary.

    `open_batches` is a context manager yielding the periods to load (it may download files
    first and clean up after). A failure is recorded for the Data health page and re-raised.
    """
    from ingest import pipeline

    with progress_bar(app.err_console, f"{source} {redact(target)}") as progress:
        outcome = pipeline.run(
            app.store(),
            app.settings,
            source,
            target,
            open_batches,
            progress=progress,
            allow_shrink=click.get_current_context().meta.get("allow_shrink", False),
        )
    results = outcome.of("cost_lines")
    show_loaded(app, results, target, outcome.skipped)
    return results


def show_loaded(app: App, results: list[LoadResult], target: str, skipped: list) -> None:
    """The closing summary of a cost-line ingest, and the deliveries it left unread."""
    if results:
        (show_brief if app.brief else show_summary)(app.console, results)
    else:
        app.console.print(f"Nothing to load in {redact(target)}.")
    for item in skipped:
        app.console.print(item.note(), markup=False, highlight=False)


def file_or_s3_command(source: str, reader: str, help_text: str) -> click.Command:
    """`finops ingest SOURCE PATH_OR_URI` for readers whose exports sit in files or on S3.

    `reader` names an ingest module with `open_export(root, display=None)`, a context manager
    yielding the PeriodLoads of a local folder or file.
    """

    @click.command(help=help_text)
    @click.argument("target", metavar="PATH_OR_URI")
    @click.option(
        "--profile", metavar="NAME", help="AWS profile for s3:// (default credential chain)."
    )
    @click.option("--endpoint-url", metavar="URL", help="S3-compatible endpoint for s3://.")
    @allow_shrink_option
    @click.pass_obj
    def command(app: App, target: str, profile: str | None, endpoint_url: str | None) -> None:
        import importlib

        from ingest.sources import s3

        module = importlib.import_module(reader)
        if endpoint_url:  # checked before anything is stored: a password never reaches a record
            s3.check_endpoint(endpoint_url)

        @contextlib.contextmanager
        def batches() -> Iterator[list]:
            if s3.is_uri(target):
                with (
                    s3.download(target, profile, endpoint_url) as got,
                    module.open_export(got.target or got.root, got.display) as loads,
                ):
                    yield loads
            else:
                check_input(Path(target))
                with module.open_export(Path(target)) as loads:
                    yield loads

        load_cost_lines(app, source, target, batches)

    return command
