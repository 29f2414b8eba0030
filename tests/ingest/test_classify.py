"""Classification on small frames built in code: class, egress kind, workload, team, tool."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ingest.derive import classified, line_classes, scratch
from ingest.derive.classified import rulebook
from models.classify import key_columns
from models.rules import parse_classify_settings
from models.schema import COST_LINES
from models.settings import Settings, parse_settings
from tests.oracles.classify import classify


def run(rows: list[dict[str, Any]], settings: Settings | None = None) -> pl.DataFrame:
    """The classes of `rows` by the per-line oracle, which the warehouse's own pass (the
    production path) must give too."""
    book = rulebook(settings or Settings())
    frame = pl.DataFrame(
        [{"x_LineId": i, **r} for i, r in enumerate(rows)], infer_schema_length=None
    )
    out = classify(frame.lazy(), book.ruleset, book.settings, book.catalogue, book.tools)
    want = out.collect().sort("x_LineId")
    assert warehouse_pass(frame, book).select(want.columns).equals(want)
    return want


def warehouse_pass(frame: pl.DataFrame, book) -> pl.DataFrame:
    """Each line's classes as `finops` stores them: DuckDB over a Parquet file of the lines."""
    keys = key_columns(book.ruleset, COST_LINES.names)
    with tempfile.TemporaryDirectory() as tmp:
        lines, out = Path(tmp) / "lines.parquet", Path(tmp) / "classes.parquet"
        classified.conform_keys(frame.lazy()).collect().write_parquet(lines)
        with scratch.connect(Path(tmp)) as con:
            source = line_classes.files_source(con, [([str(lines)], {})], ["x_LineId", *keys])
            done = line_classes.classify_lines(
                con, source, keys, functools.partial(classified._decide, book), out
            )
        stored = pl.read_parquet(out)
    return stored.join(done.classes, on="x_ClassKey").drop("x_ClassKey").sort("x_LineId")


def one(settings: Settings | None = None, **fields: Any) -> dict[str, Any]:
    return run([fields], settings).row(0, named=True)


AWS = {"ProviderName": "AWS", "ChargeCategory": "Usage"}
AZ = {"ProviderName": "Microsoft", "ChargeCategory": "Usage"}
GCP = {"ProviderName": "Google Cloud", "ChargeCategory": "Usage"}

