"""SageMaker endpoints' `Invocations` from CloudWatch -> hourly serving usage.

SageMaker publishes `Invocations` in namespace AWS/SageMaker with dimensions EndpointName and
VariantName (models/sagemaker.py). We list the endpoints' variants that have the metric
(ListMetrics; metrics with other dimension sets, such as inference components', are left
alone so nothing is counted twice; a variant named as NAME/VARIANT is read unlisted), then
read their Sum per period (`period_s`, an hour by default) with GetMetricData, through the
same client, paging and refusals as the GPU metrics
(ingest/sources/cloudwatch.py). Credentials come from boto3's standard chain only.

Refused with one message and nothing stored: no Invocations in the region (the message says
which SageMaker metrics there are), an endpoint that is not there (with a "did you mean"),
no datapoints in the time range (naming the endpoints listed), a period CloudWatch does not
offer or that does not divide an hour, times that are not whole UTC hours, a missing or
malformed region.
"""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl

from ingest.sources.cloudwatch import check_window, make_client, metric_data, refusals
from models.errors import InputError, did_you_mean
from models.model_catalogue import Catalogue
from models.sagemaker import DIMENSIONS, METRIC, NAMESPACE, POINTS, usage

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def check_region(region: str | None) -> str:
    """The region to read, or one message saying how to give it."""
    if not region:
        raise InputError(
            "no AWS region to read SageMaker metrics from",
            expected="--region REGION (e.g. us-east-1), or region in [sources.aws] of finops.toml",
            found="neither",
            hint="CloudWatch keeps each region's metrics apart: give the endpoints' region",
        )
    if not REGION.match(region):
        raise InputError(
            "--region is not an AWS region",
            expected="a region code such as us-east-1 or eu-west-2",
            found=repr(region),
        )
    return region


def check_hours(start: datetime, end: datetime, period_s: int) -> None:
    """Rows are whole hours: the range starts and ends on the hour, each period fits an hour a
    whole number of times, and Invocations has no periods under a minute."""
    if period_s < 60 or 3600 % period_s:
        raise InputError(
            "--period does not divide an hour into whole minutes",
            expected="60, 300, 600, 900, 1800 or 3600 seconds (Invocations is a one-minute "
            "metric; hourly rows need periods that fit an hour exactly)",
            found=str(period_s),
        )
    for name, t in (("--start", start), ("--end", end)):
        if (t.minute, t.second, t.microsecond) != (0, 0, 0):
            raise InputError(
                f"{name} is not on the hour",
                expected="a whole UTC hour, e.g. 2026-10-01T00:00Z",
                found=f"{t:%Y-%m-%dT%H:%M:%SZ}",
                hint="a partial hour would replace a whole hour's stored requests",
            )


def fetch_usage(
    region: str,
    start: datetime,
    end: datetime,
    catalogue: Catalogue,
    *,
    endpoints: tuple[str, ...] = (),
    period_s: int = 3600,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> pl.DataFrame:
    """Hourly serving_usage rows (without source and x_LoadId) of the endpoints' variants
    (all that have Invocations, or those of `endpoints`) in [start, end)."""
    check_window(start, end, period_s)
    check_hours(start, end, period_s)
    where = f"cloudwatch {region} {NAMESPACE} {METRIC}"
    with refusals(where, profile):
        client = make_client(region, endpoint_url, profile)
        listed = _list(client)
        if not listed and not any("/" in e for e in endpoints):
            raise _nothing_listed(client, region, where)
        chosen = _choose(listed, endpoints, where)
        metrics = [m for _, _, m in chosen]
        rows = [
            {"endpoint": chosen[i][0], "variant": chosen[i][1], "ts": ts, "value": value}
            for i, stamps, values in metric_data(client, metrics, start, end, period_s, "Sum")
            for ts, value in zip(stamps, values, strict=True)
        ]
    if not rows:
        names = sorted({e for e, _, _ in chosen})
        raise InputError(
            "no SageMaker Invocations datapoints in the time range",
            file=where,
            location=f"{start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ}",
            expected=f"Sums of Invocations of endpoint(s) {', '.join(names[:5])}"
            + (" ..." if len(names) > 5 else ""),
            found="none: the endpoints were not invoked in the range, or CloudWatch no "
            "longer keeps it",
            hint="check --start/--end (UTC); CloudWatch keeps one-minute points 15 days, "
            "five-minute points 63 days and hourly points 455 days",
        )
    return usage(pl.DataFrame(rows, schema=POINTS), region, catalogue, where)


def _list(client) -> list[tuple[str, str, dict]]:
    """(endpoint, variant, metric) of every variant with Invocations, once each."""
    found, seen = [], set()
    pages = client.get_paginator("list_metrics").paginate(Namespace=NAMESPACE, MetricName=METRIC)
    for page in pages:
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if set(dims) != set(DIMENSIONS):
                continue  # per inference component, or a roll-up: counted by its variant
            key = (dims["EndpointName"], dims["VariantName"])
            if key not in seen:  # a listing may repeat a metric
                seen.add(key)
                found.append((*key, metric))
    return sorted(found, key=lambda f: f[:2])


def _choose(listed, endpoints: tuple[str, ...], where: str):
    """The listed variants of the named endpoints (all when none is named). NAME/VARIANT
    names one variant and is read without being listed: CloudWatch lists only metrics with
    data in the last two weeks, so an endpoint deleted before that is read this way."""
    if not endpoints:
        return listed
    known = sorted({e for e, _, _ in listed})
    chosen = []
    for name in dict.fromkeys(endpoints):  # once each, in the order given
        if "/" in name:
            endpoint, variant = name.split("/", 1)
            chosen.append((endpoint, variant, _metric(endpoint, variant)))
            continue
        if name not in known:
            raise InputError(
                f"no SageMaker endpoint {name!r} with Invocations{did_you_mean(name, known)}",
                file=where,
                expected=f"one of {', '.join(known[:10])}" + (" ..." if len(known) > 10 else ""),
                found=repr(name),
                hint="endpoint names are case-sensitive here; CloudWatch lists metrics that "
                "had data in the last two weeks: for an endpoint deleted before, give "
                "--endpoint NAME/VARIANT (e.g. NAME/AllTraffic)",
            )
        chosen += [c for c in listed if c[0] == name]
    return chosen


def _metric(endpoint: str, variant: str) -> dict:
    """The Invocations metric of one variant, as ListMetrics would have listed it."""
    if not endpoint or not variant:
        raise InputError(
            "--endpoint NAME/VARIANT needs both parts",
            expected="e.g. ranker-prod/AllTraffic",
            found=repr(f"{endpoint}/{variant}"),
        )
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    return {"Namespace": NAMESPACE, "MetricName": METRIC, "Dimensions": dims}


def _nothing_listed(client, region: str, where: str) -> InputError:
    """No Invocations in the region: say which SageMaker metrics there are instead."""
    names = sorted(
        {
            m["MetricName"]
            for page in client.get_paginator("list_metrics").paginate(Namespace=NAMESPACE)
            for m in page.get("Metrics", [])
        }
    )
    found = (
        f"SageMaker metrics {', '.join(names[:8])}" + (" ..." if len(names) > 8 else "")
        + ", but no Invocations per endpoint variant"
        if names
        else f"no metrics at all in namespace {NAMESPACE}"
    )  # fmt: skip
    return InputError(
        f"no SageMaker endpoint Invocations in region {region}",
        file=where,
        expected=f"{METRIC} with dimensions {' and '.join(DIMENSIONS)}",
        found=found,
        hint="check --region (the endpoints' region); CloudWatch lists metrics that had data "
        "in the last two weeks",
    )
