"""The dashboard as a visitor gets it, on any warehouse: cold load, every page, peak memory.

    python bench/bench_app.py --warehouse DIR [--runs 3] [--repeats 3] [--config FILE] [--cold]

Runs the Streamlit app as bench/bench_scale.py's dashboard step does (AppTest, the main script
from elsewhere, pages by switch_page) in `--runs` fresh processes, one after another. In each:
the cold load (from the first request until the Overview is rendered), then every page in
turn: its first visit (caches empty), the median of `--repeats` warm reruns, and the process's
peak RSS after it (so the page that raises the peak shows). The parent prints medians over
the runs, each run's process peak RSS (measured from outside, as bench/measure.py does), the
load average before and after, and the figures every page's tiles show (the same in every
run, or it says which differ): compare them before and after a change.

`--cold` measures the cold load alone (no other page), for a quick before/after of it.

`--config FILE` serves the app with FINOPS_CONFIG=FILE (e.g. another `[warehouse]
memory_limit`); without it the defaults, as bench_scale.py serves it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import ROOT, machine, measured

CHILD = """
import json, resource, statistics, sys, time
from pathlib import Path
from streamlit.testing.v1 import AppTest
app, out, repeats, cold_only = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu_s()
at = AppTest.from_string(f"import runpy; runpy.run_path({app!r})", default_timeout=3600).run()
cold, cold_cpu = time.perf_counter() - t, cpu_s() - c
pages = {"(cold) overview": {"first_s": cold, "cpu_s": cold_cpu, "rss_mib": rss_mib(),
                             "tiles": {m.label: m.value for m in at.metric}}}
problems = [str(e.value) for e in list(at.exception) + list(at.error)]
for page in [] if cold_only else sorted((Path(app).parent / "pages").glob("[!_]*.py")):
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        at.switch_page(str(page)).run()
        times.append(time.perf_counter() - t)
        problems += [f"{page.stem}: {e.value}" for e in list(at.exception) + list(at.error)]
    pages[page.stem] = {"first_s": times[0], "warm_s": statistics.median(times[1:]),
                        "rss_mib": rss_mib(), "tiles": {m.label: m.value for m in at.metric}}
out.write_text(json.dumps({"pages": pages, "problems": problems[:5]}))
"""


def run_once(warehouse: Path, repeats: int, config: Path | None, cold_only: bool = False) -> dict:
    side = Path(tempfile.mkdtemp(prefix="bench-app-")) / "app.json"
    env = {k: v for k, v in os.environ.items() if k != "FINOPS_CONFIG"}
    env |= {"PYTHONPATH": str(ROOT), "FINOPS_WAREHOUSE": str(warehouse)}
    if config is not None:
        env["FINOPS_CONFIG"] = str(config)
    app = str(ROOT / "dashboard" / "app" / "main.py")
    child = [sys.executable, "-c", CHILD, app, str(side), str(repeats), str(int(cold_only))]
    seconds, rss, _ = measured(child, env)
    return {**json.loads(side.read_text()), "process_s": seconds, "peak_rss_mib": rss / 2**20}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3, help="fresh processes (medians over them)")
    ap.add_argument("--repeats", type=int, default=3, help="warm reruns of each page")
    ap.add_argument("--config", type=Path, help="a finops.toml to serve the app with")
    ap.add_argument("--json", type=Path, help="also write every run's figures here")
    ap.add_argument("--cold", action="store_true", help="the cold load alone, no other page")
    args = ap.parse_args(argv)
    before = os.getloadavg()
    wh = args.warehouse.resolve()
    runs = [run_once(wh, args.repeats, args.config, args.cold) for _ in range(args.runs)]
    after = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    print(f"machine: {machine()}; load average (1, 5, 15 min) before {before}, after {after}")
    print(f"warehouse: {args.warehouse}; {args.runs} runs, {args.repeats} warm reruns a page")
    print("| page | first visit s | warm s | process RSS after it, MiB |")
    print("|---|---:|---:|---:|")
    for page in runs[0]["pages"]:
        figures = [r["pages"][page] for r in runs]
        warm = [f["warm_s"] for f in figures if "warm_s" in f]
        print(
            f"| {page} | {statistics.median(f['first_s'] for f in figures):.2f} | "
            + (f"{statistics.median(warm):.2f}" if warm else "–")
            + f" | {statistics.median(f['rss_mib'] for f in figures):.0f} |"
        )
    peaks = [round(r["peak_rss_mib"]) for r in runs]
    print(f"process peak RSS: median {statistics.median(peaks):.0f} MiB (runs: {peaks})")
    colds = [round(r["pages"]["(cold) overview"]["first_s"], 2) for r in runs]
    cpus = [round(r["pages"]["(cold) overview"]["cpu_s"], 2) for r in runs]
    print(
        f"cold load: median {statistics.median(colds):.2f} s wall (runs: {colds}), "
        f"{statistics.median(cpus):.2f} s CPU (runs: {cpus}; all threads of the process)"
    )
    for page, f in runs[0]["pages"].items():
        if f["tiles"]:
            print(f"{page}: {json.dumps(f['tiles'], ensure_ascii=False)}")
    differ = [
        p
        for p in runs[0]["pages"]
        if any(r["pages"][p]["tiles"] != runs[0]["pages"][p]["tiles"] for r in runs)
    ]
    if differ:
        print(f"tiles differ between runs on: {', '.join(differ)}")
    problems = [p for r in runs for p in r["problems"]]
    if problems:
        print("problems: " + "; ".join(problems[:5]))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