EGRESS_CASES = [
    # (fields, class, egress kind, rule)
    ({**AWS, "x_UsageType": "DataTransfer-Out-Bytes", "x_ServiceCode": "AmazonEC2"},
     "egress", "internet", "aws.egress.internet"),
    ({**AWS, "x_UsageType": "USW2-DataTransfer-Out-Bytes", "x_ServiceCode": "AmazonS3"},
     "egress", "internet", "aws.egress.internet"),
    ({**AWS, "x_UsageType": "USE1-USW2-AWS-Out-Bytes", "x_ServiceCode": "AmazonEC2"},
     "egress", "inter_region", "aws.egress.inter_region"),
    ({**AWS, "x_UsageType": "USE1-EBS-USW2-EBS-AWS-Out-Bytes", "x_ServiceCode": "AmazonEC2"},
     "egress", "inter_region", "aws.egress.inter_region"),
    ({**AWS, "x_UsageType": "DataTransfer-Regional-Bytes", "x_ServiceCode": "AmazonEC2"},
     "egress", "inter_az", "aws.egress.inter_az"),
    ({**AWS, "x_UsageType": "NatGateway-Bytes", "x_ServiceCode": "AmazonEC2"},
     "egress", "nat_endpoint", "aws.egress.nat_endpoint"),
    ({**AWS, "x_UsageType": "USE1-VpcEndpoint-Bytes", "x_ServiceCode": "AmazonVPC"},
     "egress", "nat_endpoint", "aws.egress.nat_endpoint"),
    ({**AWS, "x_UsageType": "US-DataTransfer-Out-Bytes", "x_ServiceCode": "AmazonCloudFront"},
     "egress", "cdn", "aws.egress.cdn"),
    ({**AWS, "x_UsageType": "USE1-DataXfer-Out:dc.1", "x_ServiceCode": "AWSDirectConnect"},
     "egress", "interconnect", "aws.egress.interconnect"),
    ({**AWS, "x_UsageType": "USW2-DataTransfer-In-Bytes", "x_ServiceCode": "AmazonEC2"},
     "other", None, "aws.transfer.inbound"),
    ({**AZ, "x_SkuMeterCategory": "Bandwidth", "x_SkuMeterSubcategory": None,
      "SkuMeter": "Standard Data Transfer Out"}, "egress", "internet", "azure.egress.internet"),
    ({**AZ, "x_SkuMeterCategory": "Bandwidth", "x_SkuMeterSubcategory": "Inter-Region",
      "SkuMeter": "Intra Continent Data Transfer Out"},
     "egress", "inter_region", "azure.egress.inter_region"),
    ({**AZ, "x_SkuMeterCategory": "Bandwidth", "SkuMeter": "Inter Continent Data Transfer Out"},
     "egress", "inter_region", "azure.egress.inter_region_meter"),
    ({**AZ, "x_SkuMeterCategory": "Bandwidth",
      "SkuMeter": "Rtn Preference: MGN - Standard Data Transfer Out"},
     "egress", "internet", "azure.egress.internet"),
    ({**AZ, "x_SkuMeterCategory": "Virtual Network", "SkuMeter": "Intra-Region Egress"},
     "egress", "inter_az", "azure.egress.vnet_peering"),
    ({**AZ, "x_SkuMeterCategory": "Bandwidth", "SkuMeter": "Data Transfer In"},
     "other", None, "azure.transfer.inbound"),
    ({**GCP, "SkuMeter": "Network Internet Egress from Americas to APAC"},
     "egress", "internet", "gcp.egress.internet"),
    ({**GCP, "SkuMeter": "Network Inter Region Egress from Americas to EMEA"},
     "egress", "inter_region", "gcp.egress.inter_region"),
    ({**GCP, "SkuMeter": "Network Inter Zone Egress"},
     "egress", "inter_az", "gcp.egress.inter_az"),
    ({**GCP, "SkuMeter": "Networking Cloud CDN Traffic Cache Data Transfer to North America"},
     "egress", "cdn", "gcp.egress.cdn"),
    ({"ProviderName": "Oracle", "ChargeCategory": "Usage", "ServiceCategory": "Networking",
      "ChargeDescription": "Outbound Data Transfer Out - Zone 1"},
     "egress", "internet", "focus.egress.internet"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "cls", "kind", "rule"), EGRESS_CASES)
def test_egress_kinds(fields: dict, cls: str, kind: str | None, rule: str) -> None:
    got = one(**fields)
    assert (got["x_AiClass"], got["x_EgressKind"], got["x_AiClassRule"]) == (cls, kind, rule)


GPU_CASES = [
    # (fields, class, GPUs per instance, model, rule)
    ({**AWS, "x_UsageType": "USE1-BoxUsage:p5.48xlarge"}, "gpu_compute", 8, "H100",
     "gpu.instance_family"),
    ({**AWS, "x_UsageType": "BoxUsage:p4d.24xlarge"}, "gpu_compute", 8, "A100",
     "gpu.instance_family"),
    ({**AWS, "x_UsageType": "SpotUsage:g5.xlarge"}, "gpu_compute", 1, "A10G",
     "gpu.instance_family"),
    ({**AWS, "x_InstanceType": "g6.12xlarge", "x_UsageType": "HeavyUsage:g6.12xlarge"},
     "gpu_compute", 4, "L4", "gpu.instance_family"),
    ({**AWS, "x_UsageType": "USE1-Train:ml.g5.2xlarge", "x_ServiceCode": "AmazonSageMaker"},
     "gpu_compute", 1, "A10G", "gpu.instance_family"),
    ({**AWS, "x_UsageType": "EUC1-BoxUsage:trn1.32xlarge"}, "gpu_compute", 16, "Trainium",
     "gpu.instance_family"),
    ({**AWS, "x_UsageType": "BoxUsage:inf2.8xlarge"}, "gpu_compute", 1, "Inferentia2",
     "gpu.instance_family"),
    ({**AWS, "x_UsageType": "BoxUsage:g6e.24xlarge"}, "gpu_compute", None, "L40S",
     "gpu.instance_family"),
    ({**AZ, "x_InstanceType": "Standard_ND96isr_H100_v5", "x_SkuMeterCategory":
      "Virtual Machines", "SkuMeter": "ND96isr H100 v5"}, "gpu_compute", 8, "H100",
     "gpu.instance_family"),
    ({**AZ, "x_SkuMeterCategory": "Virtual Machines", "x_SkuMeterSubcategory":
      "NC A100 v4 Series", "SkuMeter": "NC24ads A100 v4"}, "gpu_compute", 1, "A100 80GB",
     "gpu.instance_family"),
    ({**AZ, "x_SkuMeterCategory": "Virtual Machines", "x_SkuMeterSubcategory":
      "NVadsA10 v5 Series", "SkuMeter": "NV36ads A10 v5 Spot"}, "gpu_compute", 1, "A10",
     "gpu.instance_family"),
    ({**GCP, "x_InstanceType": "a3-highgpu-8g",
      "SkuMeter": "Nvidia H100 80GB GPU running in Americas"}, "gpu_compute", 8, "H100",
     "gpu.instance_family"),
    ({**GCP, "SkuMeter": "Spot Preemptible Nvidia Tesla A100 GPU running in Americas"},
     "gpu_compute", None, None, "gcp.gpu.sku"),
    ({**GCP, "SkuMeter": "A3 Instance Core running in Americas"}, "gpu_compute", None, None,
     "gcp.gpu.machine_parts"),
    ({"ProviderName": "Acme Colo", "ChargeCategory": "Usage", "x_Source": "onprem",
      "SkuPriceDetails": '{"GpuCount": 8, "x_GpuModel": "H100-SXM-80GB"}'},
     "gpu_compute", 8, "H100-SXM-80GB", "onprem.gpu.price_details"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "cls", "gpus", "model", "rule"), GPU_CASES)
