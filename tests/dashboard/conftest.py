"""A small warehouse built in code for the dashboard tests, with figures known by hand.

Everything goes through the real parts: cost lines through the store, GPU telemetry through
the telemetry writer, then the same derived refresh an ingest runs (classification,
gpu_hours, idle episodes).

October 2026, AWS (p5.48xlarge: 8 GPUs at USD 80 an hour, so USD 10 per GPU-hour):
- i-gpu1 (team vision), 4 hours: GPUs 0-2 at 0% (hard idle), the rest at 90%
  -> 12 idle GPU-hours, USD 120 idle.
- i-gpu2 (team nlp), 4 hours: all 8 GPUs at 3% for 2 hours (allocated idle), 20% for 2
  (underutilised) -> 16 idle GPU-hours, USD 160: the top idle resource. At a 25% threshold
  all 32 hours are idle: USD 320.
- i-gpu3, 2 hours, no telemetry -> 16 unmonitored GPU-hours, USD 160.
September and October: egress and storage lines; Azure: one Azure OpenAI line a month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest import derived
from ingest.load_contract import HourlyLoad, PeriodLoad, SourceFile
from ingest.store import Store
from models.settings import Settings

H = timedelta(hours=1)
SEPT = datetime(2026, 9, 1, tzinfo=UTC)
OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)
GPU_START = OCT + 24 * H  # 2 October 00:00


def _gpu(resource: str, team: str, hours: int) -> list[dict]:
    return [
        {"start": GPU_START + k * H, "cost": "80", "usage": "USE1-BoxUsage:p5.48xlarge",
         "resource": resource, "tags": f'{{"team": "{team}", "workload": "training"}}',
         "service": "Amazon Elastic Compute Cloud"}
        for k in range(hours)
    ]  # fmt: skip


def _month(start: datetime, scale: int) -> list[dict]:
    """Egress and storage lines of a month (October is twice September)."""
    return [
        {"start": start, "hours": 24, "cost": str(45 * scale), "usage": "DataTransfer-Out-Bytes",
         "resource": "i-0frontend", "category": "Networking",
         "subcategory": "Network Infrastructure", "tags": '{"team": "recsys"}',
         "service": "AWS Data Transfer"},
        {"start": start, "hours": 24, "cost": str(30 * scale), "usage": "USE1-USW2-AWS-Out-Bytes",
         "category": "Networking", "subcategory": "Network Infrastructure",
         "service": "AWS Data Transfer"},
        {"start": start, "hours": 24, "cost": str(99.15 * scale), "usage": "TimedStorage-ByteHrs",
         "resource": "bucket-a", "category": "Storage", "subcategory": "Object Storage",
         "service": "Amazon Simple Storage Service"},
    ]  # fmt: skip


AWS = {
    SEPT: _month(SEPT, 1),
    OCT: [*_month(OCT, 2), *_gpu("i-gpu1", "vision", 4), *_gpu("i-gpu2", "nlp", 4),
          *_gpu("i-gpu3", "nlp", 2)],
}  # fmt: skip
AZURE = {SEPT: "155.00", OCT: "310.00"}


def _frame(start: datetime, rows: list[dict], provider: str) -> pl.LazyFrame:
    n = len(rows)
    money = pl.Series([r["cost"] for r in rows]).str.to_decimal(scale=12)
    end = OCT if start == SEPT else NOV
    aws = provider == "AWS"
    issuer = "Amazon Web Services, Inc." if aws else "Microsoft"
    return pl.LazyFrame(
        {
            "BilledCost": money, "EffectiveCost": money, "ListCost": money,
            "ContractedCost": money,
            "BillingAccountId": ["412395078111" if aws else "sub-1"] * n,
            "BillingCurrency": ["USD"] * n,
            "BillingPeriodStart": [start] * n, "BillingPeriodEnd": [end] * n,
            "ChargePeriodStart": [r["start"] for r in rows],
            "ChargePeriodEnd": [r["start"] + r.get("hours", 1) * H for r in rows],
            "ChargeCategory": ["Usage"] * n, "ChargeFrequency": ["Usage-Based"] * n,
            "InvoiceIssuerName": [issuer] * n, "ProviderName": [provider] * n,
            "PublisherName": [issuer] * n,
            "ServiceCategory": [r.get("category", "Compute") for r in rows],
            "ServiceName": [r["service"] for r in rows],
            "ServiceSubcategory": [r.get("subcategory", "Virtual Machines") for r in rows],
            "ResourceId": [r.get("resource") for r in rows],
            "RegionId": ["us-east-1" if aws else "eastus"] * n,
            "ConsumedQuantity": pl.Series([str(r.get("hours", 1)) for r in rows]).str.to_decimal(
                scale=12
            ),
            "ConsumedUnit": ["Hrs"] * n,
            "x_UsageType": [r["usage"] for r in rows], "Tags": [r.get("tags") for r in rows],
        }
    )  # fmt: skip


def _azure(start: datetime, cost: str) -> list[dict]:
    return [{"start": start, "hours": 24, "cost": cost, "usage": "gpt-4o-input-tokens",
             "resource": "oai-1", "category": "AI and Machine Learning",
             "subcategory": "Generative AI", "tags": '{"team": "nlp"}',
             "service": "Azure OpenAI"}]  # fmt: skip


def _batch(source: str, account: str, start: datetime, rows: list[dict], provider: str):
    total = sum((Decimal(r["cost"]) for r in rows), Decimal(0))
    return PeriodLoad(source, account, start.strftime("%Y-%m"), "USD",
                      [SourceFile(f"{source}-{start:%Y-%m}", source[0] * 64, 1)],
                      _frame(start, rows, provider), total)  # fmt: skip


def cost_batches(scale_october: Decimal | None = None) -> list[PeriodLoad]:
    out = [_batch("aws-cur2", "412395078111", s, rows, "AWS") for s, rows in AWS.items()]
    out += [
        _batch("azure-cost-details", "sub-1", s, _azure(s, c), "Microsoft")
        for s, c in AZURE.items()
    ]
    return out


def telemetry_rows() -> list[dict]:
    rows = []
    for k in range(4):
        hour = GPU_START + k * H
        for g in range(8):
            a1 = 0.0 if g < 3 else 0.9
            a2 = 0.03 if k < 2 else 0.20
            for resource, host, a in (("i-gpu1", "ip-10-0-0-1", a1), ("i-gpu2", "ip-10-0-0-2", a2)):
                rows.append({"hour": hour, "host": host, "gpu_index": g,
                             "gpu_uuid": f"GPU-{resource}-{g}",
                             "gpu_model": "NVIDIA H100 80GB HBM3", "resource_id": resource,
                             "avg_active": a, "max_active": a,
                             "max_mem_used_mib": 0.0 if a == 0 else 20000.0,
                             "samples": 60})  # fmt: skip
    return rows


def build(root: Path) -> None:
    store = Store(root)
    load = HourlyLoad(
        "prometheus", pl.DataFrame(telemetry_rows()), [SourceFile("q.json", "b" * 64, 1)], "t"
    )
    derived.refresh(store, Settings(), store.load_gpu_util(load))
    derived.refresh(store, Settings(), store.load_cost_lines(cost_batches()))


def expected_total() -> Decimal:
    aws = sum((Decimal(r["cost"]) for rows in AWS.values() for r in rows), Decimal(0))
    return aws + sum((Decimal(c) for c in AZURE.values()), Decimal(0))


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash") / "warehouse"
    build(root)
    return root


@pytest.fixture
def small_warehouse(built_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small warehouse, served to the app (FINOPS_WAREHOUSE)."""
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(built_warehouse))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return built_warehouse


