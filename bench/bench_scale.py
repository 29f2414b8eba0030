"""The enterprise at scale: a year of the sample company ingested month by month into one warehouse.

    python bench/bench_scale.py                                  # 100 million lines, 12 months
    python bench/bench_scale.py --scale 10000000 --out /data/scale --keep

`finops sample`'s generator writes the sample enterprise at `--scale` lines (all three clouds,
on-prem, SaaS, and DCGM telemetry for about `--gpus` GPUs: the base company's fleet repeated).
Each billing month's deliveries (the AWS Data Export's period, the Azure export runs, the GCP
export file, the month's Prometheus answers) are then ingested through the `finops` CLI, one
process per command, oldest month first, into one warehouse. Per month it records each
ingest's wall and CPU time, peak RSS and the time spent in the post-ingest derived refresh,
beside a floor measured in the same run on the same files (DuckDB copying them to Parquet),
and the warehouse's size on disk beside the source files' size. After the months: the
dashboard's cold load (the app run as Streamlit's AppTest drives it, from the first request
until the Overview is rendered), each page's median warm rerun and the process's peak RSS;
`finops report` for the last month; `finops query` of the last month's total.

Every figure is appended to `<out>/results.jsonl` as soon as it is measured (a run cut short
keeps what it had), with the 1-minute load average of the machine; a markdown table of the
months is printed at the end. `--resume` goes on from a cut-short `--keep` run: the generated
files are reused and the months already recorded are not ingested again (a month cut short
mid-way is ingested again whole: each command replaces its periods). `--next-month` generates
one month more than `--months` (at the same lines a month) and keeps it out of the year; after
the year it is ingested into an empty warehouse and then into the year's, so the ratio of the
two is what a month costs with a year of history. Without `--keep` the generated files and the
warehouse are deleted afterwards (results.jsonl stays).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from measure import ROOT, machine, measured

PROVIDERS = ("aws", "azure", "gcp", "telemetry")
# The month a delivered file belongs to, by its place in the export layouts the sample writes:
# aws/<export>/{data,metadata}/BILLING_PERIOD=YYYY-MM/..., azure/<export>/YYYYMM01-YYYYMMDD/...,
# gcp/parquet/YYYYMM.parquet, telemetry/prometheus/YYYY-MM.json.gz.
MONTH_OF = {
    "aws": re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})/"),
    "azure": re.compile(r"^[^/]+/(\d{4})(\d{2})01-\d{8}/"),
    "gcp": re.compile(r"^parquet/(\d{4})(\d{2})\.parquet$"),
    "telemetry": re.compile(r"^prometheus/(\d{4})-(\d{2})\.json\.gz$"),
}

GENERATE = """
import json, sys, time
from pathlib import Path
from ingest.sample.generator import generate
out, log = Path(sys.argv[1]), open(sys.argv[2], "w")
def progress(step, i, n):
    log.write(json.dumps([time.perf_counter(), step]) + "\\n"); log.flush()
truth = generate(out, months=int(sys.argv[4]), scale=int(sys.argv[3]), fleet=int(sys.argv[5]),
                 progress=progress)
Path(sys.argv[6]).write_text(json.dumps({"lines": sum(r["lines"] for r in truth["totals"])}))
"""

# The finops CLI with the post-ingest refresh timed from inside (None where it is not found).
FINOPS = """
import json, sys, time
from pathlib import Path
out, args = Path(sys.argv[1]), sys.argv[2:]
spent = {"refresh_s": 0.0, "refreshes": 0}
try:
    from ingest.derive import refresh as derived
    inner = derived.refresh
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent["refresh_s"] += time.perf_counter() - t
            spent["refreshes"] += 1
    derived.refresh = timed
except (ImportError, AttributeError):
    pass
from dashboard.cli.finops import main
sys.argv = ["finops", *args]
try:
    code = main()
except SystemExit as e:
    code = e.code
