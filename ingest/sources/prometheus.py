"""DCGM exporter metrics from Prometheus -> GPU-hours (gpu_economics.md B4).

From a server: the HTTP API `query_range` with `step=1h` and the hour's aggregation done by
Prometheus (`avg_over_time(...[1h])`, `max_over_time`, `count_over_time`, `increase` of the
energy counter). Each step is evaluated 1 ms before the end of its hour, so the `[1h]`
window holds exactly the samples of [hour, hour+1h) on both Prometheus 2 (closed window)
and 3 (left-open window). Long ranges are paged under the 11,000-points-per-series limit;
503 (timeout/abort) is retried with back-off; `NaN` points are skipped (no data, not zero).
GR_ENGINE_ACTIVE is used where a GPU reports it, GPU_UTIL/100 otherwise.

Managed services (Grafana Cloud, Mimir, Thanos, VictoriaMetrics, Amazon Managed Service for
Prometheus, Azure Monitor) are reached with the credential and TLS trust of
prometheus_auth.py; redirects are not followed, so a credential goes nowhere else.

Saved answers (files instead of a server) are read by prometheus_answers.py.

Labels kept: Hostname (host), UUID, gpu (index), modelName, namespace/pod (or exported_*),
and instance_id / providerID when present, which name the billed resource.
"""

from __future__ import annotations

import json
import math
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from ingest.derive.host_map import from_provider_id
from ingest.sources.prometheus_auth import WHERE_CREDENTIALS_GO, Auth, NoAuth, check_url
from models.errors import FinopsError, InputError, SourceUnavailableError
from models.urls import redact_url

MAX_POINTS = 11_000
HOUR = 3600

GR = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB = "DCGM_FI_DEV_FB_USED"
POWER = "DCGM_FI_DEV_POWER_USAGE"
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"

# Query sets: column -> PromQL over one hour. Only `dcgm` exists today.
QUERY_SETS: dict[str, dict[str, str]] = {
    "dcgm": {
        "gr_avg": f"avg_over_time({GR}[1h])",
        "gr_max": f"max_over_time({GR}[1h])",
        "gr_n": f"count_over_time({GR}[1h])",
        "util_avg": f"avg_over_time({UTIL}[1h]) / 100",
        "util_max": f"max_over_time({UTIL}[1h]) / 100",
        "util_n": f"count_over_time({UTIL}[1h])",
        "fb_max": f"max_over_time({FB}[1h])",
        "power_avg": f"avg_over_time({POWER}[1h])",
        "energy_kwh": f"increase({ENERGY}[1h]) / 3.6e9",
    }
}
LABELS = {  # our column -> DCGM labels, first present wins
    "host": ("Hostname", "hostname", "instance"),
    "gpu_uuid": ("UUID", "uuid"),
    "gpu_index": ("gpu",),
    "gpu_model": ("modelName",),
    "namespace": ("namespace", "exported_namespace"),
    "pod": ("pod", "exported_pod"),
}


def label(metric: dict[str, str], column: str) -> str | None:
    return next((metric[k] for k in LABELS[column] if metric.get(k)), None)


def resource(metric: dict[str, str]) -> str | None:
    for key in ("instance_id", "InstanceId", "instanceId"):
        if metric.get(key):
            return metric[key]
    return from_provider_id(metric.get("providerID") or metric.get("provider_id"))


def point_value(text: str, where: str) -> float | None:
    value = float(text)
    if math.isnan(value):
        return None  # Prometheus' way of saying "no data here"
    if math.isinf(value):
        raise InputError(
            "infinite value in a series", file=where, expected="a finite number", found=text
        )
    return value


def matrix(payload: object, where: str) -> list[dict]:
    """The series of a query_range answer; an error answer becomes one clear InputError."""
    if not isinstance(payload, dict) or "status" not in payload:
        raise InputError(
            "not a Prometheus API answer", file=where, expected='{"status": ..., "data": ...}'
        )
    if payload["status"] != "success":
        raise InputError(
            f"Prometheus answered with an error: {payload.get('error', '?')}",
            file=where,
            expected="status success",
            found=f"{payload.get('errorType', 'error')}: {payload.get('error', '')}",
            hint="check the query and the time range",
        )
    data = payload.get("data") or {}
    if data.get("resultType") != "matrix":
        raise InputError(
            "not a range query answer",
            file=where,
            expected="resultType matrix (query_range)",
            found=str(data.get("resultType")),
        )
    return list(data.get("result") or [])


# ---- from a server ----------------------------------------------------------------------


