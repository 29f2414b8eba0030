"""Kubernetes training runs from DCGM exporter series -> allocations (models.training_runs).

Saved Prometheus `query_range` answers (`*.json`, `*.json.gz`) of DCGM_FI_PROF_GR_ENGINE_ACTIVE
(or DCGM_FI_DEV_GPU_UTIL, in %) as the exporter labels them in a cluster: `Hostname`, `gpu`,
`namespace`, `pod`, `container`, and on a MIG slice `GPU_I_ID` and `GPU_I_PROFILE`. With the
exporter's pod-label enrichment a series also carries the pod's labels (`job-name` arrives as
`job_name`): a run is the pods of one namespace that share the value of the job label the
caller names (e.g. `--job-label job-name`), or a single pod when it has none. A series
without a pod is a GPU no pod held and is skipped.

A run's allocation is one row per GPU or MIG slice per hour it was seen in (start = the
hour, end = the next), with that hour's mean activity of its own samples; a MIG slice is
`mig_slices` / 7 of its GPU, priced and utilised as such.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from ingest.sources.prometheus import GR, UTIL, label, matrix, point_value
from ingest.sources.prometheus_answers import list_answer_files, load_answer
from ingest.warehouse.load_contract import SourceFile
from models.errors import InputError
from models.training_runs import KUBERNETES, OBSERVED, TRAINING_RUNS, mig_slices

_SCALE = {GR: 1.0, UTIL: 0.01}  # GR_ENGINE_ACTIVE is a fraction, GPU_UTIL a percentage


def _utc(t: object) -> str:
    return f"{datetime.fromtimestamp(float(t), UTC):%Y-%m-%dT%H:%M:%SZ}"  # type: ignore[arg-type]


def label_names(job_label: str) -> tuple[str, ...]:
    """The Prometheus label names a pod label may arrive under: as given, sanitised
    (`job-name` -> `job_name`), and as kube-state-metrics writes it (`label_job_name`)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", job_label)
    return tuple(dict.fromkeys((job_label, clean, f"label_{clean}")))


def read_answer(path: Path, job_label: str | None) -> list[dict]:
    """One saved answer -> (pod, GPU or slice, hour) samples: sum and count of activity."""
    payload = load_answer(path)
    names = label_names(job_label) if job_label else ()
    cells: dict[tuple, list[float]] = {}
    for series in matrix(payload, str(path)):
        metric = series.get("metric", {})
        name = metric.get("__name__", "")
        if name not in _SCALE:
            raise InputError(
                "series is not a DCGM activity metric",
                file=str(path),
                expected=f"__name__ {GR} or {UTIL}",
                found=str(name),
            )
        pod, namespace = label(metric, "pod"), label(metric, "namespace")
        if not pod:
            continue  # a GPU no pod held
        host, gpu = label(metric, "host"), label(metric, "gpu_index")
        where = f"series {name} of pod {namespace}/{pod}"
        if not host or gpu is None or not gpu.isdigit():
            raise InputError(
                "series without its GPU",
                file=str(path),
                location=where,
                expected="Hostname and gpu (a number) labels on every series",
                found=f"Hostname={host!r}, gpu={gpu!r}",
            )
        instance, profile = metric.get("GPU_I_ID"), metric.get("GPU_I_PROFILE")
        slices = None
        if instance is not None or profile is not None:
            slices = mig_slices(profile or "")
            if slices is None or instance is None or not instance.isdigit():
                raise InputError(
                    "not a MIG slice this reader knows",
                    file=str(path),
                    location=where,
                    expected="GPU_I_ID (a number) with GPU_I_PROFILE like 1g.10gb, 3g.40gb",
                    found=f"GPU_I_ID={instance!r}, GPU_I_PROFILE={profile!r}",
                )
        job = next((metric[n] for n in names if metric.get(n)), None) or pod
        key = (namespace or "default", job, host, int(gpu), instance, profile, slices, name)
        for t, text in series.get("values") or []:
            value = point_value(text, str(path))
            if value is None:
                continue
            value *= _SCALE[name]
            if not 0 <= value <= 1:
                raise InputError(
                    "GPU activity outside 0-100%",
                    file=str(path),
                    location=f"{where} at {_utc(t)}",
                    expected="0-1 for GR_ENGINE_ACTIVE, 0-100 for GPU_UTIL",
                    found=text,
                )
            hour = int(float(t)) // 3600 * 3600
            cell = cells.setdefault((*key, hour), [0.0, 0])
            cell[0] += value
            cell[1] += 1
    return [{"key": k, "sum": v[0], "n": v[1]} for k, v in cells.items()]


def read_answers(
    path: Path, cluster: str, job_label: str | None
) -> tuple[list[SourceFile], pl.DataFrame]:
    """Saved answers under `path` -> (files, allocation rows without x_LoadId)."""
    files, cells = [], {}
    for f in list_answer_files(path):
        files.append(SourceFile.of(f))
        for cell in read_answer(f, job_label):
            s, n = cells.get(cell["key"], (0.0, 0))
            cells[cell["key"]] = (s + cell["sum"], n + cell["n"])
    # GR_ENGINE_ACTIVE is preferred: a GPU-hour that has it ignores GPU_UTIL
    has_gr = {(*k[:-2], k[-1]) for k in cells if k[-2] == GR}
    rows = []
    for key, (s, n) in sorted(cells.items(), key=lambda kv: kv[0]):
        namespace, job, host, gpu, instance, profile, slices, name, hour = key
        if name != GR and (*key[:-2], hour) in has_gr:
            continue
        start = datetime.fromtimestamp(hour, UTC)
        rows.append(
            {
                "source": KUBERNETES, "cluster": cluster, "job_id": f"{namespace}/{job}",
                "name": job, "team": namespace, "user": None, "partition": None,
                "state": OBSERVED, "submit": None, "start": start,
                "end": start + timedelta(hours=1), "host": host, "gpus": 1, "gpu_index": gpu,
                "gpu_instance": None if instance is None else int(instance),
                "mig_profile": profile, "mig_slices": slices, "avg_active": s / n,
                "x_SourceFile": str(path),
            }
        )  # fmt: skip
    schema = {c.name: c.dtype for c in TRAINING_RUNS.columns if c.name != "x_LoadId"}
    return files, pl.DataFrame(rows, schema=schema)
