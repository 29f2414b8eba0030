"""The data flows planted in the sample enterprise, and the interconnect verdicts they make.

Two paths between sites, so that a 10 Gbps dedicated link pays off on one and not the other:
- AWS us-east-1 -> the colo site: the platform team syncs checkpoints every day to the owned
  H100s, about 47 TB a month billed as internet egress at 0.07 USD/GB (~3,250 USD a month)
  against a 10 Gbps Direct Connect at 1,642.50 USD of port-hours + 0.02 USD/GB (break-even
  near 33 TB a month).
- AWS us-east-1 -> Google Cloud us-central1: the one-off copy of a training dataset (the
  egress spike event), ~180 TB in one month; over the year it averages far below the two
  ports (AWS and Google) a cross-cloud link needs.
Billing alone says "internet" for both: the address map (finops.toml `[flows.addresses]`,
written into the demo's settings) names where each resource's traffic lands.
"""

from __future__ import annotations

from ingest.sample.company import ONPREM_SITE

COLO_SYNC_RESOURCE = "i-0colo-checkpoint-sync"
DATASET_COPY_RESOURCE = "acme-vision-datasets"  # the egress spike's bucket (aws_services.SPIKE)
AWS_REGION = "AWS us-east-1"
GCP_REGION = "Google Cloud us-central1"

# resource -> where its traffic goes: the configured address map of the sample
ADDRESSES = {COLO_SYNC_RESOURCE: ONPREM_SITE, DATASET_COPY_RESOURCE: GCP_REGION}

# team -> GB of datasets that would move with its workloads: vision's training set, the
# size of the copy above (placement's one-off moving cost; finops.toml [flows.datasets])
DATASETS = {"vision": 166_000}

COLO_SYNC_GB_PER_DAY = (1_400, 1_700)  # uniform whole GB a day
LINK_GBPS = 10
# The verdict each path must get at LINK_GBPS (with no cross-connect or one-off fees).
VERDICTS = {(AWS_REGION, ONPREM_SITE): True, (AWS_REGION, GCP_REGION): False}


def flows_seed(seed: int, month: str) -> list[int]:
    """The planted flows' own random stream: nothing else the generator writes moves."""
    y, mo = (int(x) for x in month.split("-"))
    return [seed, 25, y * 12 + mo]
