"""AWS daily service lines (storage, data transfer, Bedrock) and monthly ones (Marketplace,
tax, credits), plus the driver that writes every billing period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample import flows
from ingest.sample.aws import LOCATION, SRC, AwsMonth, _sku
from ingest.sample.aws_delivery import (
    EXPORT,
    data_dir,
    delivered_at,
    execution_id,
    write_manifest,
)
from ingest.sample.company import ONPREM_SITE, Company
from ingest.sample.cur2 import CurWriter
from ingest.sample.truth import Ledger

DAY_MS = 86_400_000
Q8 = Decimal("1E-8")


@dataclass(frozen=True)
class Daily:
    """One usage type billed once a day: volume drawn uniformly from [lo, hi] units."""

    code: str
    utype: str
    operation: str
    family: str
    unit: str
    rate: Decimal
    lo: int
    hi: int
    team: str
    resource: str
    description: str
    workload: str | None = None
    egress: str | None = None
    region: str = "us-east-1"
    to_location: str | None = None
    transfer_type: str | None = None
    entity: str = "AWS"
    product_name: str = ""
    model: str | None = None


# fmt: off
DAILY = [
    Daily("AmazonS3", "TimedStorage-ByteHrs", "StandardStorage", "Storage", "GB-Mo",
          Decimal("0.00075"), 38_000, 41_000, "research", "acme-research-checkpoints",
          "$0.023 per GB-Month of storage used (daily share)", "training",
          product_name="Amazon Simple Storage Service"),
    Daily("AmazonEC2", "USE2-EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "Storage", "GB-Mo",
          Decimal("0.00263"), 30_000, 30_000, "research", "vol-0a1b2c3d4e5f60718",
          "$0.08 per GB-month of General Purpose (gp3) provisioned storage", "training",
          region="us-east-2", product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonEC2", "DataTransfer-Out-Bytes", "RunInstances", "Data Transfer", "GB",
          Decimal("0.09"), 300, 900, "recsys", "i-0serving-frontend",
          "$0.09 per GB - first 10 TB / month data transfer out beyond the global free tier",
          egress="internet", to_location="External", transfer_type="AWS Outbound",
          product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonEC2", "USE1-USW2-AWS-Out-Bytes", "PublicIP-Out", "Data Transfer", "GB",
          Decimal("0.02"), 1_500, 2_600, "platform", "i-0replicator",
          "$0.02 per GB - US East (Northern Virginia) data transfer to US West (Oregon)",
          egress="inter_region", to_location="US West (Oregon)",
          transfer_type="InterRegion Outbound", product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonEC2", "DataTransfer-Regional-Bytes", "InterZone-Out", "Data Transfer", "GB",
          Decimal("0.01"), 4_000, 7_000, "research", "i-0shard-loader",
          "$0.010 per GB - regional data transfer - in/out/between EC2 AZs or using elastic "
          "IPs or ELB", egress="inter_az", to_location="US East (N. Virginia)",
          transfer_type="IntraRegion", product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonEC2", "NatGateway-Bytes", "NatGateway", "NAT Gateway", "GB",
          Decimal("0.045"), 600, 1_100, "platform", "nat-0f1e2d3c4b5a69788",
          "$0.045 per GB Data Processed by NAT Gateways", egress="nat_endpoint",
          product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonEC2", "NatGateway-Hours", "NatGateway", "NAT Gateway", "Hrs",
          Decimal("0.045"), 24, 24, "platform", "nat-0f1e2d3c4b5a69788",
          "$0.045 per NAT Gateway Hour", egress="nat_endpoint",
          product_name="Amazon Elastic Compute Cloud"),
    Daily("AmazonCloudFront", "US-DataTransfer-Out-Bytes", "GET", "Data Transfer", "GB",
          Decimal("0.085"), 900, 2_000, "search", "E2QWRUHAPOMQZL",
          "$0.085 per GB - first 10 TB / month data transfer out (United States)",
          egress="cdn", to_location="External", transfer_type="CloudFront Outbound",
          product_name="Amazon CloudFront"),
    Daily("AmazonBedrock", "USE1-Meta-Llama3-70B-input-tokens", "InvokeModel", "Amazon Bedrock",
          "1K tokens", Decimal("0.00265"), 40_000, 90_000, "platform",
          "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0",
          "Llama 3 70B Instruct input tokens", "inference", product_name="Amazon Bedrock",
          model="Llama 3 70B Instruct"),
    Daily("AmazonBedrock", "USE1-Meta-Llama3-70B-output-tokens", "InvokeModel",
          "Amazon Bedrock", "1K tokens", Decimal("0.0035"), 9_000, 22_000, "platform",
          "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0",
          "Llama 3 70B Instruct output tokens", "inference", product_name="Amazon Bedrock",
          model="Llama 3 70B Instruct"),
    Daily("prod-4pmgctgbm7psq", "USE1-MP:USE1_InputTokenCount-Units", "Usage",
          "Machine Learning", "1K tokens", Decimal("0.003"), 60_000, 140_000, "search",
          "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet",
          "Claude 3.5 Sonnet input tokens", "inference", entity="AWS Marketplace",
          product_name="Claude 3.5 Sonnet (Amazon Bedrock Edition)", model="Claude 3.5 Sonnet"),
    Daily("prod-4pmgctgbm7psq", "USE1-MP:USE1_OutputTokenCount-Units", "Usage",
          "Machine Learning", "1K tokens", Decimal("0.015"), 12_000, 30_000, "search",
          "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet",
          "Claude 3.5 Sonnet output tokens", "inference", entity="AWS Marketplace",
          product_name="Claude 3.5 Sonnet (Amazon Bedrock Edition)", model="Claude 3.5 Sonnet"),
]
SPIKE = Daily("AmazonS3", "DataTransfer-Out-Bytes", "GetObject", "Data Transfer", "GB",
              Decimal("0.05"), 0, 0, "vision", "acme-vision-datasets",
              "$0.050 per GB - greater than 150 TB / month data transfer out",
              egress="internet", to_location="External", transfer_type="AWS Outbound",
              product_name="Amazon Simple Storage Service")
COLO_SYNC = Daily("AmazonEC2", "DataTransfer-Out-Bytes", "RunInstances", "Data Transfer", "GB",
                  Decimal("0.07"), *flows.COLO_SYNC_GB_PER_DAY, "platform",
                  flows.COLO_SYNC_RESOURCE,
                  "$0.070 per GB - next 100 TB / month data transfer out",
                  egress="internet", to_location="External", transfer_type="AWS Outbound",
                  product_name="Amazon Elastic Compute Cloud")
MARKETPLACE_TOOLS = [  # (product code, product name, seller, family, tool, team, lo, hi $)
    ("prod-pcn3vdb7x2k1q", "Pinecone Vector Database - Pay As You Go", "Pinecone Systems, Inc.",
     "vector_db", "Pinecone", "recsys", 2_400, 3_900),
    ("prod-wandb9q1m5t8", "Weights & Biases Dedicated Cloud", "Weights & Biases, Inc.",
     "experiment_tracking", "Weights & Biases", "research", 4_000, 4_000),
]
# fmt: on


def daily_lines(am: AwsMonth) -> None:
    days = np.arange(am.days)
    start = am.mstart + days * DAY_MS
    for d in DAILY:
        qty = am.rng.integers(d.lo, d.hi + 1, am.days)
        _emit_daily(am, d, start, qty)
    ev = am.c.events
    if am.m == ev.egress_spike_month:
        sel = np.array(ev.egress_spike_days) - 1
        qty = np.full(sel.size, ev.egress_spike_tb_per_day * 1000) + am.rng.integers(
            0, 999, sel.size
        )
        _emit_daily(am, SPIKE, am.mstart + sel * DAY_MS, qty)
        total = sum((int(q) * SPIKE.rate for q in qty), Decimal(0))
        am.ledger.flow(am.m, flows.AWS_REGION, flows.GCP_REGION, int(qty.sum()), total)
        am.ledger.events.append(
            {
                "kind": "egress_spike",
                "provider": "AWS",
                "billing_period": am.m,
                "start": f"{am.m}-{ev.egress_spike_days[0]:02d}",
                "end": f"{am.m}-{ev.egress_spike_days[-1] + 1:02d}",
                "gb": int(qty.sum()),
                "cost": format(total, "f"),
                "resource_id": SPIKE.resource,
                "team": SPIKE.team,
                "description": "training dataset copied from S3 to another cloud over the internet",
            }
        )


def flow_lines(am: AwsMonth) -> None:
    """The planted AWS -> colo sync (ingest/sample/flows.py), appended after the month's other
    lines and drawn from its own random stream."""
    rng = np.random.default_rng(flows.flows_seed(am.c.seed, am.m))
    d = COLO_SYNC
    qty = rng.integers(d.lo, d.hi + 1, am.days)
    _emit_daily(am, d, am.mstart + np.arange(am.days) * DAY_MS, qty)
    cost = sum((int(q) * d.rate for q in qty), Decimal(0))
    am.ledger.flow(am.m, flows.AWS_REGION, ONPREM_SITE, int(qty.sum()), cost)


def _emit_daily(am: AwsMonth, d: Daily, start: np.ndarray, qty: np.ndarray) -> None:
    costs = [int(q) * d.rate for q in qty]
    product = [("product_name", d.product_name)]
    if d.transfer_type:
        product.append(("transfer_type", d.transfer_type))
    if d.model:
        product.append(("model", d.model))
    tags = [("user_team", d.team)] + ([("user_workload", d.workload)] if d.workload else [])
    consts = {
        **am.base(d.team, d.entity),
        "line_item_line_item_type": "Usage",
        "line_item_product_code": d.code,
        "line_item_usage_type": d.utype,
        "line_item_operation": d.operation,
        "line_item_resource_id": d.resource,
        "line_item_line_item_description": d.description,
        "line_item_unblended_rate": str(d.rate),
        "line_item_blended_rate": str(d.rate),
        "line_item_net_unblended_rate": str(d.rate),
        "pricing_public_on_demand_rate": str(d.rate),
        "pricing_unit": d.unit,
        "pricing_term": "OnDemand",
        "product": product,
        "product_sku": _sku(d.utype),
        "product_product_family": d.family,
        "product_servicecode": d.code,
        "product_region_code": d.region,
        "product_location": LOCATION[d.region],
        "product_from_location": LOCATION[d.region] if d.to_location else None,
        "product_from_region_code": d.region if d.to_location else None,
        "product_to_location": d.to_location,
        "product_usagetype": d.utype,
        "product_pricing_unit": d.unit,
        "resource_tags": tags,
    }
    if d.entity != "AWS":
        consts["line_item_legal_entity"] = "Anthropic, PBC"
    am.emit(
        consts,
        int(qty.size),
        start,
        start + DAY_MS,
        qty.astype(np.float64),
        costs,
        costs,
        team=d.team,
        workload=d.workload,
        egress=d.egress,
    )


def monthly_lines(am: AwsMonth, restated: bool) -> None:
    tax_base = Decimal(0)
    for code, name, seller, family, tool, team, lo, hi in MARKETPLACE_TOOLS:
        amount = Decimal(int(am.rng.integers(lo * 100, hi * 100 + 1))) / 100
        consts = {
            **am.base(team, "AWS Marketplace"),
            "line_item_line_item_type": "Usage",
            "line_item_product_code": code,
            "line_item_usage_type": "USE1-MP:Subscription",
            "line_item_operation": "Usage",
            "line_item_legal_entity": seller,
            "line_item_line_item_description": f"{name} monthly subscription",
            "line_item_resource_id": None,
            "pricing_unit": "Units",
            "product": [("product_name", name)],
            "product_product_family": "SaaS",
            "resource_tags": [("user_team", team)],
        }
        am.emit(consts, 1, am.mstart, am.mend, 1.0, amount, amount, team=team)
        am.ledger.tool(family, tool, team, amount, SRC)
        tax_base += amount
    tax = (tax_base * Decimal("0.06")).quantize(Decimal("0.01"))
    consts = {
        **am.base("platform", "AWS Marketplace"),
        "line_item_line_item_type": "Tax",
        "line_item_product_code": "AWSMarketplace",
        "line_item_usage_type": "Tax",
        "line_item_operation": "",
        "line_item_tax_type": "Sales Tax",
        "line_item_line_item_description": "Sales Tax for Marketplace subscriptions",
    }
    am.emit(consts, 1, am.mstart, am.mend, 1.0, tax, tax, team="platform")
    credit = Decimal("-250.00")
    consts = {
        **am.base("platform"),
        "line_item_line_item_type": "Credit",
        "line_item_product_code": "AmazonBedrock",
        "line_item_usage_type": "",
        "line_item_operation": "",
        "line_item_line_item_description": "AWS Promotional Credit - Generative AI",
    }
    am.emit(consts, 1, am.mstart, am.mend, 0.0, credit, credit, team="platform")
    if restated:
        c = am.c.events.restated_credit
        consts = {
            **consts,
            "line_item_product_code": "AmazonEC2",
            "line_item_line_item_description": "SLA credit - EC2 p5 capacity event",
        }
        am.emit(consts, 1, am.mstart, am.mend, 0.0, c, c, team="platform")


def write_aws(
    out: Path, company: Company, ledger: Ledger, tick: Callable[[str], None] | None = None
) -> None:
    """Write every billing period as a Data Export delivery (aws_delivery.py); the restated
    month is delivered twice, and its newer execution (the truth for that month) is the one
    its manifest names."""
    states: dict = {}
    hosts = company.hosts_of("aws")
    for month in company.cal.months:
        restated = month == company.events.restated_month
        passes = [False, True] if restated else [False]
        for n, is_restatement in enumerate(passes):
            target = ledger if (is_restatement or not restated) else Ledger()
            execution = execution_id(company.seed, month, n)
            w = CurWriter(
                data_dir(out, month, execution),
                # line ids as the two separate exports had them before
                id_prefix=f"{'cur2-restated' if is_restatement else 'cur2'}-{month}-",
            )
            am = AwsMonth(company, month, w, target, states)
            for h in hosts:
                am.host(h)
            daily_lines(am)
            am.commitments()
            monthly_lines(am, is_restatement)
            flow_lines(am)
            w.close()
            when = delivered_at(month, n)
            write_manifest(out, month, execution, w.files, when)
            if restated:
                key = ("AWS", SRC, month, "USD")
                ledger.restatements.append(
                    {
                        "provider": "AWS",
                        "source": SRC,
                        "billing_period": month,
                        "export": EXPORT,
                        "execution_id": execution,
                        "delivered_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "billed_cost": format(target.totals[key], "f"),
                    }
                )
        if tick:
            tick(month)
