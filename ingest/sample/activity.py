"""Hourly GPU activity of every host: the single source of both telemetry and idle truth.

Each host gets its own numpy stream seeded from (company seed, host index), so the billing,
telemetry and truth writers all see the same draws without holding them in memory at once.
Idle hours are at most 0.02 and active hours at least 0.35, so any threshold between the two
(the product's default is 0.05) classifies every hour the same way.
"""

from __future__ import annotations

import numpy as np

from ingest.sample.company import Calendar, GpuHost

IDLE_MAX = 0.02
ACTIVE_MIN = 0.35
IDLE_THRESHOLD = 0.05


def host_state(seed: int, cal: Calendar, host: GpuHost) -> np.ndarray:
    """Host-level activity per hour of the calendar; NaN where the host is not billed."""
    rng = np.random.default_rng([seed, host.index, 1])
    H = cal.hours
    act = np.full(H, np.nan)
    a, b = max(0, host.start_h), min(H, host.end_h)
    if b <= a:
        return act
    hours = np.arange(a, b)
    start_ts = cal.start.timestamp()
    dow = ((start_ts // 86400 + 3 + hours // 24) % 7).astype(int)  # 1970-01-01 was a Thursday
    hod = hours % 24
    busy = np.zeros(b - a, dtype=bool)
    if host.pattern in ("inference", "always"):
        busy[:] = True
    elif host.pattern == "notebook":
        # people work 13:00-22:00 UTC (US hours) on weekdays; the GPU idles the rest
        busy = (dow < 5) & (hod >= 13) & (hod < 22)
    else:  # training / abandoned: multi-day jobs separated by idle gaps while the box stays up
        stop = b if host.project_end_h is None else max(a, min(b, host.project_end_h))
        t = a + int(rng.integers(0, 18))
        while t < stop:
            run = int(rng.integers(2 * 24, 6 * 24))
            busy[t - a : min(stop, t + run) - a] = True
            t += run + int(rng.integers(6, 60))
    level = np.where(
        busy,
        rng.uniform(0.72, 0.97, b - a)
        if host.workload == "training"
        else 0.45
        + 0.35 * np.clip(np.sin((hod - 8) / 24 * 2 * np.pi), 0, 1)
        + rng.uniform(0.0, 0.12, b - a),
        rng.uniform(0.0, IDLE_MAX, b - a),
    )
    act[a:b] = np.clip(level, 0.0, 1.0)
    return act


def gpu_values(seed: int, host: GpuHost, state: np.ndarray) -> np.ndarray:
    """Per-GPU GR_ENGINE_ACTIVE (gpus x hours), rounded to 2 decimals, kept in the state's band."""
    rng = np.random.default_rng([seed, host.index, 2])
    noise = rng.normal(0.0, 0.03, (host.gpus, state.size))
    vals = state[None, :] + noise
    idle = state[None, :] <= IDLE_MAX
    vals = np.where(idle, np.clip(vals, 0.0, IDLE_MAX), np.clip(vals, ACTIVE_MIN, 1.0))
    return np.round(vals, 2)


def idle_mask(state: np.ndarray) -> np.ndarray:
    """Billed hours in which every GPU of the host is idle (the draws keep GPUs in one band)."""
    return np.nan_to_num(state, nan=1.0) < IDLE_THRESHOLD


def episodes(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive True hours as [start, end) hour indexes."""
    if not mask.any():
        return []
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def billed_mask(host: GpuHost, state: np.ndarray) -> np.ndarray:
    """Hours the provider bills: the whole running window, except managed training jobs,
    which bill only while a job runs."""
    if host.service in ("sagemaker-train", "sagemaker-processing"):
        return np.nan_to_num(state, nan=0.0) >= ACTIVE_MIN
    return ~np.isnan(state)