def test_gpu_compute_by_instance_family_vm_size_or_sku(
    fields: dict, cls: str, gpus: int | None, model: str | None, rule: str
) -> None:
    got = one(**fields)
    assert got["x_AiClass"] == cls
    assert got["x_AiClassRule"] == rule
    assert got["x_GpuPerInstance"] == gpus
    assert got["x_GpuModelName"] == model


@pytest.mark.parametrize(
    "fields",
    [
        {**AWS, "SkuId": "F9GPUA3E29X6GJVE", "x_UsageType": "BoxUsage:m5.large"},
        {**AWS, "SkuId": "GPU-H100-P5", "ResourceId": "i-0gpu123",
         "x_UsageType": "TimedStorage-ByteHrs"},
        {**AZ, "SkuId": "DZH318Z0BQ4L-GPU", "SkuMeter": "GPU Sku Meter Id",
         "x_SkuMeterCategory": "Storage"},
        {**AWS, "x_InstanceType": "m5.large", "ResourceName": "gpu-box-01", "SkuPriceId": "GPU8"},
        {**AZ, "x_SkuMeterCategory": "Virtual Machines", "SkuMeter": "D2 v3/D2s v3",
         "SkuId": "GPU0001", "x_SkuMeterSubcategory": "Dv3/DSv3 Series"},
    ],
)  # fmt: skip
def test_no_id_substring_ever_marks_a_line_as_gpu(fields: dict) -> None:
    got = one(**fields)
    assert got["x_AiClass"] != "gpu_compute", got
    assert got["x_GpuPerInstance"] is None


