"""Entry point: write the whole sample enterprise and its truth.json to a directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.sample import serving
from ingest.sample.aws_services import write_aws
from ingest.sample.azure_services import write_azure
from ingest.sample.company import (
    COMPANY_NAME,
    ONPREM_SITE,
    PROVIDERS,
    Company,
)
from ingest.sample.enterprise import build_company, with_bulk
from ingest.sample.gcp import write_gcp
from ingest.sample.jobs import write_jobs
from ingest.sample.onprem import book_costs, model_doc, write_inventory
from ingest.sample.saas import write_saas
from ingest.sample.serving import write_serving
from ingest.sample.telemetry import write_telemetry
from ingest.sample.truth import Ledger, build_truth, write_truth

SCALES = {"small": 1, "medium": 4}
# billing lines the base company writes per month (all providers), used to size bulk hosts
BASE_LINES_PER_MONTH = 9_000

Progress = Callable[[str, int, int], None]


def _scale(scale: str | int, months: int, hours: int, fleet: int = 1) -> tuple[int, int]:
    """(fleet multiplier, bulk hosts) for a scale name or a target number of billing lines.

    With a line count, ``fleet`` repeats the base company that many times (more monitored
    GPUs) and bulk hosts fill the rest of the lines."""
    if isinstance(scale, str) and not scale.isdigit():
        if scale not in SCALES:
            raise ValueError(
                f"scale must be one of {sorted(SCALES)} or a line count, got {scale!r}"
            )
        return SCALES[scale], 0
    lines = int(scale)
    if lines <= 0:
        raise ValueError(f"a line-count scale must be positive, got {lines}")
    bulk = max(0, lines - BASE_LINES_PER_MONTH * fleet * months) // hours
    return fleet, bulk


def generate(
    out: Path,
    *,
    seed: int = 42,
    months: int = 12,
    scale: str | int = "small",
    end_month: str = "2026-10",
    progress: Progress | None = None,
    providers: tuple[str, ...] = PROVIDERS,
    telemetry: bool = True,
    fleet: int = 1,
) -> dict:
    """Write the sample enterprise under ``out`` and return the truth it planted.

    ``scale`` is ``small`` (the committed demo set), ``medium`` (four times the fleet) or a
    number of billing lines: unmonitored 24x7 AWS instances are added until the CUR holds
    about that many lines. ``providers`` restricts what is written (benchmarks generate only
    ``("aws",)``); ``telemetry=False`` skips writing the GPU metrics (truth still describes
    the fleet as monitored, so use it only where idle truth is not checked). ``fleet`` repeats
    the base company's cloud fleet with a line-count scale (the scale benchmark's GPU count).
    """
    unknown = set(providers) - set(PROVIDERS)
    if unknown:
        raise ValueError(f"unknown providers {sorted(unknown)}; valid: {list(PROVIDERS)}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if fleet < 1 or (fleet > 1 and not str(scale).isdigit()):
        raise ValueError(f"fleet repeats the fleet of a line-count scale; got {fleet}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    probe = build_company(seed, months, end_month, 1, providers)
    mult, bulk = _scale(scale, months, probe.cal.hours, fleet)
    company = build_company(seed, months, end_month, mult, providers)
    if bulk:
        if "aws" not in providers:
            raise ValueError("a line-count scale adds AWS instances; include 'aws' in providers")
        company = with_bulk(company, bulk)
    ledger = Ledger()
    steps = [
        (name, fn)
        for name, fn in (
            ("aws", lambda t: write_aws(out, company, ledger, t)),
            ("azure", lambda t: write_azure(out, company, ledger, t)),
            ("gcp", lambda t: write_gcp(out, company, ledger, t)),
            ("onprem", lambda t: (write_inventory(out, company), book_costs(company, ledger))),
            ("saas", lambda t: write_saas(out, company, ledger)),
        )
        if name in providers
    ]
    runs: list[dict] = []
    if telemetry:
        steps.append(("telemetry", lambda t: write_telemetry(out, company, t)))
        steps.append(("jobs", lambda t: runs.extend(write_jobs(out, company))))
        steps.append(("serving", lambda t: write_serving(out, company)))
    for i, (name, fn) in enumerate(steps):
        if progress:
            progress(name, i, len(steps))
        fn((lambda m, name=name, i=i: progress(f"{name} {m}", i, len(steps))) if progress else None)
    _planted_events(company, ledger)
    truth = build_truth(company, ledger, _meta(company, seed, scale, bulk))
    if runs:
        truth["training_runs"] = runs
    truth["serving"] = serving.truth(company)
    write_truth(out / "truth.json", truth)
    if progress:
        progress("done", len(steps), len(steps))
    return truth


def _meta(company: Company, seed: int, scale: str | int, bulk: int) -> dict:
    return {
        "company": COMPANY_NAME,
        "seed": seed,
        "months": list(company.cal.months),
        "scale": str(scale),
        "providers": list(company.providers),
        "bulk_hosts": bulk,
        "onprem_site": ONPREM_SITE,
        "teams": [
            {
                "name": t.name,
                "cost_center": t.cost_center,
                "aws_account": t.aws_account,
                "azure_subscription": t.azure_subscription,
                "gcp_project": t.gcp_project,
            }
            for t in company.teams
        ],
        "onprem_model": model_doc(company),
        "idle_threshold": "0.05",
        "unmonitored_hosts": sorted(
            h.host for h in company.hosts if h.telemetry == "none" and not h.bulk
        ),
    }


def _planted_events(company: Company, ledger: Ledger) -> None:
    ev = company.events
    cal = company.cal
    if "aws" in company.providers:
        ledger.events.append(
            {
                "kind": "restatement",
                "provider": "AWS",
                "billing_period": ev.restated_month,
                "description": "AWS re-issued the month with an SLA credit: a second execution "
                "of the aws/acme-cur2 Data Export, named by the month's manifest, replaces the "
                "first",
                "credit": str(ev.restated_credit),
            }
        )
        ledger.events.append(
            {
                "kind": "price_change",
                "provider": "AWS",
                "billing_period": ev.price_change_month,
                "instance_type": ev.price_change_type,
                "old_rate": str(ev.price_old),
                "new_rate": str(ev.price_new),
                "description": "on-demand price cut; Savings Plan rate follows, so part of the "
                "fixed hourly commitment goes unused",
            }
        )
        p4d = [h for h in company.hosts_of("aws") if h.pattern == "abandoned"]
        if p4d:
            ledger.events.append(
                {
                    "kind": "abandoned_fleet",
                    "provider": "AWS",
                    "project_end": ev.abandoned_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "hosts": [h.host for h in p4d],
                    "shutdown": [
                        cal.hour_time(h.end_h).strftime("%Y-%m-%dT%H:%M:%SZ") for h in p4d
                    ],
                    "description": "the vision team's p4d fleet kept running idle for weeks after "
                    "its project ended",
                }
            )
    for h in company.hosts:
        if h.provider == "onprem" and h.pattern == "abandoned" and h.project_end_h is not None:
            ledger.events.append(
                {
                    "kind": "abandoned_fleet",
                    "provider": ONPREM_SITE,
                    "project_end": cal.hour_time(h.project_end_h).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "hosts": [h.host],
                    "description": "a speech project ended; its owned A100 server has idled since",
                }
            )
