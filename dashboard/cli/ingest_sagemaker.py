"""`finops ingest serving sagemaker`: SageMaker endpoints' Invocations into `serving_usage`."""

from __future__ import annotations

import click

from dashboard.cli.finops import App


@click.command("sagemaker")
@click.option("--region", help="The endpoints' AWS region (default: [sources.aws] region).")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    help="An endpoint's name, or NAME/VARIANT for one variant, read even when CloudWatch no "
    "longer lists it (repeat for several; default: every endpoint with Invocations).",
)
@click.option("--start", required=True, help="Start time, ISO 8601 with zone, on the hour.")
@click.option("--end", required=True, help="End time, exclusive, on the hour.")
@click.option(
    "--period",
    default=3600,
    show_default=True,
    help="Seconds of each Sum read (60 to 3600, dividing an hour); hourly rows either way.",
)
@click.pass_obj
def sagemaker(
    app: App, region: str | None, endpoints: tuple[str, ...], start: str, end: str, period: int
) -> None:
    """Requests of SageMaker real-time endpoints: CloudWatch's Invocations (namespace
    AWS/SageMaker, per EndpointName and VariantName), Sum per hour, through GetMetricData
    with boto3's standard credential chain. Stored per endpoint (host), variant (pod) and
    hour; the model is the endpoint's name unless [[endpoints]] of the model catalogue maps
    it. SageMaker counts no tokens: they are stored as unknown, not zero."""
    import contextlib

    from dashboard.cli.ingest_telemetry import _time, loaded
    from ingest import pipeline
    from ingest.sources import sagemaker as sm
    from ingest.warehouse.load_contract import ServingLoad, SourceFile
    from models.model_catalogue import default_catalogue

    aws = app.settings.aws
    region = sm.check_region(region or aws.region)
    t0, t1 = _time(start, "--start"), _time(end, "--end")
    if aws.endpoint_url:  # checked before anything is stored: a password never reaches a record
        from ingest.sources.s3 import check_endpoint

        check_endpoint(aws.endpoint_url, "[sources.aws] endpoint_url")
    target = f"cloudwatch {region} {sm.NAMESPACE}"
    rows = None

    @contextlib.contextmanager
    def read():
        nonlocal rows
        rows = sm.fetch_usage(
            region,
            t0,
            t1,
            default_catalogue(),
            endpoints=endpoints,
            period_s=period,
            endpoint_url=aws.endpoint_url,
            profile=aws.profile,
        )
        files = [SourceFile(f"{target} Invocations {start}..{end}", "-", 0)]
        yield [ServingLoad("cloudwatch", rows, files, target, namespace=region)]

    outcome = pipeline.run(
        app.store(), app.settings, "cloudwatch", target, read, dataset="serving_usage"
    )
    if not loaded(app, outcome.of("serving_usage"), "variant-hours", "Loaded SageMaker requests"):
        app.console.print("No SageMaker invocations found.")
        return
    names = sorted(set(rows["host"])) if rows is not None else []
    app.console.print(f"Endpoints (hosts) in {region}: {', '.join(names)}.")
    app.console.print(
        "SageMaker counts requests, not tokens: tokens are unknown for these endpoints. "
        "Cost per 1k requests: `finops unit-costs` (the cost lines of each endpoint's ARN)."
    )
