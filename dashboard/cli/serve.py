"""`finops dashboard` serves the Streamlit app; `finops demo` builds the sample warehouse first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from dashboard.cli.finops import App

APP = Path(__file__).resolve().parent.parent / "app" / "main.py"
SAMPLE_DATA = Path("sample_data")
# Streamlit treats a `pages/` folder beside the main script as legacy navigation until the
# script first calls st.navigation, and would run a page file directly, before the app's
# login and filters. The launcher turns that off before the server starts.
# Streamlit also serves /_stcore/metrics to anyone, without a setting to turn it off (session
# counts, cache sizes, and with [auth] users' attributes): the launcher answers it 404.
_LAUNCH = """
import sys
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli
from streamlit.web.server.starlette import starlette_app, starlette_routes

PagesManager.uses_pages_directory = False

async def not_served(request):
    return PlainTextResponse("Not Found", status_code=404)

def no_metrics(runtime, base_url):
    path = starlette_routes._with_base(starlette_routes.ROUTE_METRICS, base_url)
    return [Route(path, not_served, methods=["GET", "HEAD", "OPTIONS"])]

starlette_app.create_metrics_routes = no_metrics
sys.exit(cli.main(prog_name="streamlit"))
"""
# A failing page shows one message and its traceback goes to the server log only ("false"
# would be read as "stacktrace"); viewers get no developer toolbar.
# The demo ingests the sample enterprise through the same commands a user runs. AWS is a
# Data Export: each month is its newest delivery (the restated month's second execution).
DEMO_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("aws", ("aws/",)),
    ("azure", ("azure/",)),  # export runs: the newest complete run of each month
    ("gcp", ("gcp/parquet",)),
    # telemetry before the inventory: on-prem energy above idle uses the measured GPU power
    ("telemetry", ("prometheus", "telemetry/prometheus", "--host-map", "telemetry/host_map.csv")),
    (
        "telemetry",
        (
            "nvidia-smi",
            "telemetry/nvidia-smi",
            "--tz",
            "UTC",
            "--host-map",
            "telemetry/host_map.csv",
        ),
    ),
    ("onprem", ("onprem/inventory.csv",)),
    ("saas", ("saas/invoices.csv",)),
    # training runs: the colo's Slurm log, the cloud node pool's pods, MIG slices in the colo
    ("jobs", ("slurm", "slurm/iad1-sacct.txt", "--cluster", "iad1", "--tz", "America/New_York")),
    ("jobs", ("kubernetes", "kubernetes/aks-research/", "--cluster", "aks-research")),
    ("jobs", ("kubernetes", "kubernetes/iad1-mig/", "--cluster", "iad1-k8s")),
    ("serving", ("prometheus", "serving/prometheus")),  # after the GPU-hours it is costed by
)
ZONE_OPTION = "--tz"  # its value (America/New_York) holds a slash but is not a path


# The demo's settings: a few budgets over the sample enterprise so the Budgets page has
# something to judge. Research's monthly budget is planted to breach in the sample's last
# month (it spends about USD 115k in October 2026); the year's budget for all USD spend is
# on course to breach in December; the others hold. Alert rules that report the sample's
# planted events (the egress spike, the idle fleets, both budgets) on `finops watch`.
DEMO_SETTINGS = """\
# Written by `finops demo`: budgets over the sample enterprise (README: Budgets).
[[budgets.budget]]
name = "Research team"
amount = "100000"
team = "research"
owner = "research-lead@example.com"

[[budgets.budget]]
name = "GPU compute"
amount = "170000"
ai_class = "gpu_compute"
owner = "platform-lead@example.com"

[[budgets.budget]]
name = "All USD spend 2026"
amount = "3350000"
period = "annual"
owner = "cio@example.com"

[[budgets.budget]]
name = "AWS 2026"
amount = "1800000"
period = "annual"
provider = "AWS"
owner = "cloud-office@example.com"

[[budgets.budget]]
name = "SaaS in euros"
amount = "2000"
currency = "EUR"
owner = "procurement@example.com"