WORKLOAD_CASES = [
    ({**AWS, "x_UsageType": "BoxUsage:g5.xlarge", "Tags": '{"workload": "training"}'},
     "training", "workload.tag.training"),
    ({**AWS, "x_UsageType": "BoxUsage:p5.48xlarge", "Tags": '{"job-type": "serving"}'},
     "inference", "workload.tag.inference"),
    ({**AWS, "x_UsageType": "BoxUsage:p5.48xlarge", "Tags": '{"user_workload": "notebook"}'},
     "experimentation", "workload.tag.experimentation"),
    ({**AWS, "x_UsageType": "TimedStorage-ByteHrs", "Tags": '{"workload": "ETL"}'},
     "data_prep", "workload.tag.data_prep"),
    ({**AWS, "x_UsageType": "USE1-Train:ml.p4d.24xlarge"}, "training",
     "workload.sagemaker.training"),
    ({**AWS, "x_UsageType": "USE1-Host:ml.g5.xlarge"}, "inference",
     "workload.sagemaker.inference"),
    ({**AWS, "x_UsageType": "USE1-Notebk:ml.t3.medium"}, "experimentation",
     "workload.sagemaker.notebook"),
    ({**AWS, "x_UsageType": "EU-Processing:ml.m5.large"}, "data_prep",
     "workload.sagemaker.processing"),
    ({**GCP, "ServiceName": "Vertex AI", "SkuMeter": "Custom model training A100 GPU"},
     "training", "workload.vertex.training"),
    ({**GCP, "ServiceName": "Vertex AI", "SkuMeter": "Online prediction n1 core"},
     "inference", "workload.vertex.prediction"),
    ({**AWS, "x_ServiceCode": "AmazonBedrock", "x_UsageType": "USE1-Meta-Llama3-70B-input-tokens"},
     "inference", "workload.bedrock"),
    ({**AWS, "x_UsageType": "BoxUsage:p5.48xlarge"}, "training", "workload.family.training"),
    ({**AWS, "x_UsageType": "BoxUsage:g6.xlarge"}, "inference", "workload.family.inference"),
    ({**AWS, "x_UsageType": "BoxUsage:m5.large"}, "unknown", "workload.fallback"),
    # a credit on Bedrock is not inference spend
    ({"ProviderName": "AWS", "ChargeCategory": "Credit", "x_ServiceCode": "AmazonBedrock"},
     "unknown", "workload.fallback"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "workload", "rule"), WORKLOAD_CASES)
def test_workload_tags_first_then_service_then_family(
    fields: dict, workload: str, rule: str
) -> None:
    got = one(**fields)
    assert (got["x_Workload"], got["x_WorkloadRule"]) == (workload, rule)


def test_team_project_environment_from_tags_aliases_and_account_maps() -> None:
    settings = parse_settings(
        {
            "classify": {
                "team_aliases": {"ml-research": "research"},
                "account_teams": {"111111111111": "search", "sub-9": "vision"},
                "account_environments": {"111111111111": "prod"},
            }
        }
    )
    rows = [
        {**AWS, "Tags": '{"team": "ml-research", "project": "llm", "env": "dev"}'},
        {**AWS, "Tags": '{"user_team": "recsys"}', "SubAccountId": "111111111111"},
        {**AWS, "SubAccountId": "111111111111"},
        {**AZ, "SubAccountId": "sub-9", "Tags": "{}"},
        {**AWS, "SubAccountId": "999999999999"},
    ]
    got = run(rows, settings).select("x_Team", "x_TeamRule", "x_Project", "x_Environment")
    assert got.rows() == [
        ("research", "tag:team", "llm", "dev"),
        ("recsys", "tag:user_team", "unallocated", "prod"),
        ("search", "account:111111111111", "unallocated", "prod"),
        ("vision", "account:sub-9", "unallocated", "unallocated"),
        ("unallocated", "unallocated", "unallocated", "unallocated"),
    ]


@pytest.mark.parametrize(
    ("fields", "cls", "family", "tool"),
    [
        ({"ProviderName": "Weaviate", "x_Source": "saas", "ChargeCategory": "Purchase",
          "PublisherName": "Weaviate", "ServiceName": "Weaviate Cloud Standard"},
         "saas_tool", "vector_db", "Weaviate"),
        ({**AWS, "x_Marketplace": True, "PublisherName": "Pinecone Systems, Inc.",
          "ServiceName": "Pinecone Vector Database - Pay As You Go"},
         "saas_tool", "vector_db", "Pinecone"),
        ({**AWS, "x_Marketplace": True, "PublisherName": "Anthropic, PBC",
          "ServiceName": "Claude 3.5 Sonnet (Amazon Bedrock Edition)",
          "x_UsageType": "USE1-MP:USE1_InputTokenCount-Units"},
         "managed_ai", "llm_api", "Anthropic"),
        ({**AZ, "x_SkuMeterCategory": "Azure OpenAI", "ServiceName": "Azure OpenAI",
          "PublisherName": "Microsoft", "SkuMeter": "gpt 4.1 Inp Glbl 1M Tokens"},
         "managed_ai", "llm_api", "Azure OpenAI"),
        ({"ProviderName": "GitHub", "x_Source": "saas", "ChargeCategory": "Purchase",
          "PublisherName": "GitHub", "ServiceName": "GitHub Copilot Business"},
         "saas_tool", "coding_assistant", "GitHub"),
        ({**AWS, "x_UsageType": "BoxUsage:m5.large", "PublisherName": "Amazon Web Services",
          "ServiceName": "Amazon Elastic Compute Cloud"}, "cpu_compute", None, None),
    ],
)  # fmt: skip
def test_tool_family_from_the_catalogue(fields: dict, cls: str, family: str, tool: str) -> None:
    got = one(**fields)
    assert (got["x_AiClass"], got["x_ToolFamily"], got["x_Tool"]) == (cls, family, tool)


