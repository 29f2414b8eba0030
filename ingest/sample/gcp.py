"""GCP: BigQuery detailed billing export rows, as newline-delimited JSON and as Parquet.

Rows are filed by ``invoice.month``, which GCP decides in Pacific time: the first hours of a
UTC month belong to the previous invoice month. Compute Engine VMs bill GPU, vCPU and RAM as
separate hourly SKUs. The resource CUD bills a monthly fee per resource ("Commitment v1: ...",
committed quantity x commitment rate x hours) and credits the covered usage its full
on-demand cost as negative ``credits``; it starts with the invoice month the L4 service goes
live, mid-month, so the hours before that are paid for and unused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.sample.activity import billed_mask, host_state
from ingest.sample.company import Company, next_month
from ingest.sample.pricing import GCP_CUD_RATE, GCP_PARTS
from ingest.sample.truth import Ledger

P, SRC = "Google Cloud", "gcp-bq"
PACIFIC = ZoneInfo("America/Los_Angeles")
COMPUTE = ("6F81-5844-456A", "Compute Engine")
VERTEX = ("C7E2-9256-1C43", "Vertex AI")
NETWORK = ("E505-1604-58F8", "Networking")
CUD_ID = "commitments/1-year-l4-g2"
CUD_TYPE = "g2-standard-8"  # one VM's GPU, cores and RAM committed
# fee SKU per part of GCP_PARTS[CUD_TYPE]: (sku id, description)
CUD_FEES = [
    ("7C1A-0E2B-9F31", "Commitment v1: Nvidia L4 GPU in Americas for 1 Year"),
    ("7C1A-0E2B-9F32", "Commitment v1: G2 Core in Americas for 1 Year"),
    ("7C1A-0E2B-9F33", "Commitment v1: G2 Ram in Americas for 1 Year"),
]
KV = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
SCHEMA = pa.schema(
    [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", pa.timestamp("us", tz="UTC")),
        ("usage_end_time", pa.timestamp("us", tz="UTC")),
        (
            "project",
            pa.struct(
                [
                    ("id", pa.string()),
                    ("number", pa.string()),
                    ("name", pa.string()),
                    ("labels", KV),
                    ("ancestry_numbers", pa.string()),
                ]
            ),
        ),
        ("labels", KV),
        ("system_labels", KV),
        (
            "location",
            pa.struct(
                [
                    ("location", pa.string()),
                    ("country", pa.string()),
                    ("region", pa.string()),
                    ("zone", pa.string()),
                ]
            ),
        ),
        ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])),
        ("export_time", pa.timestamp("us", tz="UTC")),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        (
            "credits",
            pa.list_(
                pa.struct(
                    [
                        ("name", pa.string()),
                        ("amount", pa.float64()),
                        ("full_name", pa.string()),
                        ("id", pa.string()),
                        ("type", pa.string()),
                    ]
                )
            ),
        ),
        ("invoice", pa.struct([("month", pa.string())])),
        ("cost_type", pa.string()),
        ("transaction_type", pa.string()),
        ("seller_name", pa.string()),
        ("cost_at_list", pa.float64()),
    ]
)
TS_FIELDS = ("usage_start_time", "usage_end_time", "export_time")
Z = Decimal(0)
# fmt: off
DAILY = [  # service, sku id, sku, team, workload, egress, unit, per-unit price, lo, hi
    (VERTEX, "8A0B-1F2C-3D4E", "Custom Training Nvidia Tesla A100 GPU running in Americas",
     "research", "training", None, "hour", Decimal("2.933908"), 0, 40),
    (VERTEX, "9B1C-2E3F-4A5B", "Online Prediction Nvidia L4 GPU running in Americas",
     "recsys", "inference", None, "hour", Decimal("0.644"), 24, 48),
    (VERTEX, "A1C2-3B4D-5E6F", "Gemini 2.5 Flash Input Text Tokens", "search", "inference",
     None, "count", Decimal("0.0000003"), 20_000_000, 60_000_000),
    (COMPUTE, "6B8F-E63D-832B", "Network Internet Egress from Americas to EMEA", "search", None,
     "internet", "gibibyte", Decimal("0.12"), 100, 400),
    (COMPUTE, "F274-1692-F213", "Network Inter Region Egress from Americas to Americas",
     "research", None, "inter_region", "gibibyte", Decimal("0.01"), 1_000, 3_000),
    (NETWORK, "5C1E-0B5F-BE3C", "Network Egress via Interconnect from Americas to Americas",
     "platform", None, "interconnect", "gibibyte", Decimal("0.02"), 3_000, 8_000),
]
# fmt: on


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def invoice_month(utc: datetime) -> str:
    return utc.astimezone(PACIFIC).strftime("%Y%m")


def _kv(d: dict) -> list[dict]:
    return [{"key": k, "value": v} for k, v in d.items()]


class GcpMonth:
    """All rows of one invoice month, streamed to the JSONL file and a Parquet writer."""

    def __init__(self, company: Company, month: str, out: Path, ledger: Ledger) -> None:
        self.c, self.m, self.ledger = company, month, ledger
        self.inv = month.replace("-", "")
        cal = company.cal
        y, mo = (int(x) for x in month.split("-"))
        ny, nmo = (int(x) for x in next_month(month).split("-"))
        # Pacific month boundaries expressed as UTC hour indexes, clamped to the calendar
        self.a = 0 if month == cal.months[0] else cal.hour_of(datetime(y, mo, 1, tzinfo=PACIFIC))
        self.b = min(cal.hours, cal.hour_of(datetime(ny, nmo, 1, tzinfo=PACIFIC)))
        self.rng = np.random.default_rng([company.seed, 31, y * 12 + mo])
        for sub in ("ndjson", "parquet"):
            (out / "gcp" / sub).mkdir(parents=True, exist_ok=True)
        self.jsonl = open(out / "gcp" / "ndjson" / f"{self.inv}.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self.pq = pq.ParquetWriter(
            out / "gcp" / "parquet" / f"{self.inv}.parquet", SCHEMA, compression="snappy"
        )
        self.buf: list[dict] = []

    def add(
        self,
        *,
        svc,
        sku_id,
        sku,
        start: datetime,
        hours: int,
        team: str,
        project: str,
        cost: Decimal,
        credit: Decimal,
        amount: Decimal,
        unit: str,
        pricing_unit: str,
        priced: Decimal | None = None,
        workload: str | None,
        egress: str | None,
        system: dict | None = None,
        resource: str | None = None,
        cost_type: str = "regular",
        effective: Decimal | None = None,
        global_name: str | None = None,
    ) -> None:
        """One export row; `effective` is its amortised cost when a commitment moves it."""
        labels = {"team": team, **({"workload": workload} if workload else {})}
        credits = []
        if credit:
            credits.append(
                {
                    "name": "Committed use discount: GPU and vCPU",
                    "amount": float(credit),
                    "full_name": "Committed use discount",
                    "id": CUD_ID,
                    "type": "COMMITTED_USAGE_DISCOUNT",
                }
            )
        row = {
            "billing_account_id": self.c.billing_account_gcp,
            "service": {"id": svc[0], "description": svc[1]},
            "sku": {"id": sku_id, "description": sku},
            "usage_start_time": start,
            "usage_end_time": start + timedelta(hours=hours),
            "project": {
                "id": project,
                "number": str(abs(hash_str(project)) % 10**12),
                "name": project,
                "labels": [],
                "ancestry_numbers": "/1084217745/",
            },
            "labels": _kv(labels),
            "system_labels": _kv(system or {}),
            "location": {
                "location": "us-central1",
                "country": "US",
                "region": "us-central1",
                "zone": "us-central1-a" if resource else None,
            },
            "resource": {
                "name": resource.rsplit("/", 1)[1],
                "global_name": global_name or f"//compute.googleapis.com/{resource}",
            }
            if resource
            else None,
            "export_time": start + timedelta(hours=hours + 26, minutes=11),
            "cost": float(cost),
            "currency": "USD",
            "currency_conversion_rate": 1.0,
            "usage": {
                "amount": float(amount),
                "unit": unit,
                "amount_in_pricing_units": float(amount if priced is None else priced),
                "pricing_unit": pricing_unit,
            },
            "credits": credits,
            "invoice": {"month": self.inv},
            "cost_type": cost_type,
            "transaction_type": "GOOGLE",
            "seller_name": None,
            "cost_at_list": float(cost),
        }
        self.buf.append(row)
        self.ledger.charge(
            provider=P,
            source=SRC,
            period=self.m,
            billed=cost + credit,
            effective=cost + credit if effective is None else effective,
            team=team,
            workload=workload,
            egress=egress,
        )
        if len(self.buf) >= 20_000:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        for r in self.buf:
            j = {k: (_ts(v) if k in TS_FIELDS else v) for k, v in r.items() if v is not None}
            self.jsonl.write(json.dumps(j, separators=(",", ":")) + "\n")
        self.pq.write_table(pa.Table.from_pylist(self.buf, schema=SCHEMA))
        self.buf = []

    def close(self) -> None:
        self.flush()
        self.jsonl.close()
        self.pq.close()


def hash_str(s: str) -> int:
    h = 2166136261
    for ch in s.encode():
        h = (h ^ ch) * 16777619 % 2**32
    return h


def vm_rows(gm: GcpMonth, host, state: np.ndarray) -> int:
    """The host's hourly rows of the month; returns its billed hours."""
    billed = billed_mask(host, state)
    hours = np.flatnonzero(billed[gm.a : gm.b]) + gm.a
    proj = host.resource_id.split("/")[1]
    spec = {"compute.googleapis.com/machine_spec": host.instance_type}
    for h in hours.tolist():
        start = gm.c.cal.hour_time(h)
        for i, (sku_id, sku, qty, price) in enumerate(GCP_PARTS[host.instance_type]):
            cost = price * qty
            covered = host.pricing == "cud"  # the commitment covers the whole VM
            credit = -cost if covered else Z
            # usage.amount in the SKU's base unit, amount_in_pricing_units in its price unit
            unit, pu, per = (
                ("byte-seconds", "gibibyte hour", 3600 * 2**30)
                if i == 2
                else ("seconds", "hour", 3600)
            )
            gm.add(
                svc=COMPUTE,
                sku_id=sku_id,
                sku=sku,
                start=start,
                hours=1,
                team=host.team,
                project=proj,
                cost=cost,
                credit=credit,
                amount=Decimal(qty * per),
                priced=Decimal(qty),
                unit=unit,
                pricing_unit=pu,
                workload=host.workload,
                egress=None,
                system={
                    **spec,
                    "compute.googleapis.com/cores": str(GCP_PARTS[host.instance_type][1][2]),
                }
                if i
                else spec,
                resource=host.resource_id,
                effective=price * GCP_CUD_RATE * qty if covered else None,
            )
    return len(hours)


