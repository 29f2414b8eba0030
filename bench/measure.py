"""What every benchmark shares: measuring one child process, and naming the machine."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (bytes) and CPU seconds (user + system) of one child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def wall_and_rss(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    seconds, rss, _ = measured(cmd)
    return seconds, rss


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores (nproc), {mem:.0f} GiB RAM"


@dataclass(frozen=True)
class Figures:
    """One step's medians over its runs."""

    wall: float  # seconds
    rss: int  # peak bytes
    cpu: float  # seconds, user + system


def medians(runs: list[tuple[float, int, float]]) -> Figures:
    """The medians of `measured` results, figure by figure."""
    return Figures(
        statistics.median(r[0] for r in runs),
        int(statistics.median(r[1] for r in runs)),
        statistics.median(r[2] for r in runs),
    )


_POOL = "from ingest.arrow_pool import use_reusing_pool; use_reusing_pool()"  # as `finops` does


def ingest_runs(
    repeats: int,
    tmp: Path,
    floor: Callable[[Path], list[str]],
    source: list[str],
    load_child: str,
) -> tuple[Figures, Figures, Figures]:
    """An ingest benchmark's loop: `repeats` times, in turn and each in its own process, the
    floor (writing to the Parquet file it is given), `finops ingest SOURCE...` and the load
    alone (the script `load_child`, given the input `source[-1]` and the warehouse, on the
    Arrow pool the command sets), each into a fresh warehouse folder, printing each run; their
    medians."""
    cli = [sys.executable, "-m", "dashboard.cli", "--warehouse"]
    load_child = f"{_POOL}\n{load_child}"

    def ingest(wh: Path) -> list[str]:
        return [*cli, str(wh), "ingest", *source]

    def load(wh: Path) -> list[str]:
        return [sys.executable, "-c", load_child, source[-1], str(wh)]

    runs: tuple[list, list, list] = ([], [], [])
    for i in range(repeats):
        out = tmp / f"floor-{i}.parquet"
        runs[0].append(measured(floor(out)))
        out.unlink()
        for done, cmd in zip(runs[1:], (ingest, load), strict=True):
            wh = tmp / f"warehouse-{i}"
            done.append(measured(cmd(wh)))
            shutil.rmtree(wh)
        f, o, ld = (r[-1] for r in runs)
        # CPU seconds too: on a shared machine they are the steadier figure, and a run cut
        # short before the medians would otherwise leave none
        print(
            f"run {i + 1}: floor {f[0]:.1f} s, {f[2]:.1f} CPU s ({f[1] / 2**30:.2f} GiB), "
            f"finops {o[0]:.1f} s, {o[2]:.1f} CPU s ({o[1] / 2**30:.2f} GiB), "
            f"load only {ld[0]:.1f} s, {ld[2]:.1f} CPU s ({ld[1] / 2**30:.2f} GiB); "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    floor_f, ours, load_f = (medians(r) for r in runs)
    return floor_f, ours, load_f


def print_ingest_table(lines: int, about: str, steps: list[tuple[str, Figures]]) -> None:
    """Date, machine and `about` (the input), then a Markdown table of `steps` (label,
    medians), the first the floor every ratio is taken against."""
    floor = steps[0][1]
    print()
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
    print(about)
    print("| step | median wall s | lines/s | CPU s | peak RSS | wall vs floor | CPU vs floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, f in steps:
        print(
            f"| {label} | {f.wall:.1f} | {lines / f.wall:,.0f} | {f.cpu:.1f} | "
            f"{f.rss / 2**30:.2f} GiB | {f.wall / floor.wall:.2f}x | {f.cpu / floor.cpu:.2f}x |"
        )


def generated_input(src: Path, make: Callable[[Path], None], what: str) -> None:
    """Write a bench's input with `make(src)` unless an earlier run left it there (--data)."""
    src.parent.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        began = time.perf_counter()
        make(src)
        print(f"generated {what} in {time.perf_counter() - began:.1f} s", flush=True)