def test_every_line_carries_a_rule_id_and_user_rules_win() -> None:
    rows = [
        {**AWS, "x_UsageType": "Mystery-Thing"},
        {**AWS, "x_UsageType": "DataTransfer-Out-Bytes", "ResourceId": "i-0frontend"},
    ]
    got = run(rows)
    assert got["x_AiClassRule"].to_list() == ["fallback.other", "aws.egress.internet"]
    assert got["x_WorkloadRule"].null_count() == 0


def test_classification_scales_with_distinct_keys_not_lines() -> None:
    rows = [{**AWS, "x_UsageType": "BoxUsage:p5.48xlarge", "Tags": '{"team": "research"}'}]
    frame = (
        pl.DataFrame(rows * 50_000)
        .with_row_index("x_LineId")
        .with_columns(pl.col("x_LineId").cast(pl.Int64))
    )
    book = rulebook(Settings())
    out = classify(frame.lazy(), book.ruleset, book.settings, book.catalogue, book.tools).collect()
    assert out.height == 50_000
    assert sorted(out["x_LineId"].to_list()) == list(range(50_000))
    assert set(out["x_AiClass"]) == {"gpu_compute"}


def test_classify_settings_reject_unknown_keys() -> None:
    from models.errors import ConfigError

    with pytest.raises(ConfigError, match='did you mean "team_tags"'):
        parse_classify_settings({"team_tag": ["team"]})


UNUSED = {"ChargeCategory": "Usage", "CommitmentDiscountStatus": "Unused"}


@pytest.mark.parametrize(
    ("fields", "cls", "rule", "model"),
    [
        ({**UNUSED, "ProviderName": "AWS", "x_UsageType": "ComputeSP:1yrNoUpfront",
          "x_InstanceType": "p5.48xlarge", "CommitmentDiscountId": "arn:sp"},
         "gpu_compute", "commitment.unused_gpu", "H100"),
        ({**UNUSED, "ProviderName": "AWS", "x_UsageType": "HeavyUsage:g6.12xlarge",
          "x_InstanceType": "g6.12xlarge", "CommitmentDiscountId": "arn:ri"},
         "gpu_compute", "commitment.unused_gpu", "L4"),
        ({**UNUSED, "ProviderName": "Microsoft", "x_SkuMeterCategory": "",
          "x_InstanceType": "Standard_ND96isr_H100_v5", "ServiceSubcategory": "Virtual Machines",
          "CommitmentDiscountId": "/providers/Microsoft.Capacity/reservationOrders/o/r/1"},
         "gpu_compute", "commitment.unused_gpu", "H100"),
        # an unused CPU reservation stays CPU compute
        ({**UNUSED, "ProviderName": "AWS", "x_UsageType": "HeavyUsage:m5.large",
          "x_InstanceType": "m5.large", "CommitmentDiscountId": "arn:ri-cpu"},
         "cpu_compute", "aws.cpu.instance_hours", None),
    ],
)  # fmt: skip
def test_unused_gpu_commitments_are_gpu_compute(
    fields: dict, cls: str, rule: str, model: str | None
) -> None:
    got = one(**fields)
    assert (got["x_AiClass"], got["x_AiClassRule"], got["x_GpuModelName"]) == (cls, rule, model)


def test_an_unused_commitment_runs_no_workload() -> None:
    got = one(**UNUSED, ProviderName="Microsoft", x_InstanceType="Standard_ND96isr_H100_v5",
              CommitmentDiscountId="/providers/Microsoft.Capacity/reservationOrders/o/r/1",
              Tags='{"team": "research", "workload": "training"}')  # fmt: skip
    assert (got["x_AiClass"], got["x_Workload"], got["x_WorkloadRule"]) == (
        "gpu_compute", "unknown", "workload.commitment.unused",
    )  # fmt: skip
