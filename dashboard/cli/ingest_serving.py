"""`finops ingest serving ...`: model servers' requests and tokens into `serving_usage`."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.ingest_sagemaker import sagemaker
from dashboard.cli.ingest_telemetry import loaded, server, server_options


@click.group()
def group() -> None:
    """Load model-serving metrics (vLLM, Triton, TGI request and token counters; SageMaker
    endpoint invocations)."""


group.add_command(sagemaker)


@group.command("prometheus")
@click.argument("target")
@server_options
@click.option(
    "--step",
    default=60,
    show_default=True,
    help="Seconds between the samples read from a server (the scrape interval or a multiple).",
)
@click.pass_obj
def prometheus(
    app: App,
    target: str,
    start: str | None,
    end: str | None,
    auth: str | None,
    ca_bundle: Path | None,
    org_id: str | None,
    region: str | None,
    step: int,
) -> None:
    """Request and token counters of vLLM (vllm:request_success_total,
    vllm:prompt_tokens_total, vllm:generation_tokens_total), NVIDIA Triton
    (nv_inference_request_success) and Hugging Face TGI (tgi_request_success,
    tgi_request_input_length_sum, tgi_request_generated_tokens_sum) from a Prometheus
    server URL (query_range of the counters at --step, read a day at a time with progress on
    stderr), or from a file or folder of saved query_range answers (*.json, *.json.gz).
    Hourly per model and host, counter resets (restarts) counted from zero.

    Credentials as for `finops ingest telemetry prometheus`."""
    import contextlib

    from ingest import pipeline
    from ingest.sources import serving
    from ingest.warehouse.load_contract import ServingLoad, SourceFile

    if target.startswith(("http://", "https://")):
        client, t0, t1 = server(app, target, start, end, auth, ca_bundle, org_id, region)

        def build():
            from dashboard.cli.progress import progress_bar
            from models.urls import redact

            span = f"{target} {t0:%Y-%m-%dT%H:%MZ}..{t1:%Y-%m-%dT%H:%MZ}"
            # a day of samples a window: a year is hundreds of windows, shown on stderr
            with progress_bar(app.err_console, f"serving {redact(target)}") as progress:
                rows = serving.fetch(client, t0, t1, step, progress)
            return [SourceFile(span, "-", 0)], rows
    else:

        def build():
            return serving.read_answers(Path(target))

    rows = None

    @contextlib.contextmanager
    def read():
        nonlocal rows
        files, lazy = build()
        rows = lazy.collect()
        yield [ServingLoad("prometheus", rows, files, target)]

    outcome = pipeline.run(
        app.store(), app.settings, "prometheus", target, read, dataset="serving_usage"
    )
    _summary(app, outcome.of("serving_usage"), rows)


def _summary(app: App, results, rows) -> None:
    if not loaded(app, results, "model-hours", "Loaded serving usage"):
        app.console.print("No serving counters found.")
        return
    resets = int(rows["resets"].sum()) if rows is not None and rows.height else 0
    if resets:
        app.console.print(
            f"{resets} counter reset(s) (server restarts) counted from zero, as Prometheus does."
        )
