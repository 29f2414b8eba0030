# ruff: noqa: E501  (one table row per machine reads better than wrapped rows)
"""The GPU fleet: every billed machine with accelerators, as one table.

A row reads: provider, host name, instance type, GPU x count, team, workload, activity
pattern, pricing, telemetry, region, on-demand $/hour, billing window. Windows are named
below and resolved against the calendar, so the same fleet fits any number of months.
"""

from __future__ import annotations

import random
from decimal import Decimal

from ingest.sample.company import GPU_MODELS, Asset, Calendar, Events, GpuHost, Team

# fmt: off
CLOUD = [
    "aws ip-10-20-1-11 p5.48xlarge H100x8 research training training savings_plan dcgm us-east-2 55.04 all",
    "aws ip-10-20-1-12 p5.48xlarge H100x8 research training training savings_plan dcgm us-east-2 55.04 all",
    "aws ip-10-20-2-21 p4d.24xlarge A100-40x8 vision training abandoned on_demand dcgm us-east-1 21.957642 p4d1",
    "aws ip-10-20-2-22 p4d.24xlarge A100-40x8 vision training abandoned on_demand dcgm us-east-1 21.957642 p4d2",
    "aws ip-10-20-3-31 g5.2xlarge A10Gx1 search experimentation notebook on_demand dcgm us-east-1 1.212 all",
    "aws ip-10-20-3-32 g5.2xlarge A10Gx1 search experimentation notebook on_demand nvidia-smi us-east-1 1.212 all",
    "aws ip-10-20-4-41 g6.12xlarge L4x4 recsys inference inference reserved dcgm us-east-1 4.6016 all",
    "aws ip-10-20-4-42 inf2.8xlarge INF2x1 search inference inference on_demand none us-east-1 1.96786 all",
    "aws ip-10-20-5-51 trn1.32xlarge TRN1x16 speech training training on_demand none us-east-1 21.50 trn",
    "sagemaker-train training-job/llm-sft ml.p4d.24xlarge A100-40x8 research training training on_demand none us-east-1 37.688 burst",
    "sagemaker-processing processing-job/asr-features ml.g5.4xlarge A10Gx1 speech data_prep training on_demand none us-east-1 2.03 burst",
    "sagemaker-host endpoint/ranker-prod ml.g5.2xlarge A10Gx1 recsys inference inference on_demand none us-east-1 1.515 all",
    "sagemaker-notebook notebook-instance/vision-dev ml.g5.xlarge A10Gx1 vision experimentation notebook on_demand none us-east-1 1.408 all",
    "azure nd-h100-train-01 Standard_ND96isr_H100_v5 H100x8 research training training reserved dcgm eastus 98.32 nd",
    "azure nc-a100-serve-01 Standard_NC24ads_A100_v4 A100-80x1 recsys inference inference savings_plan dcgm eastus 3.673 serve",
    "azure nc-a100-serve-02 Standard_NC24ads_A100_v4 A100-80x1 recsys inference inference savings_plan none eastus 3.673 serve",
    "azure nv-a10-lab-01 Standard_NV36ads_A10_v5 A10x1 vision experimentation notebook on_demand nvidia-smi eastus 3.20 lab",
    "gcp g2-l4-serve-01 g2-standard-8 L4x1 search inference inference cud dcgm us-central1 0 g2",
    "gcp a3-train-01 a3-highgpu-8g H100x8 research training training on_demand dcgm us-central1 0 a3",
    "gcp a2-notebook-01 a2-highgpu-1g A100-40x1 vision experimentation notebook on_demand none us-central1 0 a2",
]
# cluster, GPU, nodes, bought (years before start, month, day), server $, network $, team,
# workload, pattern, telemetry, load kW, idle kW, provisioned kW
ONPREM = [
    ("h100", "H100", 2, (1, 3, 14), "310000", "34000", "research", "training", "training", "dcgm", "7.5", "2.5", "10.2"),
    ("a100", "A100-80", 4, (3, 6, 2), "165000", "15100", "vision", "inference", "inference", "nvidia-smi", "5.2", "1.8", "6.5"),
]
# fmt: on


def _windows(cal: Calendar, events: Events) -> dict[str, tuple[int, int]]:
    H, n = cal.hours, len(cal.months)

    def mh(i: int) -> int:  # first hour of month i (negative = from the end), clamped
        return cal.month_hours(cal.months[max(0, min(n - 1, i if i >= 0 else n + i))])[0]

    pend = cal.hour_of(events.abandoned_end)
    a3, a2 = mh(-4) + 24 * 5, mh(-2) + 24 * 3
    return {
        "all": (0, H),
        "p4d1": (mh(1) + 24, min(H, pend + 24 * 37 + 5)),
        "p4d2": (mh(1) + 48, min(H, pend + 24 * 37 + 10)),
        "trn": (mh(-5), mh(-3)),
        "burst": (mh(2), mh(-2)),
        "nd": (mh(2), H - 24 * 6),  # deleted before the last month ends: its reservation idles
        "serve": (mh(3), H),
        "lab": (mh(4), H),
        "g2": (mh(-1) + 24 * 14, H),  # a new endpoint, launched mid-month
        "a3": (a3, a3 + 24 * 9),
        "a2": (a2, a2 + 24 * 10),
    }


