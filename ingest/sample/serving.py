"""Model servers of the sample enterprise: vLLM and Triton request and token counters, saved as
Prometheus `query_range` answers (one file a month), and the truth they plant.

Three inference endpoints serve: Triton on the AWS g6 host (two recsys models, so the host's
cost is split by requests), vLLM with Llama 3.1 8B on the Azure A100 VM, and vLLM with
Mistral 7B on the GCP L4 VM launched mid-month. Traffic follows each host's activity
(ingest/sample/activity.py), so the counters agree with the GPU telemetry; the Llama server
restarts once (its counters drop to zero and count on). Scrapes every 15 minutes at :00,
:15, :30 and :45 of every hour the host is billed. Each endpoint draws from its own random
stream, so nothing else the generator writes moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample.activity import billed_mask, host_state
from ingest.sample.company import Company, GpuHost
from ingest.sample.telemetry import _write_gz
from ingest.sample.truth import _s, gpu_hour_costs

SCRAPES = 4  # per hour
STEP_S = 3600 // SCRAPES


@dataclass(frozen=True)
class Endpoint:
    host: str
    server: str  # vllm | triton
    port: int
    # model -> (requests per hour at full activity, prompt tokens, generation tokens per request)
    models: dict[str, tuple[int, tuple[int, int] | None, tuple[int, int] | None]]


ENDPOINTS = (
    Endpoint("ip-10-20-4-41", "triton", 8002, {
        "ranker-v3": (42_000, None, None),
        "item-embedder": (15_000, None, None),
    }),
    Endpoint("nc-a100-serve-01", "vllm", 8000, {
        "meta-llama/Llama-3.1-8B-Instruct": (9_000, (600, 900), (150, 320)),
    }),
    Endpoint("g2-l4-serve-01", "vllm", 8000, {
        "mistralai/Mistral-7B-Instruct-v0.3": (2_400, (400, 700), (120, 260)),
    }),
)  # fmt: skip
RESTART = ("nc-a100-serve-01", 5, 14 * 24 + 9)  # host, months before the end, hour in it
STOP_SHARE = 0.92  # vLLM counts requests by finished_reason: stop, else length


@dataclass
class Served:
    """One endpoint model's hourly counts over the calendar (0 where not served)."""

    host: GpuHost
    endpoint: Endpoint
    model: str
    served: np.ndarray  # bool per hour
    requests: np.ndarray
    prompt: np.ndarray | None
    generation: np.ndarray | None


def _hosts(company: Company) -> dict[str, GpuHost]:
    return {h.host: h for h in company.hosts if not h.bulk}


def served(company: Company) -> list[Served]:
    cal, hosts, out = company.cal, _hosts(company), []
    for e in ENDPOINTS:
        host = hosts.get(e.host)
        if host is None:  # a provider left out of this sample
            continue
        state = host_state(company.seed, cal, host)
        on = billed_mask(host, state)
        act = np.nan_to_num(state, nan=0.0)
        rng = np.random.default_rng([company.seed, host.index, 24])
        for model, (rate, prompt, gen) in e.models.items():
            req = np.where(on, np.rint(rate * act * rng.uniform(0.9, 1.1, cal.hours)), 0)
            p = g = None
            if prompt and gen:
                p = np.rint(req * rng.uniform(*prompt, cal.hours))
                g = np.rint(req * rng.uniform(*gen, cal.hours))
            out.append(Served(host, e, model, on, req.astype(np.int64),
                              None if p is None else p.astype(np.int64),
                              None if g is None else g.astype(np.int64)))  # fmt: skip
    return out


def _series(s: Served) -> list[tuple[dict, np.ndarray]]:
    """(labels, per-hour increments) of each counter series of one served model."""
    base = {"instance": f"{s.endpoint.host}:{s.endpoint.port}", "job": s.endpoint.server}
    if s.endpoint.server == "triton":
        return [({"__name__": "nv_inference_request_success", **base, "model": s.model,
                  "version": "1"}, s.requests)]  # fmt: skip
    stop = np.rint(s.requests * STOP_SHARE).astype(np.int64)
    named = {**base, "model_name": s.model}
    return [
        ({"__name__": "vllm:request_success_total", **named, "finished_reason": "stop"}, stop),
        ({"__name__": "vllm:request_success_total", **named, "finished_reason": "length"},
         s.requests - stop),
        ({"__name__": "vllm:prompt_tokens_total", **named}, s.prompt),
        ({"__name__": "vllm:generation_tokens_total", **named}, s.generation),
    ]  # fmt: skip


