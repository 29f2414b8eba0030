"""Training runs of the sample enterprise: a Slurm accounting log of the colo's GPU cluster,
Kubernetes pods on a cloud GPU node pool and MIG slices on one colo host (DCGM series with
pod labels), and each planted run's GPU-hours and cost for truth.json.

The runs are the busy stretches of the hosts' own activity (ingest/sample/activity.py), so
the jobs agree with the telemetry: a Slurm job holds all 8 GPUs of a training host while it
is busy; a Kubernetes Job's pod holds all 8 GPUs of the cloud node. MIG slices live on the
colo's unmonitored A100 host: fine-tuning pods on slices of GPU 0, whose activity only the
slices report. Own random stream (`{seed}-jobs`): the rest of the sample is unchanged.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ingest.sample.activity import ACTIVE_MIN, episodes, gpu_values, host_state
from ingest.sample.company import Company, GpuHost
from ingest.sample.telemetry import _write_gz, gpu_uuid
from ingest.sample.truth import gpu_hour_costs

SLURM_CLUSTER, SLURM_TZ = "iad1", "America/New_York"
SLURM_FILE = "slurm/iad1-sacct.txt"
K8S_CLUSTER, K8S_HOST, K8S_DIR = "aks-research", "nd-h100-train-01", "kubernetes/aks-research"
MIG_CLUSTER, MIG_HOST, MIG_DIR = "iad1-k8s", "gpu-a100-04.iad1.acme.internal", "kubernetes/iad1-mig"
JOB_LABEL = "job-name"  # the pod label a Kubernetes Job sets; DCGM exports it as job_name
HEADER = "JobID|JobName|Account|User|Partition|Submit|Start|End|State|AllocTRES|NodeList"
GR = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
# (GPU_I_ID, GPU_I_PROFILE, compute slices of 7) on GPU 0 of the MIG host (an A100 80GB)
MIG_SLICES = ((2, "3g.40gb", 3), (3, "2g.20gb", 2), (9, "1g.10gb", 1), (10, "1g.10gb", 1))


def _busy_runs(company: Company, host: GpuHost) -> list[tuple[int, int]]:
    state = host_state(company.seed, company.cal, host)
    return episodes(np.nan_to_num(state, nan=0.0) >= ACTIVE_MIN)


def _truth(
    source: str,
    cluster: str,
    job: str,
    name: str,
    team: str,
    start: datetime,
    end: datetime | None,
    gpu_hours: Decimal,
    cost: Decimal,
) -> dict:
    return {
        "source": source,
        "cluster": cluster,
        "job_id": job,
        "name": name,
        "team": team,
        "start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "end": None if end is None else f"{end:%Y-%m-%dT%H:%M:%SZ}",
        "gpu_hours": format(gpu_hours.normalize(), "f"),
        "cost": format(cost, "f"),
        "currency": "USD",
    }


def _local(t: datetime) -> str:
    return t.astimezone(ZoneInfo(SLURM_TZ)).strftime("%Y-%m-%dT%H:%M:%S")


def write_slurm(out: Path, company: Company, rng: random.Random) -> list[dict]:
    """sacct --parsable2 --allocations output of the colo's training hosts, with CPU-only
    and pending jobs among them (which hold no GPUs), and the GPU runs' truth."""
    cal, lines, truth = company.cal, [HEADER], []
    hosts = [h for h in company.hosts if h.provider == "onprem" and h.pattern != "inference"]
    jobs = []
    for host in hosts:
        costs = gpu_hour_costs(company, host)
        for a, b in _busy_runs(company, host):
            jobs.append((a, b, host, sum(costs[a:b], Decimal(0)) * host.gpus))
    jobs.sort(key=lambda j: (j[0], j[2].host))
    job_id = 40_000 + rng.randrange(1000)
    for a, b, host, cost in jobs:
        job_id += rng.randrange(3, 40)
        node = host.host.split(".")[0]
        name = f"{host.team}-{rng.choice(['pretrain', 'sft', 'asr', 'ablation'])}-{job_id % 997}"
        start, end = cal.hour_time(a), cal.hour_time(b)
        running = b >= cal.hours
        state = (
            "RUNNING"
            if running
            else rng.choice(
                ["COMPLETED"] * 6 + ["FAILED", "TIMEOUT", "CANCELLED by 1234", "OUT_OF_MEMORY"]
            )
        )
        submit = start - timedelta(minutes=rng.randrange(1, 180))
        user = rng.choice(["akim", "bchen", "cdiaz", "dnovak"])
        lines.append(
            f"{job_id}|{name}|{host.team}|{user}|{node.split('-')[1]}|"
            f"{_local(submit)}|{_local(start)}|"
            f"{'Unknown' if running else _local(end)}|{state}|"
            f"billing=128,cpu=128,gres/gpu={host.gpus},mem=1000G,node=1|{node}"
        )
        truth.append(
            _truth(
                "slurm",
                SLURM_CLUSTER,
                str(job_id),
                name,
                host.team,
                start,
                None if running else end,
                Decimal(host.gpus * (b - a)),
                cost,
            )
        )
        if rng.random() < 0.3:  # data preparation on the CPU nodes: no GPUs, not a GPU run
            job_id += 1
            lines.append(
                f"{job_id}|{host.team}-prep-{job_id % 997}|{host.team}|{user}|cpu|"
                f"{_local(start)}|{_local(start)}|{_local(end)}|COMPLETED|"
                f"billing=32,cpu=32,mem=128G,node=2|cpu-[01-02]"
            )
    last = cal.hour_time(cal.hours - 2)
    lines.append(  # still waiting for nodes: no start, no GPUs held yet
        f"{job_id + 1}|research-pretrain-next|research|akim|h100|{_local(last)}|Unknown|"
        f"Unknown|PENDING|billing=256,cpu=256,gres/gpu=16,node=2|None assigned"
    )
    path = out / SLURM_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return truth