# `finops watch` (README: Alerts): these rules, printed to the terminal. Add a Slack,
# webhook or email [[alerts.channel]] to have them delivered.
[alerts]
dashboard_url = "http://localhost:8501"

[[alerts.rule]]
name = "Budget over"
type = "budget_breached"
severity = "critical"

[[alerts.rule]]
name = "Budget at risk"
type = "budget_forecast"
lead_days = 90

[[alerts.rule]]
name = "Egress spike"
type = "anomaly"
dimensions = ["ai_class"]
min_excess = "5000"
within_days = 90

[[alerts.rule]]
name = "Idle GPU fleet"
type = "idle_episode"
min_hours = 168
min_cost = "5000"
within_days = 90

[[alerts.rule]]
name = "Commitment under-used"
type = "commitment"
below = 0.5
within_days = 31
severity = "info"

[[alerts.rule]]
name = "Data gap"
type = "data_gap"
days = 35

[[alerts.channel]]
name = "terminal"
type = "stdout"
"""
DEMO_CONFIG = "finops-demo.toml"


def _demo_flows() -> str:
    """The sample's address map: billing says "internet" for traffic that lands in the colo
    site or another cloud; these resources' destinations are known (ingest/sample/flows.py)."""
    import json  # a JSON string is a TOML basic string

    from ingest.sample.flows import ADDRESSES, DATASETS

    where = [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in sorted(ADDRESSES.items())]
    sizes = [f"{json.dumps(k)} = {v}" for k, v in sorted(DATASETS.items())]
    return (
        "\n[flows.addresses]\n"
        + "\n".join(where)
        + "\n\n[flows.datasets]  # GB\n"
        + "\n".join(sizes)
        + "\n"
    )


def demo_settings(app: App) -> Path | None:
    """Write the demo's settings beside a local warehouse (never over a file the user named
    or one already there) and use them; None when the warehouse is on object storage."""
    from dashboard.cli.finops import load_settings
    from ingest.warehouse.location import is_remote

    if app.config_file is not None or is_remote(app.warehouse):
        return None
    path = Path(app.warehouse).resolve().parent / DEMO_CONFIG
    if not path.exists():
        path.write_text(DEMO_SETTINGS + _demo_flows(), encoding="utf-8")
    app.settings, app.config_file = load_settings(str(path))
    return path


def serve(app: App, port: int, host: str) -> int:
    import tempfile

    from dashboard.cli.auth import check_bind, parse_auth, write_secrets

    origin = str(app.config_file) if app.config_file else "finops.toml"
    auth = parse_auth(app.settings.auth, origin)
    check_bind(host, auth)
    env = dict(os.environ, FINOPS_WAREHOUSE=str(app.warehouse.resolve()))
    if app.config_file:
        env["FINOPS_CONFIG"] = str(app.config_file.resolve())
    args = [
        sys.executable, "-c", _LAUNCH, "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "viewer",
        "--server.enableStaticServing", "false",
        "--server.scriptHealthCheckEnabled", "false",
        "--server.enableAgentApi", "false",
    ]  # fmt: skip
    click.echo(f"Serving the dashboard on http://{host}:{port} (Ctrl+C stops it)")
    # The OIDC client secret goes to a private file that lives as long as the server.
    with tempfile.TemporaryDirectory(prefix="finops-dashboard-") as private:
        if auth is not None:
            secrets = write_secrets(auth, host, port, Path(private))
            args += ["--secrets.files", str(secrets)]
            click.echo("Sign-in required (OIDC).")
        else:
            args += ["--secrets.files", str(Path(private) / "none.toml")]
        return _run_server(args, env)


