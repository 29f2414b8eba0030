"""GPU telemetry: DCGM exporter series as Prometheus ``query_range`` responses, nvidia-smi CSV
logs, and the host map that ties telemetry host names to billed resources.

One sample per GPU per hour, taken at HH:30:00 UTC, for every hour the machine is billed
(cloud) or powered (on-prem). A sample belongs to the UTC hour that contains it. Files are
gzip-compressed with a zero mtime so that a seed reproduces them byte for byte.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ingest.sample.activity import billed_mask, gpu_values, host_state
from ingest.sample.company import Company, GpuHost

METRICS = (
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_POWER_USAGE",
)
# modelName -> (framebuffer MiB, idle W, max W)
GPU_SPECS = {
    "NVIDIA H100 80GB HBM3": (81559, 70.0, 700.0),
    "NVIDIA A100-SXM4-40GB": (40960, 55.0, 400.0),
    "NVIDIA A100-SXM4-80GB": (81920, 60.0, 400.0),
    "NVIDIA A10G": (23028, 25.0, 300.0),
    "NVIDIA A10": (23028, 22.0, 150.0),
    "NVIDIA L4": (23034, 16.0, 72.0),
}
NVSMI_HEADER = [
    "timestamp",
    " name",
    " pci.bus_id",
    " uuid",
    " index",
    " utilization.gpu [%]",
    " memory.used [MiB]",
    " power.draw [W]",
]


def gpu_uuid(company: Company, host: GpuHost, i: int) -> str:
    return "GPU-" + str(
        uuid.UUID(
            int=(company.seed * 1_000_003 + host.index * 64 + i) * 2654435761 % 2**128, version=4
        )
    )


def bus_id(i: int) -> str:
    return f"00000000:{[0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB][i % 8]:02X}:00.0"


def _fmt(v: float) -> str:
    """Prometheus renders sample values like Go's FormatFloat(v, 'f', -1)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return s or "0"


def derived(host: GpuHost, act: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Framebuffer MiB and power W that agree with the activity: notebooks keep memory
    allocated while idle; finished projects release it."""
    fb, pidle, pmax = GPU_SPECS[host.gpu_model]
    held = 0.35 if host.pattern == "notebook" else 0.0
    idle = state <= 0.02
    mem = (np.where(idle, fb * held, fb * (0.55 + 0.4 * act)) / 64).round() * 64
    power = np.round(pidle + (pmax - pidle) * act, 0)
    return mem, power


# sample values are rounded (activity to 0.01, memory to 64 MiB, power to 1 W), so each
# series is rendered from small lookup tables instead of formatting millions of floats
_ACT = np.array([_fmt(i / 100) for i in range(101)], dtype=object)
_PCT = np.array([str(i) for i in range(101)], dtype=object)


class PrometheusMonth:
    """Collects one month's series for every DCGM host into one query_range response."""

    def __init__(self) -> None:
        self.series: list[tuple[tuple, str]] = []

    def add(
        self,
        company: Company,
        host: GpuHost,
        hours: np.ndarray,
        vals: np.ndarray,
        state: np.ndarray,
    ) -> None:
        ts = (company.cal.start.timestamp() + hours * 3600 + 1800).astype(np.int64).tolist()
        for g in range(host.gpus):
            act = vals[g, hours]
            mem, power = derived(host, act, state[hours])
            idx = np.rint(act * 100).astype(np.int64)
            labels = {
                "gpu": str(g),
                "UUID": gpu_uuid(company, host, g),
                "pci_bus_id": bus_id(g),
                "device": f"nvidia{g}",
                "modelName": host.gpu_model,
                "Hostname": host.host,
                "DCGM_FI_DRIVER_VERSION": "550.90.07",
            }
            series = (
                _ACT[idx],
                _PCT[idx],
                mem.astype(np.int64).astype(str),
                power.astype(np.int64).astype(str),
            )
            for name, values in zip(METRICS, series, strict=True):
                metric = json.dumps({"__name__": name, **labels}, separators=(",", ":"))
                pairs = ",".join(map('[{},"{}"]'.format, ts, values.tolist()))
                self.series.append(
                    ((name, host.host, g), f'{{"metric":{metric},"values":[{pairs}]}}')
                )

    def write(self, path: Path) -> None:
        self.series.sort(key=lambda kv: kv[0])
        body = (
            '{"status":"success","data":{"resultType":"matrix","result":['
            + ",".join(text for _, text in self.series)
            + "]}}"
        ).encode()
        _write_gz(path, body, 1 if len(body) > FAST_GZIP_ABOVE else 9)


# On this repetitive JSON gzip's level 9 runs at ~1 MB/s, level 1 ~50x faster for a file ~1.6x
# larger: a Prometheus month of a large fleet (tens to hundreds of MiB) takes level 1, while the
# sample scales' months (under 3 MiB) keep level 9 and so their bytes.
FAST_GZIP_ABOVE = 4 * 2**20


def _write_gz(path: Path, data: bytes, level: int = 9) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(path, "wb") as f,
        gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=level) as gz,
    ):
        gz.write(data)


def nvidia_smi_csv(
    company: Company, host: GpuHost, vals: np.ndarray, state: np.ndarray, paid: np.ndarray
) -> bytes:
    """What ``nvidia-smi --query-gpu=... --format=csv -l`` appends to its log."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(NVSMI_HEADER)
    hours = np.flatnonzero(paid)
    mems, powers = [], []
    for g in range(host.gpus):
        m, p = derived(host, vals[g, hours], state[hours])
        mems.append(m.tolist())
        powers.append(p.tolist())
    uuids = [gpu_uuid(company, host, g) for g in range(host.gpus)]
    for k, h in enumerate(hours.tolist()):
        stamp = company.cal.hour_time(h).strftime("%Y/%m/%d %H:30:00.000")
        for g in range(host.gpus):
            w.writerow(
                [
                    stamp,
                    f" {host.gpu_model}",
                    f" {bus_id(g)}",
                    f" {uuids[g]}",
                    f" {g}",
                    f" {round(float(vals[g, h]) * 100)} %",
                    f" {int(mems[g][k])} MiB",
                    f" {powers[g][k]:.2f} W",
                ]
            )
    return buf.getvalue().encode()


def write_telemetry(out: Path, company: Company, tick: Callable[[str], None] | None = None) -> None:
    cal = company.cal
    hosts = [h for h in company.hosts if not h.bulk]
    tdir = out / "telemetry"
    tdir.mkdir(parents=True, exist_ok=True)
    with open(tdir / "host_map.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["host", "resource_id", "provider", "telemetry"])
        for h in hosts:
            w.writerow([h.host, h.resource_id, h.provider, h.telemetry])
    dcgm = []
    for h in hosts:
        if h.telemetry == "none":
            continue
        state = host_state(company.seed, cal, h)
        paid = billed_mask(h, state)
        vals = gpu_values(company.seed, h, np.nan_to_num(state, nan=0.0))
        if h.telemetry == "nvidia-smi":
            _write_gz(
                tdir / "nvidia-smi" / f"{h.host}.csv.gz",
                nvidia_smi_csv(company, h, vals, np.nan_to_num(state), paid),
            )
        else:
            dcgm.append((h, paid, vals, np.nan_to_num(state)))
    for m in cal.months:  # one month in memory at a time
        a, b = cal.month_hours(m)
        pm = PrometheusMonth()
        for h, paid, vals, state in dcgm:
            hours = np.flatnonzero(paid[a:b]) + a
            if hours.size:
                pm.add(company, h, hours, vals, state)
        pm.write(tdir / "prometheus" / f"{m}.json.gz")
        if tick:
            tick(m)