def cud_rows(gm: GcpMonth, hosts: list, covered_hours: int) -> None:
    """The CUD's monthly fee rows, from the invoice month its hosts start in; truth states it.

    Purchase = committed quantity x commitment rate x hours of the month; used = the part of
    it the covered VM-hours consumed; the rest is unused (an Unused line in FOCUS).
    """
    cud = [h for h in hosts if h.pricing == "cud"]
    if not cud or invoice_month(gm.c.cal.hour_time(min(h.start_h for h in cud))) > gm.inv:
        return
    hours = gm.b - gm.a
    purchase = used = Z
    for (sku_id, sku), (_, _, qty, price) in zip(CUD_FEES, GCP_PARTS[CUD_TYPE], strict=True):
        rate = price * GCP_CUD_RATE
        fee = rate * qty * len(cud) * hours
        per = 3600 * 2**30 if "Ram" in sku else 3600
        gm.add(
            svc=COMPUTE,
            sku_id=sku_id,
            sku=sku,
            start=gm.c.cal.hour_time(gm.a),
            hours=hours,
            team="platform",
            project=gm.c.team("platform").gcp_project,
            cost=fee,
            credit=Z,
            amount=Decimal(qty * len(cud) * hours * per),
            priced=Decimal(qty * len(cud) * hours),
            unit="byte-seconds" if "Ram" in sku else "seconds",
            pricing_unit="gibibyte hour" if "Ram" in sku else "hour",
            workload=None,
            egress=None,
            resource=CUD_ID,
            global_name=CUD_ID,
            effective=Z,
        )
        purchase += fee
        used += rate * qty * covered_hours
    # the Unused line the reader adds: billed 0, amortised the unused part
    gm.ledger.charge(
        provider=P, source=SRC, period=gm.m, billed=Z, effective=purchase - used,
        team="platform", lines=1 if purchase != used else 0,
    )  # fmt: skip
    gm.ledger.commitment(
        provider="gcp",
        commitment_id=CUD_ID,
        name=CUD_FEES[0][1],
        kind="Committed Use Discount",
        period=gm.m,
        purchase=purchase,
        used=used,
        gpu_model=cud[0].gpu_model,
    )