out.write_text(json.dumps(spent))
sys.exit(code or 0)
"""

FLOOR = """
import json, sys, time
from pathlib import Path
import duckdb
month, out = Path(sys.argv[1]), Path(sys.argv[2])
con = duckdb.connect()
reads = {
    "aws": "read_parquet({})",
    "azure": "read_csv({}, header=true, all_varchar=false)",
    "gcp": "read_parquet({})",
}
spent = {}
for provider, read in reads.items():
    files = sorted(str(p) for p in (month / provider).rglob("*")
                   if p.suffix in (".parquet", ".csv", ".gz") and p.is_file())
    if provider == "azure":
        parquet = [f for f in files if f.endswith(".parquet")]
        csv = [f for f in files if f.endswith(".csv")]
        t = time.perf_counter()
        if csv:
            con.execute(f"COPY (SELECT * FROM {read.format(csv)}) "
                        f"TO '{out}/{provider}.parquet' (COMPRESSION zstd)")
        if parquet:
            con.execute(f"COPY (SELECT * FROM read_parquet({parquet}, union_by_name=true)) "
                        f"TO '{out}/{provider}-p.parquet' (COMPRESSION zstd)")
        spent[provider] = time.perf_counter() - t
        continue
    files = [f for f in files if f.endswith(".parquet")]
    t = time.perf_counter()
    if files:
        con.execute(f"COPY (SELECT * FROM read_parquet({files}, union_by_name=true)) "
                    f"TO '{out}/{provider}.parquet' (COMPRESSION zstd)")
    spent[provider] = time.perf_counter() - t
(out / "floor.json").write_text(json.dumps(spent))
"""

DASHBOARD = """
import json, statistics, sys, time
from pathlib import Path
from streamlit.testing.v1 import AppTest
app, out, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
# as tests/fixtures/app_pages.py runs it: the main script from elsewhere, pages by switch_page
at = AppTest.from_string(f"import runpy; runpy.run_path({app!r})", default_timeout=3600).run()
cold = time.perf_counter() - t
overview = {m.label: m.value for m in at.metric}  # the Overview's headline figures, rendered
problems = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
warm = {}
for page in sorted((Path(app).parent / "pages").glob("[!_]*.py")):
    times = []
    for i in range(repeats + 1):  # the first visit fills the page's caches and is not counted
        t = time.perf_counter()
        at.switch_page(str(page)).run()
        if i:
            times.append(time.perf_counter() - t)
        problems += [f"{page.stem}: {e.value}" for e in list(at.exception) + list(at.error)]
    warm[page.stem] = statistics.median(times)