@pytest.fixture
def lines_only(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cost lines as a store holds them before any derived refresh (no classification, no
    GPU-hours): the pages must say what to run rather than fail."""
    Store(warehouse).load_cost_lines(cost_batches())
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(warehouse))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return warehouse


# ---- a real `finops dashboard` process --------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`finops dashboard` started as a user starts it, on a free port, stopped at the end."""

    def __init__(self, root: Path, config: Path | None = None, port: int | None = None):
        self.root, self.config = root, config
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"

    def __enter__(self) -> Served:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        argv = [sys.executable, "-m", "dashboard.cli", "--warehouse", str(self.root)]
        if self.config:
            argv += ["--config", str(self.config)]
        argv += ["dashboard", "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"finops dashboard exited: {self.proc.stdout.read().decode()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("finops dashboard did not answer within 60 s")

    def __exit__(self, *exc: object) -> None:
        import os
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdout:
            self.proc.stdout.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (tests/setup/system_deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def build_with_eur_gpu(root: Path) -> None:
    """The small warehouse and an instance billed in EUR by a second AWS account: i-gpu-eu,
    8 GPUs at EUR 40 an hour (EUR 5 per GPU-hour) for 4 hours, every GPU at 0% -> 32 idle
    GPU-hours, EUR 160 idle."""
    build(root)
    store = Store(root)
    rows = [{**r, "resource": "i-gpu-eu", "cost": "40"} for r in _gpu("i-gpu-eu", "vision", 4)]
    frame = _frame(OCT, rows, "AWS").with_columns(
        BillingCurrency=pl.lit("EUR"), BillingAccountId=pl.lit("999900001111")
    )
    files = [SourceFile("aws-eur-2026-10", "e" * 64, 1)]
    batch = PeriodLoad("aws-cur2", "999900001111", "2026-10", "EUR", files, frame, Decimal(160))
    telemetry = [
        {**r, "resource_id": "i-gpu-eu", "host": "ip-10-9-0-1",
         "gpu_uuid": f"GPU-eu-{r['gpu_index']}", "avg_active": 0.0, "max_active": 0.0,
         "max_mem_used_mib": 0.0}
        for r in telemetry_rows() if r["resource_id"] == "i-gpu1"
    ]  # fmt: skip
    load = HourlyLoad(
        "nvidia-smi", pl.DataFrame(telemetry), [SourceFile("eu.json", "f" * 64, 1)], "t"
    )
    derived.refresh(store, Settings(), store.load_gpu_util(load))
    derived.refresh(store, Settings(), store.load_cost_lines([batch]))


@pytest.fixture
def eur_gpu_warehouse(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = tmp_path_factory.mktemp("dash-eur") / "warehouse"
    build_with_eur_gpu(root)
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(root))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return root