GCP_ADOPTED_MONTHS = 6  # the GCP pilot: managed services and egress in the last months only


def daily_rows(gm: GcpMonth) -> None:
    """One row per SKU per Pacific day of the invoice month."""
    if gm.m not in gm.c.cal.months[-GCP_ADOPTED_MONTHS:]:
        return
    for svc, sku_id, sku, team, wl, eg, unit, price, lo, hi in DAILY:
        qty = gm.rng.integers(lo, hi + 1, 40)
        for k, d in enumerate(range(gm.a, gm.b, 24)):
            if qty[k] == 0:
                continue
            amt = Decimal(int(qty[k]))
            cost = amt * price
            gm.add(
                svc=svc,
                sku_id=sku_id,
                sku=sku,
                start=gm.c.cal.hour_time(d),
                hours=min(24, gm.b - d),
                team=team,
                project=gm.c.team(team).gcp_project,
                cost=cost,
                credit=Z,
                amount=amt,
                unit=unit,
                pricing_unit=unit,
                workload=wl,
                egress=eg,
            )


def write_gcp(
    out: Path, company: Company, ledger: Ledger, tick: Callable[[str], None] | None = None
) -> None:
    hosts = company.hosts_of("gcp")
    states = {h.index: host_state(company.seed, company.cal, h) for h in hosts}
    for month in company.cal.months:
        gm = GcpMonth(company, month, out, ledger)
        covered = 0  # VM-hours the CUD covered
        for h in hosts:
            billed = vm_rows(gm, h, states[h.index])
            covered += billed if h.pricing == "cud" else 0
        cud_rows(gm, hosts, covered)
        daily_rows(gm)
        gm.add(
            svc=COMPUTE,
            sku_id="",
            sku="",
            start=company.cal.hour_time(gm.a),
            hours=0,
            team="platform",
            project=company.team("platform").gcp_project,
            cost=Decimal("-0.0031"),
            credit=Z,
            amount=Z,
            unit="",
            pricing_unit="",
            workload=None,
            egress=None,
            cost_type="rounding_error",
        )
        gm.close()
        if tick:
            tick(month)