figures = {"cold_s": cold, "overview": overview, "warm_s": warm, "problems": problems[:5]}
out.write_text(json.dumps(figures))
"""


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _load() -> float:
    return round(os.getloadavg()[0], 2)


class Results:
    """results.jsonl: one JSON object a line, flushed as each figure is measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, step: str, **figures) -> dict:
        record = {
            "step": step,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "load_1m": _load(),
            **figures,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
        return record


def fleet_for(gpus: int, months: int) -> tuple[int, int]:
    """How often to repeat the base fleet so at least ``gpus`` GPUs report telemetry, and the
    GPUs that then do."""
    from ingest.sample.enterprise import build_company

    def monitored(mult: int) -> int:
        company = build_company(42, months, "2026-10", mult)
        return sum(h.gpus for h in company.hosts if h.telemetry != "none")

    one, two = monitored(1), monitored(2)
    per, fixed = two - one, 2 * one - two  # the cloud fleet repeats; on-prem does not
    mult = max(1, math.ceil((gpus - fixed) / per)) if gpus > one else 1
    return mult, monitored(mult)


def split_months(src: Path, dest: Path) -> dict[str, Path]:
    """One folder per billing month holding only that month's deliveries (hard links)."""
    months: dict[str, Path] = {}
    for provider, pattern in MONTH_OF.items():
        base = src / provider
        for path in sorted(base.rglob("*")) if base.exists() else []:
            if not path.is_file():
                continue
            rel = path.relative_to(base).as_posix()
            if provider == "aws":
                rel = rel.split("/", 1)[1] if "/" in rel else rel  # below the export's name
            found = pattern.search(rel)
            if not found:
                continue
            month = f"{found[1]}-{found[2]}"
            target = dest / month / provider / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # a resumed run's split
                months[month] = dest / month
                continue
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
            months[month] = dest / month
    return dict(sorted(months.items()))


class Bench:
    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self.src = out / "source"
        self.warehouse = out / "warehouse"
        self.scratch = out / "scratch"
        self.results = Results(out / "results.jsonl")
        env = {k: v for k, v in os.environ.items() if k != "FINOPS_CONFIG"}  # the defaults
        self.env = {**env, "PYTHONPATH": str(ROOT), "FINOPS_WAREHOUSE": str(self.warehouse)}

    def finops(self, *argv: str) -> dict:
        """One `finops` command in its own process: wall, CPU, peak RSS and refresh time."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        side = self.scratch / "finops.json"
        side.unlink(missing_ok=True)
        cmd = [sys.executable, "-c", FINOPS, str(side), *argv]
        seconds, rss, cpu = measured(cmd, env=self.env)
        inner = json.loads(side.read_text()) if side.exists() else {}
        return {
            "s": round(seconds, 2),
            "cpu_s": round(cpu, 2),
            "rss_mib": round(rss / 2**20),
            "refresh_s": round(inner["refresh_s"], 2) if inner.get("refreshes") else None,
        }

    def generated(self) -> bool:
        """Whether a kept run's generation finished (then `--resume` reuses it)."""
        done = self.scratch / "generate.json"
        return done.exists() and (self.src / "truth.json").exists()

    def read_generated(self) -> None:
        self.per_month_generation = _per_month(self.scratch / "generate.log")
        self.lines_by_month: dict[str, int] = {}
        for row in json.loads((self.src / "truth.json").read_text())["totals"]:
            month = row["billing_period"]
            self.lines_by_month[month] = self.lines_by_month.get(month, 0) + row["lines"]

    def generate(self) -> None:
        log, done = self.scratch / "generate.log", self.scratch / "generate.json"
        self.scratch.mkdir(parents=True, exist_ok=True)
        months = self.args.months + (1 if self.args.next_month else 0)
        scale = self.args.scale * months // self.args.months  # the same lines a month
        fleet, gpus = fleet_for(self.args.gpus, months)
        cmd = [sys.executable, "-c", GENERATE, str(self.src), str(log)]
        cmd += [str(scale), str(months), str(fleet), str(done)]
        seconds, rss, cpu = measured(cmd, env=self.env)
        lines = json.loads(done.read_text())["lines"]
        self.read_generated()
        self.results.add(
            "generate",
            scale=scale,
            months=months,
            fleet=fleet,
            lines=lines,
            monitored_gpus=gpus,
            s=round(seconds, 1),
            cpu_s=round(cpu, 1),
            lines_per_cpu_s=round(lines / cpu) if cpu else None,
            rss_mib=round(rss / 2**20),
            source_mib=round(_size(self.src) / 2**20, 1),
            by_provider_s={k: round(v, 1) for k, v in _per_step(log).items()},
        )

    def month(self, month: str, folder: Path, host_map: Path, step: str = "month") -> dict:
        floor_dir = self.scratch / "floor"
        shutil.rmtree(floor_dir, ignore_errors=True)
        floor_dir.mkdir(parents=True)
        f_s, f_rss, _ = measured([sys.executable, "-c", FLOOR, str(folder), str(floor_dir)])
        floor = json.loads((floor_dir / "floor.json").read_text())
        shutil.rmtree(floor_dir)
        commands = {
            "aws": ("ingest", "aws", str(folder / "aws")),
            "azure": ("ingest", "azure", str(folder / "azure")),
            "gcp": ("ingest", "gcp", str(folder / "gcp" / "parquet")),
            "telemetry": (
                "ingest", "telemetry", "prometheus", str(folder / "telemetry" / "prometheus"),
                "--host-map", str(host_map),
            ),
        }  # fmt: skip
        ingest = {p: self.finops(*argv) for p, argv in commands.items() if (folder / p).exists()}
        for provider, figures in ingest.items():
            if floor.get(provider):
                figures["floor_s"] = round(floor[provider], 4)
                figures["vs_floor"] = round(figures["s"] / floor[provider], 2)
        source = _size(folder)
        stored = _size(self.warehouse)
        return self.results.add(
            step,
            month=month,
            lines=self.lines_by_month.get(month),
            generate_s=round(self.per_month_generation.get(month, 0.0), 1),
            source_mib=round(source / 2**20, 2),
            by_provider_mib={p: round(_size(folder / p) / 2**20, 2) for p in ingest},
            floor_process_s=round(f_s, 2),
            floor_rss_mib=round(f_rss / 2**20),
            ingest=ingest,
            ingest_s=round(sum(f["s"] for f in ingest.values()), 2),
            ingest_cpu_s=round(sum(f["cpu_s"] for f in ingest.values()), 2),
            refresh_s=_sum_known(f["refresh_s"] for f in ingest.values()),
            peak_rss_mib=max(f["rss_mib"] for f in ingest.values()),
            warehouse_mib=round(stored / 2**20, 1),
        )

    def next_month(self, month: str, folder: Path, host_map: Path) -> dict:
        """The month after the year, into an empty warehouse and then into the year's: the
        same commands on the same files, so the ratio is the cost of the history alone."""
        year = self.warehouse
        self.warehouse = self.scratch / "empty-warehouse"
        shutil.rmtree(self.warehouse, ignore_errors=True)
        self.env["FINOPS_WAREHOUSE"] = str(self.warehouse)
        try:
            empty = self.month(month, folder, host_map, step="next month, empty warehouse")
        finally:
            shutil.rmtree(self.warehouse, ignore_errors=True)
            self.warehouse = year
            self.env["FINOPS_WAREHOUSE"] = str(year)
        full = self.month(month, folder, host_map, step="next month, after the year")
        return self.results.add(
            "next month",
            month=month,
            empty_s=empty["ingest_s"],
            full_s=full["ingest_s"],
            ratio_s=round(full["ingest_s"] / empty["ingest_s"], 2),
            empty_cpu_s=empty["ingest_cpu_s"],
            full_cpu_s=full["ingest_cpu_s"],
            ratio_cpu=round(full["ingest_cpu_s"] / empty["ingest_cpu_s"], 2),
        )

    def final(self, last: str) -> None:
        """The figures over the whole warehouse, after the months."""
        months = self.out / "months"
        self.results.add(
            "warehouse",
            warehouse_mib=round(_size(self.warehouse) / 2**20, 1),
            source_mib=round(_size(months) / 2**20, 1),
            ratio=round(_size(self.warehouse) / max(1, _size(months)), 2),
        )
        self.dashboard()
        self.report(last)
        self.query(last)

    def dashboard(self) -> dict:
        side = self.scratch / "dashboard.json"
        app = str(ROOT / "dashboard" / "app" / "main.py")
        cmd = [sys.executable, "-c", DASHBOARD, app, str(side), str(self.args.repeats)]
        seconds, rss, _ = measured(cmd, env=self.env)
        inner = json.loads(side.read_text())
        return self.results.add(
            "dashboard",
            cold_s=round(inner["cold_s"], 2),
            overview=inner["overview"],
            warm_median_s={k: round(v, 3) for k, v in inner["warm_s"].items()},
            slowest_warm_s=round(max(inner["warm_s"].values(), default=0.0), 3),
            process_s=round(seconds, 1),
            rss_mib=round(rss / 2**20),
            problems=inner["problems"],
            repeats=self.args.repeats,
        )

    def report(self, month: str) -> dict:
        out = self.scratch / "reports"
        figures = self.finops("report", "--month", month, "--out", str(out))
        figures.pop("refresh_s")
        return self.results.add("report", month=month, **figures)

    def query(self, month: str) -> dict:
        sql = (
            "SELECT BillingCurrency, sum(BilledCost) AS billed FROM cost_lines "
            f"WHERE strftime(BillingPeriodStart, '%Y-%m') = '{month}' GROUP BY 1"
        )
        figures = self.finops("query", "--format", "json", sql)
        figures.pop("refresh_s")
        return self.results.add("query", month=month, sql=sql, **figures)


def _recorded(path: Path) -> dict[str, set[str]]:
    """The months each step has already recorded in a kept run's results.jsonl."""
    done: dict[str, set[str]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line) if line else {}
        if "month" in record:
            done.setdefault(record["step"], set()).add(record["month"])
    return done


def _sum_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 2) if known else None


