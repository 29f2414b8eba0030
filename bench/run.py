"""`make bench`: every benchmark at the scale its issue names, one after another.

Each script prints its figures (medians, with the DuckDB floor measured in the same run) and
the machine it ran on; copy them into bench/RESULTS.md. The whole set takes hours on two cores;
run one script alone with `--help` to see its knobs (smaller sizes, fewer repeats).
Usage: python bench/run.py [NAME ...]   (names: sample, aws, azure, gcp, jobs, serving, telemetry,
classify, dashboard, report, incremental, unit_costs, scale)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "sample": ["bench_sample.py", "--lines", "10000000"],
    "aws": ["bench_ingest_aws.py", "--lines", "5000000", "--repeats", "3"],
    "azure": ["bench_ingest_azure.py", "--lines", "5000000", "--repeats", "3"],
    "gcp": ["bench_ingest_gcp.py", "--lines", "5000000", "--repeats", "3"],
    "jobs": ["bench_ingest_jobs.py", "--lines", "1000000", "--repeats", "3"],
    "serving": ["bench_ingest_serving.py", "--endpoints", "200", "--days", "30", "--repeats", "3"],
    "telemetry": ["bench_ingest_telemetry.py", "--gpus", "500", "--days", "365", "--repeats", "3"],
    "classify": ["bench_classify.py", "--lines", "10000000", "--gpus", "500", "--repeats", "3"],
    "dashboard": ["bench_dashboard.py", "--repeats", "5"],
    "report": ["bench_report.py", "--repeats", "3"],
    "incremental": ["bench_incremental.py", "--gpus", "512", "--repeats", "3"],
    "unit_costs": ["bench_unit_costs.py", "--lines", "1000000", "--repeats", "3"],
    # a year of the sample enterprise month by month: hours on two cores, figures kept as they come
    "scale": [
        "bench_scale.py",
        "--scale",
        "100000000",
        "--months",
        "12",
        "--gpus",
        "2000",
        "--out",
        "bench/out/scale",
    ],
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(SCRIPTS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or list(SCRIPTS):
        script, *args = SCRIPTS[name]
        print(f"== {name}: {script} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / script), *args]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
