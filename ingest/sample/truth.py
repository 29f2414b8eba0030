"""The planted ground truth: a ledger the writers feed line by line, plus idle and demand
figures computed from the same activity draws as the telemetry.

Money is ``Decimal`` throughout and is written as strings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample import flows
from ingest.sample.activity import billed_mask, episodes, host_state, idle_mask
from ingest.sample.company import ONPREM_SITE, Company, GpuHost
from ingest.sample.pricing import effective_rate, owned_cost

PROVIDER_NAMES = {"aws": "AWS", "azure": "Microsoft", "gcp": "Google Cloud", "onprem": ONPREM_SITE}
SOURCES = {
    "aws": "aws-cur2",
    "azure": "azure-cost-details",
    "gcp": "gcp-bq",
    "onprem": "onprem",
    "saas": "saas",
}
Z = Decimal(0)


@dataclass
class Ledger:
    """Running sums over every generated billing line (and on-prem model day)."""

    totals: dict = field(default_factory=lambda: defaultdict(Decimal))
    effective: dict = field(default_factory=lambda: defaultdict(Decimal))
    egress: dict = field(default_factory=lambda: defaultdict(Decimal))
    workloads: dict = field(default_factory=lambda: defaultdict(Decimal))
    sprawl: dict = field(default_factory=dict)
    lines: dict = field(default_factory=lambda: defaultdict(int))
    restatements: list = field(default_factory=list)
    events: list = field(default_factory=list)
    commitments: dict = field(default_factory=dict)
    flows: dict = field(default_factory=lambda: defaultdict(lambda: [0, Decimal(0)]))

    def charge(
        self,
        *,
        provider: str,
        source: str,
        period: str,
        billed: Decimal,
        effective: Decimal,
        currency: str = "USD",
        team: str | None = None,
        workload: str | None = None,
        egress: str | None = None,
        lines: int = 1,
    ) -> None:
        self.totals[(provider, source, period, currency)] += billed
        self.effective[(provider, source, period, currency)] += effective
        self.lines[(source, period)] += lines
        if egress:
            self.egress[(provider, source, period, egress)] += effective
        if workload and team:
            self.workloads[(team, period, workload)] += effective

    def flow(self, period: str, source: str, destination: str, gb: int, cost: Decimal) -> None:
        """A planted data flow (ingest/sample/flows.py): GB and cost in USD for the month."""
        acc = self.flows[(period, source, destination)]
        acc[0] += gb
        acc[1] += cost

    def commitment(
        self,
        *,
        provider: str,
        commitment_id: str,
        name: str,
        kind: str,
        period: str,
        purchase: Decimal,
        used: Decimal,
        gpu_model: str | None,
        currency: str = "USD",
    ) -> None:
        """One commitment's month: billed purchase, amortised used part; the rest is unused."""
        self.commitments[(provider, commitment_id, period, currency)] = {
            "name": name,
            "type": kind,
            "purchase": purchase,
            "used": used,
            "gpu_model": gpu_model,
        }

    def tool(
        self, family: str, tool: str, team: str, cost: Decimal, source: str, currency: str = "USD"
    ) -> None:
        f = self.sprawl.setdefault(
            family,
            {"tools": set(), "teams": set(), "sources": set(), "costs": defaultdict(Decimal)},
        )
        f["tools"].add(tool)
        f["teams"].add(team)
        f["costs"][currency] += cost
        f["sources"].add(source)


def _s(d: Decimal) -> str:
    return format(d.normalize() if d != 0 else Z, "f")


def _iso(company: Company, h: int) -> str:
    return company.cal.hour_time(h).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpu_hour_costs(company: Company, host: GpuHost) -> np.ndarray:
    """Cost of one GPU-hour for each calendar hour, as Decimal objects (object array)."""
    out = np.empty(company.cal.hours, dtype=object)
    if host.provider == "onprem":
        asset = next(a for a in company.assets if a.asset_id == host.resource_id)
        out[:] = owned_cost(asset).gpu_hour_rate(host.gpus)
        return out
    for m in company.cal.months:
        a, b = company.cal.month_hours(m)
        out[a:b] = effective_rate(company, host, m) / host.gpus
    return out