def _events(log: Path) -> list[tuple[float, str]]:
    return [tuple(json.loads(line)) for line in log.read_text().splitlines() if line]


def _per_step(log: Path) -> dict[str, float]:
    """Seconds of each generator step (aws, azure, gcp, onprem, saas, telemetry)."""
    events = _events(log)
    spent: dict[str, float] = {}
    for (t0, name), (t1, _) in itertools.pairwise(events):
        step = name.split(" ")[0]
        if step != "done":
            spent[step] = spent.get(step, 0.0) + t1 - t0
    return spent


def _per_month(log: Path) -> dict[str, float]:
    """Generation seconds of each month: the time up to each provider's tick for that month."""
    events = _events(log)
    spent: dict[str, float] = {}
    for (t0, _), (t1, name) in itertools.pairwise(events):
        parts = name.split(" ")
        if len(parts) == 2 and re.fullmatch(r"\d{4}-\d{2}", parts[1]):
            spent[parts[1]] = spent.get(parts[1], 0.0) + t1 - t0
    return spent


def table(records: list[dict]) -> str:
    rows = [
        "| month | lines | gen s | source MiB | ingest s (aws/azure/gcp/telemetry) | vs floor "
        "(aws/azure/gcp) | refresh s | peak RSS MiB | warehouse MiB | load |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in records:
        if r["step"] != "month":
            continue
        ing = r["ingest"]
        secs = "/".join(f"{ing[p]['s']:.1f}" for p in PROVIDERS if p in ing)
        ratio = "/".join(f"{ing[p].get('vs_floor', 0):.1f}x" for p in PROVIDERS[:3] if p in ing)
        rows.append(
            f"| {r['month']} | {r.get('lines') or ''} | {r['generate_s']} | {r['source_mib']} | "
            f"{secs} | {ratio} | "
            f"{r['refresh_s']} | {r['peak_rss_mib']} | {r['warehouse_mib']} | {r['load_1m']} |"
        )
    for r in records:
        if r["step"] == "dashboard":
            rows.append(
                f"\nDashboard: cold {r['cold_s']} s, slowest page warm {r['slowest_warm_s']} s, "
                f"peak RSS {r['rss_mib']} MiB (load {r['load_1m']})"
            )
        elif r["step"] in ("report", "query"):
            rows.append(
                f"`finops {r['step']}` {r['month']}: {r['s']} s, {r['rss_mib']} MiB "
                f"(load {r['load_1m']})"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=100_000_000, help="billing lines in all")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--gpus", type=int, default=2000, help="GPUs with telemetry (at least)")
    ap.add_argument("--out", type=Path, help="folder for results.jsonl (and the data)")
    ap.add_argument("--keep", action="store_true", help="keep the source files and warehouse")
    ap.add_argument("--repeats", type=int, default=3, help="warm reruns of each page")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="go on from a cut-short `--out DIR --keep` run: reuse its generated files and skip "
        "the months it recorded",
    )
    ap.add_argument(
        "--next-month",
        action="store_true",
        help="generate one month more and measure it into an empty warehouse and into the "
        "year's (the cost of a year of history)",
    )
    ap.add_argument(
        "--final-only",
        action="store_true",
        help="only the steps after the months (dashboard, report, query) over the warehouse a "
        "cut-short `--out DIR --keep` run left",
    )
    args = ap.parse_args(argv)
    out = (args.out or Path(tempfile.mkdtemp(prefix="bench-scale-"))).resolve()
    if args.final_only:
        return final_only(args, out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        for stale in ("source", "warehouse", "months", "scratch", "results.jsonl"):
            target = out / stale
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    bench = Bench(args, out)
    recorded = _recorded(bench.results.path)
    bench.results.add(
        "machine", machine=machine(), python=sys.version.split()[0], argv=sys.argv[1:]
    )
    try:
        if args.resume and bench.generated():
            bench.read_generated()
        else:
            bench.generate()
        months = split_months(bench.src, out / "months")
        host_map = bench.src / "telemetry" / "host_map.csv"
        extra = list(months)[-1] if args.next_month else None
        year = [m for m in months if m != extra]
        for month in year:
            if month not in recorded.get("month", set()):
                bench.month(month, months[month], host_map)
        if extra and extra not in recorded.get("next month", set()):
            bench.next_month(extra, months[extra], host_map)
        bench.final(year[-1])
    finally:
        records = [json.loads(x) for x in bench.results.path.read_text().splitlines() if x]
        print(table(records))
        print(f"results: {bench.results.path}")
        if not args.keep:
            for folder in ("source", "warehouse", "months", "scratch"):
                shutil.rmtree(out / folder, ignore_errors=True)
    return 0


def final_only(args: argparse.Namespace, out: Path) -> int:
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x]
    done = [r["month"] for r in records if r["step"] == "month"]
    if not done or not (out / "warehouse").exists():
        print(f"{out} holds no month of a kept run (--out DIR --keep)", file=sys.stderr)
        return 2
    Bench(args, out).final(done[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