def cloud_hosts(
    rng: random.Random,
    cal: Calendar,
    teams: tuple[Team, ...],
    events: Events,
    providers,
    reps: int,
    first_index: int,
) -> list[GpuHost]:
    win = _windows(cal, events)
    by_team = {t.name: t for t in teams}
    hosts = []
    for rep in range(reps):
        sfx = "" if rep == 0 else f"-r{rep}"
        for row in CLOUD:
            kind, name, itype, gpu, team, wl, pat, pricing, tel, region, rate, w = row.split()
            provider = "aws" if kind.startswith("sagemaker") else kind
            if provider not in providers:
                continue
            model, count = gpu.rsplit("x", 1)
            t = by_team[team]
            host = f"{name}{sfx}"
            if kind == "aws":
                rid = f"i-0{rng.getrandbits(64):016x}"
            elif provider == "aws":  # SageMaker: the job/endpoint/notebook ARN
                rid = f"arn:aws:sagemaker:{region}:{t.aws_account}:{name}{sfx}"
                host = f"sagemaker-{name.split('/')[1]}{sfx}"
            elif provider == "azure":
                rid = (
                    f"/subscriptions/{t.azure_subscription}/resourceGroups/rg-{team}-gpu/"
                    f"providers/Microsoft.Compute/virtualMachines/{host}"
                )
            else:
                rid = f"projects/{t.gcp_project}/zones/{region}-a/instances/{host}"
            start, end = win[w]
            hosts.append(
                GpuHost(
                    provider=provider,
                    host=host,
                    resource_id=rid,
                    instance_type=itype,
                    gpu_model=GPU_MODELS[model],
                    gpus=int(count),
                    team=team,
                    workload=wl,
                    pattern=pat,
                    start_h=start,
                    end_h=end,
                    rate=Decimal(rate),
                    pricing=pricing,
                    telemetry=tel,
                    region=region,
                    index=first_index + len(hosts),
                    project_end_h=cal.hour_of(events.abandoned_end) if pat == "abandoned" else None,
                    service="ec2" if kind == "aws" else kind if provider == "aws" else "vm",
                )
            )
    return hosts


def onprem_fleet(
    rng: random.Random, cal: Calendar, first_index: int
) -> tuple[list[Asset], list[GpuHost]]:
    """Two 8-GPU clusters in one colo: H100 for research training, A100 shared by vision and
    speech (one A100 server idles after its project ended, one never got an exporter)."""
    assets, hosts = [], []
    for cl, gm, count, bought, capex, net, team, wl, pattern, tel, pload, pidle, pprov in ONPREM:
        years, month, day = bought
        for k in range(1, count + 1):
            host = f"gpu-{cl}-{k:02d}.iad1.acme.internal"
            aid = f"ASSET-IAD1-{cl.upper()}-{k:02d}"
            t, w, p, telem = team, wl, pattern, tel
            if cl == "a100" and k == 3:
                t, w, p = "speech", "training", "abandoned"
            if cl == "a100" and k == 4:
                telem = "none"
            assets.append(
                Asset(
                    aid,
                    cl,
                    host,
                    GPU_MODELS[gm],
                    8,
                    cal.start.date().replace(year=cal.start.year - years, month=month, day=day),
                    Decimal(capex),
                    Decimal(net),
                    5,
                    Decimal("0.10"),
                    Decimal(pidle),
                    Decimal(pload),
                    Decimal(pprov),
                    Decimal("1.40"),
                    Decimal("0.0895"),
                    Decimal("184.06"),
                    Decimal("15000"),
                    t,
                )
            )
            end_work = cal.hours - 24 * rng.randrange(40, 50) if p == "abandoned" else None
            hosts.append(
                GpuHost(
                    provider="onprem",
                    host=host,
                    resource_id=aid,
                    instance_type=f"HGX-{gm.split('-')[0]}-8GPU",
                    gpu_model=GPU_MODELS[gm],
                    gpus=8,
                    team=t,
                    workload=w,
                    pattern=p,
                    start_h=0,
                    end_h=cal.hours,
                    rate=Decimal(0),
                    pricing="owned",
                    telemetry=telem,
                    region="iad1",
                    index=first_index + len(hosts),
                    project_end_h=end_work,
                    service="server",
                )
            )
    return assets, hosts
