"""`finops ingest telemetry ...`: GPU utilisation into `gpu_util`, one row per GPU-hour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from dashboard.cli.finops import App
from ingest.warehouse.load_contract import LoadResult
from models.settings import PROMETHEUS_AUTH_MODES

HOST_MAP = click.option(
    "--host-map",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV host,resource_id tying hosts to billed resources (instance ids, asset ids).",
)


def _time(text: str, name: str) -> datetime:
    from models.errors import InputError

    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{name} is not a time", expected="ISO 8601, e.g. 2026-10-01T00:00:00Z", found=text
        ) from None
    if stamp.tzinfo is None:
        raise InputError(
            f"{name} has no time zone",
            expected="a zone, e.g. 2026-10-01T00:00Z",
            found=text,
            hint="add Z for UTC",
        )
    return stamp.astimezone(UTC)


def _store(app: App, source: str, target: str, build, host_map: Path | None) -> None:
    """Build the GPU-hours (`build()` -> (files, lazy rows)), map hosts, then load them
    through the pipeline (commit, derived refresh) and summarise."""
    import contextlib

    import polars as pl

    from ingest import pipeline
    from ingest.derive import host_map as hm
    from ingest.warehouse.load_contract import HourlyLoad

    frame = pl.DataFrame()

    @contextlib.contextmanager
    def read():
        nonlocal frame
        mapping = hm.read_host_map(host_map) if host_map else {}
        files, rows = build()
        assets: dict[str, str] = {}
        if app.warehouse.exists():
            from ingest.warehouse.connection import connect

            table = connect(app.warehouse, derived=False).sql("from assets").to_arrow_table()
            assets = hm.from_assets(pl.DataFrame(pl.from_arrow(table)))
        frame = hm.resolve(rows.lazy(), mapping, assets).collect()
        yield [HourlyLoad(source, frame, files, target)]

    outcome = pipeline.run(app.store(), app.settings, source, target, read, dataset="gpu_util")
    _summary(app, outcome.of("gpu_util"), frame)


def loaded(app: App, results: list[LoadResult], unit: str, title: str) -> bool:
    """One line per source (`finops demo`) or a row per month of hourly loads; False when
    nothing was loaded."""
    if not results:
        return False
    from dashboard.cli.progress import show_brief
    from dashboard.cli.tables import Column, show

    if app.brief:
        show_brief(app.console, results, unit=unit)
    else:
        show(
            app.console,
            ["source", "month", "hosts", Column(unit, number=True), "status"],
            [
                (r.source, r.billing_period, r.billing_account, f"{r.rows:,}",
                 f"{r.status} (v{r.table_version})")
                for r in results
            ],
            title=title,
        )  # fmt: skip
    return True


def _summary(app: App, results: list[LoadResult], frame) -> None:
    if not loaded(app, results, "GPU-hours", "Loaded GPU-hours"):
        app.console.print("No GPU samples found.")
        return
    unmapped = sorted(set(frame.filter(frame["resource_id"].is_null())["host"]))
    if unmapped:
        app.console.print(
            f"{len(unmapped)} host(s) not tied to a billed resource (give --host-map): "
            + ", ".join(unmapped[:5])
            + (" ..." if len(unmapped) > 5 else "")
        )


def server(
    app: App,
    target: str,
    start: str | None,
    end: str | None,
    auth: str | None,
    ca_bundle: Path | None,
    org_id: str | None,
    region: str | None,
):
    """A Prometheus client for `target` with its credentials, and the --start/--end range;
    checked before anything is stored (a refused URL never reaches load_errors)."""
    from ingest.sources import prometheus as prom
    from ingest.sources import prometheus_auth
    from models.errors import InputError

    prometheus_auth.check_url(target)
    if not start or not end:
        raise InputError(
            "a Prometheus URL needs --start and --end",
            expected="--start 2026-10-01T00:00Z --end 2026-11-01T00:00Z",
        )
    t0, t1 = _time(start, "--start"), _time(end, "--end")
    conf = app.settings.prometheus
    org = org_id or conf.org_id
    client = prom.Client(
        target,
        auth=prometheus_auth.resolve(target, auth, conf, app.settings.aws.profile, region),
        tls=prometheus_auth.tls_context(ca_bundle or conf.ca_bundle),
        headers={"X-Scope-OrgID": org} if org else {},
    )
    return client, t0, t1


def server_options(command):
    """The options of a Prometheus server: range, credentials, TLS, tenant."""
    for option in reversed(
        (
            click.option("--start", help="Start time, ISO 8601 with zone (for a URL)."),
            click.option("--end", help="End time, exclusive (for a URL)."),
            click.option(
                "--auth",
                type=click.Choice(PROMETHEUS_AUTH_MODES),
                help="Credentials (default: [sources.prometheus] auth, else by host: "
                "aps-workspaces.<region>.amazonaws.com -> sigv4, "
                "*.prometheus.monitor.azure.com -> azure, others none).",
            ),
            click.option(
                "--ca-bundle",
                type=click.Path(path_type=Path, dir_okay=False),
                help="PEM file of the CA that signed the server's certificate (a private CA).",
            ),
            click.option("--org-id", help="Tenant sent as X-Scope-OrgID (Mimir, Cortex)."),
            click.option(
                "--region", help="AWS region for --auth sigv4 when the URL does not say it."
            ),
        )
    ):
        command = option(command)
    return command


@click.group()
def group() -> None:
    """Load GPU utilisation telemetry (Prometheus/DCGM, nvidia-smi logs, CloudWatch agent)."""


@group.command("prometheus")
@click.argument("target")
@server_options
@click.option("--query-set", default="dcgm", show_default=True, help="Queries to run.")
@HOST_MAP
@click.pass_obj
def prometheus(
    app: App,
    target: str,
    start: str | None,
    end: str | None,
    query_set: str,
    auth: str | None,
    ca_bundle: Path | None,
    org_id: str | None,
    region: str | None,
    host_map: Path | None,
) -> None:
    """DCGM exporter metrics from a Prometheus-compatible server URL (query_range, hourly), or
    from a file or folder of saved query_range answers (*.json).

    Secrets come from $FINOPS_PROMETHEUS_TOKEN (bearer), $FINOPS_PROMETHEUS_USER and
    $FINOPS_PROMETHEUS_PASSWORD (basic), boto3's chain (sigv4) or DefaultAzureCredential
    (azure); never put them in the URL."""
    from ingest.sources import prometheus as prom

    if target.startswith(("http://", "https://")):
        client, t0, t1 = server(app, target, start, end, auth, ca_bundle, org_id, region)

        def build():
            from ingest.warehouse.load_contract import SourceFile

            rows = prom.fetch_hourly(client, t0, t1, query_set)
            return [
                SourceFile(f"{target} {t0:%Y-%m-%dT%H:%MZ}..{t1:%Y-%m-%dT%H:%MZ}", "-", 0)
            ], rows
    else:

        def build():
            from ingest.sources.prometheus_answers import read_answers

            return read_answers(Path(target))

    _store(app, "prometheus", target, build, host_map)


@group.command("nvidia-smi")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", help="Host of every log (default: each file's name).")
@click.option("--tz", help="Zone of the logs' clock (nvidia-smi prints local time), e.g. UTC.")
@HOST_MAP
@click.pass_obj
def nvidia_smi(
    app: App, files: tuple[Path, ...], host: str | None, tz: str | None, host_map: Path | None
) -> None:
    """nvidia-smi --query-gpu CSV logs (files or folders of <host>.csv[.gz])."""
    from ingest.sources import nvidia_smi as smi
    from ingest.sources import telemetry

    def build():
        records, parts = [], []
        for record, samples in smi.read_logs(list(files), host, tz):
            records.append(record)
            parts.append(telemetry.partials(samples).collect().lazy())
        return records, telemetry.finish(parts)

    _store(app, "nvidia-smi", " ".join(map(str, files)), build, host_map)


@group.command("cloudwatch")
@click.option("--region", required=True)
@click.option("--start", required=True, help="Start time, ISO 8601 with zone.")
@click.option("--end", required=True, help="End time, exclusive.")
@click.option("--namespace", default="CWAgent", show_default=True)
@click.option("--period", default=60, show_default=True, help="Agent interval (s).")
@HOST_MAP
@click.pass_obj
def cloudwatch(
    app: App, region: str, start: str, end: str, namespace: str, period: int, host_map: Path | None
) -> None:
    """CloudWatch agent GPU metrics (nvidia_smi_*) through GetMetricData."""
    from ingest.sources import cloudwatch as cw
    from ingest.sources import telemetry
    from ingest.warehouse.load_contract import SourceFile

    t0, t1 = _time(start, "--start"), _time(end, "--end")
    aws = app.settings.aws
    if aws.endpoint_url:  # checked before anything is stored: a password never reaches a record
        from ingest.sources.s3 import check_endpoint

        check_endpoint(aws.endpoint_url, "[sources.aws] endpoint_url")

    def build():
        samples = cw.fetch_samples(
            region,
            t0,
            t1,
            namespace=namespace,
            period_s=period,
            endpoint_url=aws.endpoint_url,
            profile=aws.profile,
        )
        record = SourceFile(f"cloudwatch {region} {namespace} {start}..{end}", "-", 0)
        return [record], telemetry.finish([telemetry.partials(samples)])

    _store(app, "cloudwatch", f"cloudwatch {region}", build, host_map)