def _run_server(args: list[str], env: dict[str, str]) -> int:
    """Run the Streamlit server until it exits. A SIGTERM or SIGHUP sent to `finops dashboard`
    (a service manager stopping it) stops the server too: else it would keep the port."""
    import signal

    proc = subprocess.Popen(args, env=env)
    stopped = (-signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP)

    def stop(signum: int, frame: object) -> None:
        proc.send_signal(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl+C reached the server too; let it finish
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return 0 if code in stopped else code


def _ready(app: App) -> None:
    """What the demo built, in one breath, and where to look next."""
    from dashboard.cli.tables import money_with_code

    con = app.connect()
    try:
        lines, first, last = con.execute(
            "SELECT count(*), strftime(min(BillingPeriodStart), '%Y-%m'), "
            "strftime(max(BillingPeriodStart), '%Y-%m') FROM cost_lines"
        ).fetchall()[0]
        spend = con.execute(
            "SELECT BillingCurrency, sum(BilledCost) FROM cost_lines GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        hours = con.execute("SELECT count(*) FROM gpu_hours").fetchall()[0][0]
        idle = con.execute(
            "SELECT currency, count(*), sum(cost) FROM idle_episodes GROUP BY 1 ORDER BY 3 DESC"
        ).fetchall()
        from dashboard.queries.unit_costs import served_tile

        served = served_tile(con)
    finally:
        con.close()
    billed = ", ".join(money_with_code(total, currency) for currency, total in spend)
    click.echo(
        f"Warehouse ready in {app.warehouse}: {lines:,} cost lines, {first} .. {last}, "
        f"billed {billed}."
    )
    if not hours:
        click.echo("Idle GPUs: not measured (no GPU compute is billed in this data).")
    elif not idle:
        click.echo("Idle GPUs: no idle episodes.")
    else:
        costing = " and ".join(
            f"{n:,} episodes costing {money_with_code(cost, currency)}"
            for currency, n, cost in idle
        )
        click.echo(f"Idle GPUs: {costing}.")
    if served is not None:
        per = money_with_code(served["per_1m"], served["currency"])
        click.echo(
            f"Cost per 1M tokens served in {served['month']}: {per} on our own GPUs "
            f"({served['models']} model(s)); per model and against the API: finops unit-costs"
        )
    click.echo("Every load, period by period: finops loads")


@click.command()
@click.option("--port", default=8501, show_default=True, help="Port to listen on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but localhost needs [auth] in finops.toml.",
)
@click.pass_obj
def dashboard(app: App, port: int, host: str) -> None:
    """Serve the dashboard over the warehouse (read-only; ingests can run meanwhile)."""
    raise click.exceptions.Exit(serve(app, port, host))


@click.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=SAMPLE_DATA,
    show_default=True,
    help="Sample enterprise folder; generated if missing.",
)
@click.option("--no-serve", is_flag=True, help="Build the warehouse and stop.")
@click.option("--port", default=8501, show_default=True)
@click.pass_context
def demo(ctx: click.Context, data: Path, no_serve: bool, port: int) -> None:
    """Generate the sample enterprise if missing, ingest every source of it, serve the dashboard."""
    app: App = ctx.obj
    if not (data / "truth.json").exists():
        from ingest.sample.generator import generate

        click.echo(f"Generating the sample enterprise into {data} ...")
        generate(data)
    from dashboard.cli.ingest import group as ingest_group

    app.brief = True  # one line per ingest; `finops loads` lists every period
    for source, args in DEMO_STEPS:
        paths = [
            a for i, a in enumerate(args) if "/" in a and (i == 0 or args[i - 1] != ZONE_OPTION)
        ]
        if any(not (data / p).exists() for p in paths):
            continue
        if source not in ingest_group.list_commands(ctx):
            click.echo(f"(skipping {source}: this build has no {source} ingestor)")
            continue
        argv = [str(data / a) if a in paths else a for a in args]
        click.echo(f"finops ingest {source} {' '.join(argv)}")
        command = ingest_group.get_command(ctx, source)
        assert command is not None
        with ctx.scope():
            command.main(args=argv, standalone_mode=False, obj=app)
    _ready(app)
    settings = demo_settings(app)
    if settings is not None:
        click.echo(
            f"Demo budgets and alert rules: {settings} (the Budgets page; `finops --config "
            f"{settings} dashboard` serves them later, `finops --config {settings} watch "
            "--dry-run` says which alerts hold)."
        )
    if not no_serve:
        raise click.exceptions.Exit(serve(app, port, "127.0.0.1"))