def _restart_hour(company: Company) -> tuple[str, int]:
    host, back, hour = RESTART
    months = company.cal.months
    return host, company.cal.month_hours(months[max(0, len(months) - back)])[0] + hour


def _samples(company: Company, s: Served, per_hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scrape times (epoch s) and counter values of one series: each served hour's count
    spread over its scrapes; the first scrape of the series and the one after the restart
    read the counter as the server started it."""
    hours = np.flatnonzero(s.served)
    parts = np.zeros((hours.size, SCRAPES), dtype=np.int64)
    base = per_hour[hours] // SCRAPES
    parts[:] = base[:, None]
    parts[:, -1] += per_hour[hours] - base * SCRAPES
    if hours.size:  # the series begins at its first scrape: nothing counted before
        parts[0, 1] += parts[0, 0]
        parts[0, 0] = 0
    inc = parts.ravel()
    values = np.cumsum(inc)
    host, at = _restart_hour(company)
    if s.host.host == host and at in set(hours.tolist()):
        k = int(np.flatnonzero(hours == at)[0]) * SCRAPES + 1  # the :15 scrape of that hour
        values[k:] = np.cumsum(inc[k:])  # restarted: counts from zero again
    start = company.cal.start.timestamp()
    ts = (start + hours[:, None] * 3600 + np.arange(SCRAPES)[None, :] * STEP_S).ravel()
    return ts.astype(np.int64), values


def write_serving(out: Path, company: Company) -> None:
    """sample_data/serving/prometheus/<month>.json.gz: the month's counter samples."""
    cal = company.cal
    series = []
    for s in served(company):
        for labels, per_hour in _series(s):
            ts, values = _samples(company, s, per_hour)
            series.append((labels, ts, values))
    for m in cal.months:
        a, b = cal.month_hours(m)
        lo, hi = cal.start.timestamp() + a * 3600, cal.start.timestamp() + b * 3600
        result = []
        for labels, ts, values in series:
            keep = (ts >= lo) & (ts < hi)
            if keep.any():
                pairs = ",".join(
                    f'[{t},"{v}"]' for t, v in zip(ts[keep].tolist(), values[keep].tolist(),
                                                   strict=True)
                )  # fmt: skip
                metric = json.dumps(labels, separators=(",", ":"), sort_keys=True)
                result.append(f'{{"metric":{metric},"values":[{pairs}]}}')
        body = '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(result)
        _write_gz(out / "serving" / "prometheus" / f"{m}.json.gz", (body + "]}}").encode())


def serving_truth(company: Company) -> list[dict]:
    """Per model and month: requests, tokens, the self-hosted cost (each served host-hour's
    GPU cost split by requests among the models served in it) and the unit costs."""
    cal = company.cal
    rows = []
    all_served = served(company)
    for s in all_served:
        peers = [p for p in all_served if p.host.host == s.host.host]
        total = sum(p.requests for p in peers)
        costs = gpu_hour_costs(company, s.host)
        for m in cal.months:
            a, b = cal.month_hours(m)
            hours = np.flatnonzero(s.served[a:b]) + a
            if hours.size == 0:
                continue
            cost = Decimal(0)
            for h in hours.tolist():
                share = (Decimal(int(s.requests[h])) / Decimal(int(total[h]))
                         if total[h] else Decimal(1) / len(peers))  # fmt: skip
                cost += costs[h] * s.host.gpus * share
            req = int(s.requests[hours].sum())
            p = None if s.prompt is None else int(s.prompt[hours].sum())
            g = None if s.generation is None else int(s.generation[hours].sum())
            tokens = None if p is None or g is None else p + g
            rows.append({
                "model": s.model, "month": m, "host": s.host.host, "server": s.endpoint.server,
                "requests": req, "prompt_tokens": p, "generation_tokens": g,
                "cost": _s(cost.quantize(Decimal("0.000001"))),
                "currency": "USD",  # the serving hosts are cloud VMs billed in USD
                "cost_per_1k_requests": _s((cost * 1000 / req).quantize(Decimal("0.000001")))
                if req else None,
                "cost_per_1m_tokens": _s((cost * 1_000_000 / tokens).quantize(Decimal("0.000001")))
                if tokens else None,
            })  # fmt: skip
    return rows


def truth(company: Company) -> dict:
    """truth.json's `serving`: the per model and month figures and the planted restart."""
    host, at = _restart_hour(company)
    restarted = any(s.host.host == host and s.served[at] for s in served(company))
    return {
        "models": serving_truth(company),
        "restart": {"host": host, "hour": company.cal.hour_time(at).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if restarted
        else None,
        "scrape_interval_s": STEP_S,
    }