def _series(labels: dict, ts: list[int], values: list[float]) -> str:
    metric = json.dumps({"__name__": GR, **labels}, separators=(",", ":"))
    pairs = ",".join(f'[{t},"{v:.2f}"]' for t, v in zip(ts, values, strict=True))
    return f'{{"metric":{metric},"values":[{pairs}]}}'


def _answer(series: list[str]) -> bytes:
    return (
        '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(series) + "]}}"
    ).encode()


def _labels(company: Company, host: GpuHost, g: int, namespace: str, job: str, pod: str) -> dict:
    return {
        "gpu": str(g),
        "UUID": gpu_uuid(company, host, g),
        "modelName": host.gpu_model,
        "Hostname": host.host,
        "namespace": namespace,
        "pod": pod,
        "container": "trainer",
        "job_name": job,
    }


def write_kubernetes(out: Path, company: Company, rng: random.Random) -> list[dict]:
    """DCGM series with pod labels of the cloud node pool's training Jobs, a file a month."""
    cal, truth = company.cal, []
    host = next(h for h in company.hosts if h.host == K8S_HOST)
    costs = gpu_hour_costs(company, host)
    state = np.nan_to_num(host_state(company.seed, cal, host), nan=0.0)
    vals = gpu_values(company.seed, host, state)
    by_month: dict[str, list[str]] = {}
    for k, (a, b) in enumerate(_busy_runs(company, host)):
        job = f"pretrain-{k + 1:02d}"
        pod = f"{job}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
        for m in cal.months:
            ma, mb = cal.month_hours(m)
            lo, hi = max(a, ma), min(b, mb)
            if lo >= hi:
                continue
            ts = [int(cal.hour_time(h).timestamp()) + 1800 for h in range(lo, hi)]
            for g in range(host.gpus):
                by_month.setdefault(m, []).append(
                    _series(
                        _labels(company, host, g, host.team, job, pod), ts, vals[g, lo:hi].tolist()
                    )
                )
        cost = sum(costs[a:b], Decimal(0)) * host.gpus
        truth.append(
            _truth(
                "kubernetes",
                K8S_CLUSTER,
                f"{host.team}/{job}",
                job,
                host.team,
                cal.hour_time(a),
                cal.hour_time(b),
                Decimal(host.gpus * (b - a)),
                cost,
            )
        )
    for m, series in sorted(by_month.items()):
        _write_gz(out / K8S_DIR / f"{m}.json.gz", _answer(series))
    return truth


def write_mig(out: Path, company: Company, rng: random.Random) -> list[dict]:
    """Fine-tuning pods on MIG slices of GPU 0 of the unmonitored colo A100 host, over the
    last two months: a slice is priced and utilised as its compute slices / 7."""
    cal, truth = company.cal, []
    host = next(h for h in company.hosts if h.host == MIG_HOST)
    rate = gpu_hour_costs(company, host)
    first = cal.month_hours(cal.months[-2])[0] if len(cal.months) > 1 else 0
    by_month: dict[str, list[str]] = {}
    n = 0
    for instance, profile, slices in MIG_SLICES:
        t = first + rng.randrange(0, 48)
        while t < cal.hours - 24:
            length = rng.randrange(6, 72)
            a, b = t, min(cal.hours, t + length)
            n += 1
            job = f"vision-ft-{n:02d}"
            pod = f"{job}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
            active = [round(rng.uniform(0.4, 0.95), 2) for _ in range(a, b)]
            for i in rng.sample(range(b - a), k=(b - a) // 5):  # stalls: data loading, evals
                active[i] = round(rng.uniform(0.0, 0.02), 2)
            labels = _labels(company, host, 0, "vision", job, pod)
            labels.update(GPU_I_ID=str(instance), GPU_I_PROFILE=profile)
            for m in cal.months:
                ma, mb = cal.month_hours(m)
                lo, hi = max(a, ma), min(b, mb)
                if lo < hi:
                    ts = [int(cal.hour_time(h).timestamp()) + 1800 for h in range(lo, hi)]
                    by_month.setdefault(m, []).append(_series(labels, ts, active[lo - a : hi - a]))
            fraction = Decimal(slices) / Decimal(7)
            cost = sum(rate[a:b], Decimal(0)) * slices / Decimal(7)
            truth.append(
                _truth(
                    "kubernetes",
                    MIG_CLUSTER,
                    f"vision/{job}",
                    job,
                    "vision",
                    cal.hour_time(a),
                    cal.hour_time(b),
                    (fraction * (b - a)).quantize(Decimal("0.000001")),
                    cost.quantize(Decimal("0.000001")),
                )
            )
            truth[-1].update(mig_profile=profile, mig_slices=slices)
            t = b + rng.randrange(2, 30)
    for m, series in sorted(by_month.items()):
        _write_gz(out / MIG_DIR / f"{m}.json.gz", _answer(series))
    return truth


def write_jobs(out: Path, company: Company) -> list[dict]:
    """Write the Slurm log and the Kubernetes answers; returns each planted run's truth."""
    if MIG_HOST not in {h.host for h in company.hosts} or K8S_HOST not in {
        h.host for h in company.hosts
    }:
        return []
    rng = random.Random(f"{company.seed}-jobs")
    return [
        *write_slurm(out, company, rng),
        *write_kubernetes(out, company, rng),
        *write_mig(out, company, rng),
    ]