@dataclass
class Client:
    url: str
    timeout_s: float = 60.0
    retries: int = 4
    backoff_s: float = 0.5
    max_points: int = MAX_POINTS
    sleep: Callable[[float], None] = time.sleep
    auth: Auth = field(default_factory=NoAuth)
    tls: ssl.SSLContext | None = None  # None: the system's CAs
    headers: dict[str, str] = field(default_factory=dict)  # e.g. X-Scope-OrgID

    def __post_init__(self) -> None:
        check_url(self.url)

    def query_range(self, query: str, start: float, end: float, step: int) -> list[dict]:
        endpoint = self.url.rstrip("/") + "/api/v1/query_range"
        body = urllib.parse.urlencode(
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)}
        ).encode()
        where = f"{endpoint} ({query})"
        opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=self.tls)
        )
        for attempt in range(self.retries + 1):
            headers = {"Content-Type": "application/x-www-form-urlencoded", **self.headers}
            # signed per attempt: a SigV4 signature is only valid for a few minutes
            try:
                headers |= self.auth.headers("POST", endpoint, body, headers)
            except FinopsError as exc:  # no credential in the chain: say for which server
                exc.file = exc.file or endpoint
                raise
            request = urllib.request.Request(endpoint, data=body, headers=headers)
            try:
                with opener.open(request, timeout=self.timeout_s) as resp:
                    return matrix(json.loads(resp.read()), where)
            except urllib.error.HTTPError as exc:
                text = exc.read()
                if exc.code in (401, 403):
                    raise self._refused(exc.code, text, endpoint) from None
                if 300 <= exc.code < 400:
                    raise SourceUnavailableError(
                        f"Prometheus redirected (HTTP {exc.code}) to "
                        f"{redact_url(exc.headers.get('Location') or '?')}",
                        file=endpoint,
                        hint="give the final address; redirects are not followed, so "
                        "credentials never go to a server they were not given for",
                    ) from None
                if exc.code == 503 and attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
                    continue
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = None
                if exc.code < 500 and isinstance(payload, dict):
                    return matrix(payload, where)  # raises the server's error message
                raise SourceUnavailableError(
                    f"Prometheus answered HTTP {exc.code}",
                    file=where,
                    found=self.auth.redact(text[:200].decode(errors="replace")),
                    hint="the server is overloaded or the range too long; retry later",
                    retryable=True,
                ) from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ssl.SSLError):
                    raise _tls_error(exc.reason, endpoint) from None
                raise _unreachable(exc, endpoint) from None
            except (TimeoutError, ConnectionError) as exc:
                raise _unreachable(exc, endpoint) from None
            except ValueError:
                raise InputError(
                    "Prometheus answered with something that is not JSON", file=where
                ) from None
        raise AssertionError("unreachable")

    def _refused(self, code: int, text: bytes, endpoint: str) -> SourceUnavailableError:
        """401/403: which mode was used and where its credentials came from, never them."""
        mode = self.auth.mode
        said = self.auth.redact(text[:300].decode(errors="replace")).strip()
        if mode == "none":
            hint = f"the server wants credentials: {WHERE_CREDENTIALS_GO}"
        else:
            hint = (
                f"--auth {mode} took its credentials from {self.auth.origin}; check that they "
                f"are current and allowed to query this server ({_PERMISSION[mode]})"
            )
        return SourceUnavailableError(
            f"Prometheus refused the credentials (HTTP {code}, --auth {mode})",
            file=endpoint,
            found=said or None,
            hint=hint,
        )

    def pages(self, start: datetime, end: datetime) -> list[tuple[float, float]]:
        """Evaluation times (first, last) of each page, one point per hour, under the limit."""
        first = _hour(start).timestamp() + HOUR - 0.001
        hours = int((_hour_ceil(end) - _hour(start)).total_seconds() // HOUR)
        per_page = self.max_points - 1
        out = []
        for k in range(0, hours, per_page):
            n = min(per_page, hours - k)
            a = first + k * HOUR
            out.append((a, a + (n - 1) * HOUR))
        return out


_PERMISSION = {
    "bearer": "a token with read access to metrics",
    "basic": "Grafana Cloud: an access-policy token with metrics:read",
    "sigv4": "aps:QueryMetrics on the workspace",
    "azure": "the Monitoring Data Reader role on the Azure Monitor workspace",
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: a credential is for the server it was given for, and a
    POST turned into a GET loses its query. The 3xx arrives as an HTTPError instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _tls_error(reason: ssl.SSLError, endpoint: str) -> SourceUnavailableError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return SourceUnavailableError(
            f"the server's TLS certificate is not trusted: {reason.verify_message}",
            file=endpoint,
            hint="pass --ca-bundle FILE (or [sources.prometheus] ca_bundle) with the PEM of "
            "the CA that signed it",
        )
    return SourceUnavailableError(
        f"TLS handshake with Prometheus failed: {reason.reason or reason}",
        file=endpoint,
        hint="check that the URL's scheme and port are right; a private CA goes in --ca-bundle",
    )


def _unreachable(exc: Exception, endpoint: str) -> SourceUnavailableError:
    return SourceUnavailableError(
        f"cannot reach Prometheus: {getattr(exc, 'reason', exc)}",
        file=endpoint,
        hint="check the URL and that the server is up",
        retryable=True,
    )


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_ceil(t: datetime) -> datetime:
    h = _hour(t)
    return h if h == t.astimezone(UTC) else h + timedelta(hours=1)


def fetch_hourly(
    client: Client, start: datetime, end: datetime, query_set: str = "dcgm"
) -> pl.DataFrame:
    """GPU-hours in [start, end) from a server (columns of telemetry.finish)."""
    if query_set not in QUERY_SETS:
        raise InputError(
            "unknown query set", expected=f"one of {sorted(QUERY_SETS)}", found=query_set
        )
    if end <= start:
        raise InputError("--end must be after --start", found=f"{start} .. {end}")
    cells: dict[tuple, dict] = {}
    for column, query in QUERY_SETS[query_set].items():
        for a, b in client.pages(start, end):
            for series in client.query_range(query, a, b, HOUR):
                metric = series.get("metric", {})
                key = tuple(sorted(metric.items()))
                for t, v in series.get("values", []):
                    value = point_value(v, f"{client.url} ({query})")
                    if value is None:
                        continue
                    hour = datetime.fromtimestamp(math.floor(float(t) / HOUR) * HOUR, UTC)
                    cell = cells.setdefault((key, hour), {"metric": metric, "hour": hour})
                    if column in cell:
                        raise InputError(
                            "duplicate samples: the same series twice in one answer",
                            file=f"{client.url} ({query})",
                            found=str(metric),
                        )
                    cell[column] = value
    return _hourly_frame(list(cells.values()), f"{client.url}")


def _hourly_frame(cells: list[dict], where: str) -> pl.DataFrame:
    rows = []
    for c in cells:
        m = c["metric"]
        gr = c.get("gr_n", 0) > 0
        avg = c.get("gr_avg") if gr else c.get("util_avg")
        mx = c.get("gr_max") if gr else c.get("util_max")
        n = c.get("gr_n") if gr else c.get("util_n")
        if avg is not None and not (0 <= avg <= 1 and 0 <= (mx or 0) <= 1):
            raise InputError(
                "activity outside 0-100%",
                file=where,
                location=f"series {label(m, 'host')} {label(m, 'gpu_uuid')} at "
                f"{c['hour']:%Y-%m-%dT%H:%M:%SZ}",
                expected="GR_ENGINE_ACTIVE 0-1, GPU_UTIL 0-100",
                found=f"mean {avg}, max {mx}",
            )
        index = label(m, "gpu_index")
        rows.append(
            {
                "hour": c["hour"],
                "host": label(m, "host"),
                "gpu_uuid": label(m, "gpu_uuid"),
                "gpu_index": int(index) if index and index.isdigit() else None,
                "gpu_model": label(m, "gpu_model"),
                "resource_id": resource(m),
                "avg_active": avg,
                "max_active": mx,
                "active_metric": None if avg is None else "gr_engine_active" if gr else "gpu_util",
                "max_mem_used_mib": c.get("fb_max"),
                "avg_power_w": c.get("power_avg"),
                "energy_kwh": c.get("energy_kwh"),
                "samples": int(n or 0),
                "namespace": label(m, "namespace"),
                "pod": label(m, "pod"),
            }
        )
    frame = pl.DataFrame(rows, schema=HOURLY, orient="row") if rows else pl.DataFrame(schema=HOURLY)
    missing = frame.filter(pl.col("host").is_null())
    if missing.height:
        raise InputError(
            "series without a host label",
            file=where,
            expected="a Hostname label (the DCGM exporter sets it)",
            found=f"{missing.height} GPU-hour(s) without one",
        )
    # A GPU that moved between pods within an hour has one series per pod: keep one row per
    # GPU-hour, weighting the means by samples and naming the pod with most samples.
    return (
        frame.sort("samples", descending=True)
        .group_by("hour", "host", "gpu_uuid", "gpu_index", maintain_order=True)
        .agg(
            pl.col("gpu_model").first(),
            pl.col("resource_id").drop_nulls().first(),
            ((pl.col("avg_active") * pl.col("samples")).sum() / pl.col("samples").sum()).alias(
                "avg_active"
            ),
            pl.col("max_active").max(),
            pl.col("active_metric").drop_nulls().max(),
            pl.col("max_mem_used_mib").max(),
            pl.col("avg_power_w").mean(),
            pl.when(pl.col("energy_kwh").count() > 0).then(pl.col("energy_kwh").sum()),
            pl.col("samples").sum(),
            pl.col("namespace").first(),
            pl.col("pod").first(),
        )
    )


HOURLY = {
    "hour": pl.Datetime("us", "UTC"),
    "host": pl.String,
    "gpu_uuid": pl.String,
    "gpu_index": pl.Int64,
    "gpu_model": pl.String,
    "resource_id": pl.String,
    "avg_active": pl.Float64,
    "max_active": pl.Float64,
    "active_metric": pl.String,
    "max_mem_used_mib": pl.Float64,
    "avg_power_w": pl.Float64,
    "energy_kwh": pl.Float64,
    "samples": pl.Int64,
    "namespace": pl.String,
    "pod": pl.String,
}