def idle_and_demand(company: Company) -> tuple[list, list]:
    """Idle GPU truth per resource; hourly active-GPU demand per GPU model and deployment."""
    cal = company.cal
    idle_rows = []
    demand: dict[str, dict] = {}
    for host in company.hosts:
        if host.bulk:
            continue
        state = host_state(company.seed, cal, host)
        paid = billed_mask(host, state)
        deployment = "onprem" if host.provider == "onprem" else "cloud"
        d = demand.setdefault(
            (host.gpu_model, deployment),
            {
                "paid": np.zeros(cal.hours, dtype=np.int64),
                "active": np.zeros(cal.hours, dtype=np.int64),
                "unmonitored": np.zeros(cal.hours, dtype=np.int64),
                "providers": set(),
            },
        )
        d["providers"].add(PROVIDER_NAMES[host.provider])
        d["paid"] += paid * host.gpus
        if host.telemetry == "none":
            d["unmonitored"] += paid * host.gpus
            continue
        idle = idle_mask(state) & paid
        d["active"] += (paid & ~idle) * host.gpus
        if not idle.any():
            continue
        costs = gpu_hour_costs(company, host)
        by_period = {}
        total = Z
        for m in cal.months:
            a, b = cal.month_hours(m)
            hrs = np.flatnonzero(idle[a:b]) + a
            if hrs.size == 0:
                continue
            c = sum(costs[hrs].tolist(), Z) * host.gpus
            by_period[m] = {"gpu_hours_idle": int(hrs.size * host.gpus), "idle_cost": _s(c)}
            total += c
        idle_rows.append(
            {
                "provider": PROVIDER_NAMES[host.provider],
                "source": SOURCES[host.provider],
                "resource_id": host.resource_id,
                "host": host.host,
                "team": host.team,
                "gpu_model": host.gpu_model,
                "gpus": host.gpus,
                "gpu_hours_idle": int(idle.sum() * host.gpus),
                "idle_cost": _s(total),
                "by_period": by_period,
                "episodes": [
                    {"start": _iso(company, a), "end": _iso(company, b), "hours": b - a}
                    for a, b in episodes(idle)
                ],
            }
        )
    demand_rows = []
    for (model, deployment), d in sorted(demand.items()):
        act = d["active"]
        demand_rows.append(
            {
                "gpu_model": model,
                "deployment": deployment,
                "providers": sorted(d["providers"]),
                "hours": cal.hours,
                "paid_gpu_hours": int(d["paid"].sum()),
                "active_gpu_hours": int(act.sum()),
                "unmonitored_gpu_hours": int(d["unmonitored"].sum()),
                "peak_active_gpus": int(act.max()),
                "mean_active_gpus": f"{act.mean():.4f}",
                "p50_active_gpus": int(np.percentile(act, 50, method="lower")),
                "p90_active_gpus": int(np.percentile(act, 90, method="lower")),
                "hours_with_active_gpus": int((act > 0).sum()),
            }
        )
    return idle_rows, demand_rows


def build_truth(company: Company, ledger: Ledger, meta: dict) -> dict:
    idle_rows, demand_rows = idle_and_demand(company)
    totals = [
        {
            "provider": p,
            "source": s,
            "billing_period": m,
            "currency": c,
            "billed_cost": _s(v),
            "effective_cost": _s(ledger.effective[(p, s, m, c)]),
            "lines": ledger.lines[(s, m)],
        }
        for (p, s, m, c), v in sorted(ledger.totals.items())
    ]
    return {
        "meta": meta,
        "totals": totals,
        "egress": [
            {"provider": p, "source": s, "billing_period": m, "kind": k, "cost": _s(v)}
            for (p, s, m, k), v in sorted(ledger.egress.items())
        ],
        "workloads": [
            {"team": t, "billing_period": m, "workload": w, "cost": _s(v)}
            for (t, m, w), v in sorted(ledger.workloads.items())
        ],
        "tool_sprawl": [
            {
                "family": f,
                "tools": sorted(v["tools"]),
                "teams": sorted(v["teams"]),
                "sources": sorted(v["sources"]),
                "cost": _s(v["costs"]["USD"]),
                "currency": "USD",
                "cost_by_currency": {c: _s(x) for c, x in sorted(v["costs"].items())},
            }
            for f, v in sorted(ledger.sprawl.items())
        ],
        "idle_gpu": idle_rows,
        "gpu_demand_hourly": demand_rows,
        "restatements": ledger.restatements,
        "events": ledger.events,
        "commitments": [_commitment(k, v) for k, v in sorted(ledger.commitments.items())],
        "flows": _flows(ledger),
    }


def _flows(ledger: Ledger) -> dict:
    """The planted flows per month, the address map that resolves them, and the verdict a
    10 Gbps link must get on each path (over the year's months, no extra fees)."""
    return {
        "addresses": dict(sorted(flows.ADDRESSES.items())),
        "currency": "USD",
        "monthly": [
            {"billing_period": m, "from": s, "to": d, "gb": gb, "cost": _s(cost)}
            for (m, s, d), (gb, cost) in sorted(ledger.flows.items())
        ],
        "interconnect": [
            {"between": list(pair), "gbps": flows.LINK_GBPS, "pays_off": pays}
            for pair, pays in sorted(flows.VERDICTS.items())
        ],
    }


def _commitment(key: tuple, c: dict) -> dict:
    """Purchase billed; used and unused amortised; utilisation = used / (used + unused)."""
    provider, commitment_id, period, currency = key
    unused = c["purchase"] - c["used"]
    return {
        "provider": PROVIDER_NAMES[provider],
        "source": SOURCES[provider],
        "commitment_id": commitment_id,
        "name": c["name"],
        "type": c["type"],
        "billing_period": period,
        "currency": currency,
        "purchase": _s(c["purchase"]),
        "used": _s(c["used"]),
        "unused": _s(unused),
        "utilisation": format((c["used"] / c["purchase"]).quantize(Decimal("0.000001")), "f")
        if c["purchase"]
        else None,
        "gpu": c["gpu_model"] is not None,
        "gpu_model": c["gpu_model"],
    }


def write_truth(path: Path, truth: dict) -> None:
    path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
